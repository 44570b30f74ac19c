//! Probability-flow ODE samplers on the Karras σ grid: Euler, Heun and DPM-Solver++(2M), and
//! the [`Solver`] that runs any plan step, with the memory and the second model call these need.
//!
//! **Parameterisation.** A discrete-time ε-model is a denoiser in the variance-exploding (VE)
//! scale of Karras et al. 2022 ("Elucidating the design space of diffusion-based generative
//! models", EDM) §2/App. C: with x_VE = x_t/√ᾱ_t and σ_t = √((1 − ᾱ_t)/ᾱ_t), x_VE = x₀ + σ_t·ε,
//! D(x_VE; σ_t) = x̂₀ = (x_t − √(1 − ᾱ_t)·ε̂)/√ᾱ_t, and the probability-flow ODE is
//! dx_VE/dσ = (x_VE − D)/σ = ε̂ (EDM eq. 3 with s(t) = 1, σ(t) = t).
//!
//! **Grid.** EDM eq. 5 (k-diffusion `get_sigmas_karras`): σ_i = (σ_max^{1/ρ} + i/(n−1)·
//! (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i = 0..n−1, ρ = 7, then σ_n = 0, with σ_max = σ_T and
//! σ_min = σ_1 of the trained schedule (diffusers takes the same two ends of its training σ).
//!
//! **Timesteps.** The model only knows integer t, so each σ_i is mapped to the trained t whose σ_t
//! is nearest in log σ ([`timestep_for_sigma`]), as k-diffusion's `DiscreteSchedule` does with
//! `quantize=True` and as diffusers' `DPMSolverMultistepScheduler` does when it rounds its
//! interpolated t. Unlike those two, the solver then uses σ_t of the chosen t itself rather than
//! the unrounded σ_i, so the ε̂ asked at t and the coefficients of the jump describe the same
//! noise level and x̂₀ above is exact. Repeated t (possible at many steps near σ_min) are merged,
//! so a plan has at most n steps. The last jump goes to t = 0 (σ = 0, x = x̂₀).
//!
//! **Scale.** Every step is written in the variance-preserving scale x_t = √ᾱ_t·x_VE, so chains
//! record x_t and x̂₀ exactly like DDPM and DDIM chains. With a_t = √ᾱ_t, s_t = √(1 − ᾱ_t):
//! - Euler (EDM Alg. 2 without churn; k-diffusion `sample_euler`): x'_VE = x_VE + (σ' − σ)·ε̂,
//!   i.e. x_{t'} = a'·x̂₀ + s'·ε̂, which is DDIM with η = 0 (EDM App. B.1), so it is planned as an
//!   [`Update::Ddim`] step.
//! - Heun (EDM Alg. 1 without churn; k-diffusion `sample_heun`): the Euler predictor x̃ at t',
//!   a second ε̂' = ε̂(x̃, t'), then x'_VE = x_VE + (σ' − σ)·(ε̂ + ε̂')/2, i.e.
//!   x_{t'} = (a'/a)·x_t + a'(σ' − σ)/2·(ε̂ + ε̂') ([`Update::Heun`]); the last jump to σ = 0 is a
//!   plain Euler step, as in EDM.
//! - DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Alg. 2; diffusers
//!   `DPMSolverMultistepScheduler`, `algorithm_type="dpmsolver++"`, `solver_order=2`,
//!   `solver_type="midpoint"`): with λ = log(a/s) = −log σ, h = λ' − λ, r = h_prev/h,
//!   x_{t'} = (s'/s)·x_t + a'(1 − e^{−h})·((1 + 1/(2r))·x̂₀ − 1/(2r)·x̂₀_prev)
//!   ([`Update::Multistep`]). The first step is first order (no x̂₀_prev yet) and so is the last
//!   jump to σ = 0 (h = ∞), as diffusers does with `final_sigmas_type="zero"` and k-diffusion's
//!   `sample_dpmpp_2m`. First order is the same DDIM/Euler step: a'(1 − e^{−h}) = a' − a·s'/s.

use super::sampler::{SamplerError, Step, StepOutput, Update};
use super::{Real, ScheduleTable};
use serde::{Deserialize, Serialize};

/// EDM's ρ, the grid's curvature (ρ = 7 in EDM and in diffusers and k-diffusion).
pub const KARRAS_RHO: f64 = 7.0;

/// Which ODE solver walks the Karras grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KarrasSolver {
    /// First order: one model call per step (DDIM η = 0 on the Karras timesteps).
    Euler,
    /// Second order: two model calls per step but the last.
    Heun,
    /// DPM-Solver++(2M): second-order multistep, one model call per step.
    DpmPp2m,
}

/// The Karras grid σ_0 > … > σ_{n−1} from `sigma_max` to `sigma_min` (EDM eq. 5), without the
/// final 0. With n = 1 it is [σ_max], as k-diffusion's `linspace(0, 1, 1)` gives.
pub fn karras_sigmas(sigma_min: f64, sigma_max: f64, n: usize, rho: f64) -> Vec<f64> {
    let (lo, hi) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    (0..n)
        .map(|i| {
            let ramp = if n == 1 {
                0.0
            } else {
                i as f64 / (n - 1) as f64
            };
            (hi + ramp * (lo - hi)).powf(rho)
        })
        .collect()
}

/// ln σ_t = −½·ln SNR_t for t = 1..=T (index t − 1); +∞ where ᾱ_t = 0.
fn log_sigmas(table: &ScheduleTable) -> Vec<f64> {
    table.log_snr.iter().map(|l| -0.5 * l).collect()
}

/// The trained timestep t ∈ 1..=T whose σ_t = √((1 − ᾱ_t)/ᾱ_t) is nearest to σ in log σ (the
/// smaller t on a tie).
pub fn timestep_for_sigma(table: &ScheduleTable, sigma: f64) -> usize {
    nearest(&log_sigmas(table), sigma.max(1e-300).ln())
}

/// The index + 1 of the entry of the non-decreasing `log_sigma` nearest to `target`.
fn nearest(log_sigma: &[f64], target: f64) -> usize {
    let j = log_sigma.partition_point(|&l| l < target);
    if j == 0 {
        return 1;
    }
    if j == log_sigma.len() {
        return j;
    }
    if target - log_sigma[j - 1] <= log_sigma[j] - target {
        j
    } else {
        j + 1
    }
}

/// The largest finite σ_t of the schedule, at t ≤ `t_max` (σ_T is infinite with zero terminal
/// SNR; the grid then starts at the last t where the model's x̂₀ exists).
fn sigma_max_up_to(table: &ScheduleTable, t_max: usize) -> Option<(usize, f64)> {
    (1..=t_max)
        .rev()
        .map(|t| (t, (-0.5 * table.log_snr[t - 1]).exp()))
        .find(|(_, s)| s.is_finite())
}

/// The descending timesteps the Karras grid of `steps` points from σ_{t_max} to σ_1 visits
/// (snapped to the nearest trained t in log σ, repeats merged), without the final 0.
pub fn karras_timesteps(
    table: &ScheduleTable,
    steps: usize,
    t_max: usize,
) -> Result<Vec<usize>, SamplerError> {
    let big_t = table.steps();
    if steps == 0 || steps > big_t {
        return Err(SamplerError::StepsOutOfRange {
            steps,
            train_steps: big_t,
        });
    }
    let logs = log_sigmas(table);
    let sigma_min = logs[0].exp();
    let Some((top, sigma_max)) = sigma_max_up_to(table, t_max.clamp(1, big_t)) else {
        return Ok(vec![1]);
    };
    let mut ts: Vec<usize> = karras_sigmas(sigma_min, sigma_max, steps, KARRAS_RHO)
        .into_iter()
        .map(|s| nearest(&logs[..top], s.ln()))
        .collect();
    // The ends are exact: σ_max is σ_top itself and σ_min is σ_1 (guard against powf rounding).
    ts[0] = top;
    if let (true, Some(last)) = (steps > 1, ts.last_mut()) {
        *last = 1;
    }
    ts.dedup();
    Ok(ts)
}

/// The plan's steps for `solver` over the descending timesteps `ts` (the last jump goes to 0).
pub(super) fn karras_steps(table: &ScheduleTable, solver: KarrasSolver, ts: &[usize]) -> Vec<Step> {
    let last = ts.len() - 1;
    (0..ts.len())
        .map(|i| {
            let (t, t_prev) = (ts[i], if i == last { 0 } else { ts[i + 1] });
            let (ap, sp) = (
                table.alpha_bar_at(t_prev).sqrt(),
                table.one_minus_alpha_bar_at(t_prev).sqrt(),
            );
            // Euler/DDIM η = 0: x' = a'·x̂₀ + s'·ε̂.
            let euler = Update::Ddim {
                coef_x0: ap,
                coef_eps: sp,
            };
            let update = match solver {
                _ if t_prev == 0 => euler,
                KarrasSolver::Euler => euler,
                KarrasSolver::Heun => {
                    let (sigma, sigma_prev) = (sigma_at(table, t), sigma_at(table, t_prev));
                    Update::Heun {
                        coef_x0: ap,
                        coef_eps: sp,
                        coef_xt: ap / table.sqrt_alpha_bar[t - 1],
                        coef_slope: 0.5 * ap * (sigma_prev - sigma),
                    }
                }
                KarrasSolver::DpmPp2m if i == 0 => euler,
                KarrasSolver::DpmPp2m => {
                    let lambda = |t: usize| 0.5 * table.log_snr[t - 1];
                    let h = lambda(t_prev) - lambda(t);
                    let r = (lambda(t) - lambda(ts[i - 1])) / h;
                    let s = table.sqrt_one_minus_alpha_bar[t - 1];
                    // a'·(1 − e^{−h}), the first-order weight of x̂₀.
                    let w = -ap * (-h).exp_m1();
                    Update::Multistep {
                        coef_xt: sp / s,
                        coef_x0: w * (1.0 + 0.5 / r),
                        coef_prev: -w * 0.5 / r,
                        prev_t: ts[i - 1],
                    }
                }
            };
            Step {
                t,
                t_prev,
                sqrt_alpha_bar: table.sqrt_alpha_bar[t - 1],
                sqrt_one_minus_alpha_bar: table.sqrt_one_minus_alpha_bar[t - 1],
                alpha_bar_prev: table.alpha_bar_at(t_prev),
                sigma: 0.0,
                learned: None,
                update,
            }
        })
        .collect()
}

/// σ_t = √((1 − ᾱ_t)/ᾱ_t), 0 at t = 0.
fn sigma_at(table: &ScheduleTable, t: usize) -> f64 {
    if t == 0 {
        0.0
    } else {
        (-0.5 * table.log_snr[t - 1]).exp()
    }
}

/// A model asked for ε̂: `predict(t, x, eps_out)` on a flattened batch.
pub type Predict<'a, S> = dyn FnMut(usize, &[S], &mut [S]) + 'a;

/// Runs plan steps one after another: applies each with the model's ε̂, asks the model a second
/// time where a step needs it (Heun) and remembers the x̂₀ a multistep update reuses.
///
/// After [`Solver::step`], `x0`, `eps` and `noise` hold what [`Step::apply`]'s [`StepOutput`]
/// would (x̂₀ and ε̂ of the step's first model call).
#[derive(Clone, Debug)]
pub struct Solver<S> {
    clip: bool,
    /// x̂₀ as used by the last step (after the optional clip).
    pub x0: Vec<S>,
    /// ε̂ as used by the last step.
    pub eps: Vec<S>,
    /// The noise σ·z the last step added.
    pub noise: Vec<S>,
    /// The timestep of `last_x0` (None before the first step).
    last_t: Option<usize>,
    last_x0: Vec<S>,
    x_pred: Vec<S>,
    eps2: Vec<S>,
}

impl<S: Real> Solver<S> {
    /// A solver for batches of `len` values, clipping x̂₀ to [−1, 1] when `clip`.
    pub fn new(len: usize, clip: bool) -> Self {
        let zeros = vec![S::from_f64(0.0); len];
        Self {
            clip,
            x0: zeros.clone(),
            eps: zeros.clone(),
            noise: zeros.clone(),
            last_t: None,
            last_x0: zeros.clone(),
            x_pred: zeros.clone(),
            eps2: zeros,
        }
    }

    /// Applies `step` to x_t given the model's ε̂ at (step.t, x_t) and fresh z, writing x_{t'}
    /// into `x_next`. `predict(t, x, eps_out)` is called only for a Heun step's second ε̂.
    ///
    /// A multistep step whose previous x̂₀ is not in memory (a chain resumed mid-plan) falls
    /// back to first order, which is what its formula gives with x̂₀_prev = x̂₀.
    pub fn step(
        &mut self,
        step: &Step,
        xt: &[S],
        eps_model: &[S],
        z: &[S],
        predict: &mut Predict<'_, S>,
        x_next: &mut [S],
    ) {
        self.step_var(step, xt, eps_model, None, z, predict, x_next);
    }

    /// As [`Self::step`], with a learned-Σ model's variance output o for the step's σ (see
    /// [`Step::apply_var`]).
    #[allow(clippy::too_many_arguments)]
    pub fn step_var(
        &mut self,
        step: &Step,
        xt: &[S],
        eps_model: &[S],
        var: Option<&[S]>,
        z: &[S],
        predict: &mut Predict<'_, S>,
        x_next: &mut [S],
    ) {
        let out = StepOutput {
            x0: &mut self.x0,
            eps: &mut self.eps,
            noise: &mut self.noise,
        };
        match step.update {
            Update::Posterior { .. } | Update::Ddim { .. } => {
                step.apply_var(xt, eps_model, var, z, self.clip, x_next, out);
            }
            Update::Multistep {
                coef_xt,
                coef_x0,
                coef_prev,
                prev_t,
            } => {
                step.apply(xt, eps_model, z, self.clip, x_next, out);
                let prev = if self.last_t == Some(prev_t) {
                    &self.last_x0
                } else {
                    &self.x0
                };
                for i in 0..xt.len() {
                    let v = coef_xt * xt[i].to_f64()
                        + coef_x0 * self.x0[i].to_f64()
                        + coef_prev * prev[i].to_f64();
                    x_next[i] = S::from_f64(v);
                }
            }
            Update::Heun {
                coef_x0,
                coef_eps,
                coef_xt,
                coef_slope,
            } => {
                // The Euler predictor x̃ at t', then ε̂' = ε̂(x̃, t').
                step.apply(xt, eps_model, z, self.clip, &mut self.x_pred, out);
                predict(step.t_prev, &self.x_pred, &mut self.eps2);
                for i in 0..xt.len() {
                    let x = self.x_pred[i].to_f64();
                    let (_, e2) = denoise(x, self.eps2[i].to_f64(), coef_x0, coef_eps, self.clip);
                    let v = coef_xt * xt[i].to_f64() + coef_slope * (self.eps[i].to_f64() + e2);
                    x_next[i] = S::from_f64(v);
                }
            }
        }
        self.last_t = Some(step.t);
        self.last_x0.copy_from_slice(&self.x0);
    }
}

/// x̂₀ = (x − s·ε̂)/a, clipped to [−1, 1] when `clip`, with ε̂ recomputed from the clipped x̂₀
/// (the same rule as [`Step::apply`]).
pub(super) fn denoise(x: f64, eps: f64, a: f64, s: f64, clip: bool) -> (f64, f64) {
    let mut e = eps;
    let mut x0 = (x - s * e) / a;
    if clip && !(-1.0..=1.0).contains(&x0) {
        x0 = x0.clamp(-1.0, 1.0);
        if s > 0.0 {
            e = (x - a * x0) / s;
        }
    }
    (x0, e)
}
