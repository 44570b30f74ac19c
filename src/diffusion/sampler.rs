//! Reverse-process samplers as per-step coefficients applied to slices.
//!
//! A [`SamplerPlan`] is the list of jumps t → t' that a sampler visits, each with the
//! coefficients of its update. Every sampler first forms x̂₀ from the model's ε̂
//! (optionally clipped to [−1, 1]) and then applies one of two update rules:
//! - posterior form (DDPM, improved-DDPM strided): x' = c₀·x̂₀ + c_t·x_t + σ·z [eq. 3, 6, 8];
//! - DDIM form: x' = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'} − σ²)·ε̂ + σ·z [eq. 7].
//!
//! The probability-flow ODE samplers on the Karras σ grid (Euler, Heun, DPM-Solver++(2M); see
//! [`super::sampler_ode`]) add two rules that need more than one ε̂: a multistep update that also
//! reuses the previous step's x̂₀, and Heun's update that asks the model a second time. A
//! [`Solver`] runs any step with what it needs; [`Step::apply`] alone is the memoryless,
//! one-call form.
//!
//! No noise is added on the last step (t' = 0).

use super::learned::LogVarRange;
use super::sampler_ode::{KarrasSolver, Solver};
use super::{Posterior, Real, ScheduleTable};
use serde::{Deserialize, Serialize};

/// The variance of a DDPM step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DdpmVariance {
    /// σ² = β_t (Ho et al.'s upper bound; seed 003's code).
    Beta,
    /// σ² = β̃_t (the posterior variance; seeds 002, 004).
    BetaTilde,
    /// σ² = Σ_θ = exp(v·log β_t + (1 − v)·log β̃_t) from the network's v (improved DDPM; a
    /// model trained with a learned-Σ loss). For a jump, β′ and β̃′ of the jump.
    Learned,
}

impl DdpmVariance {
    /// A short label: "β", "β̃" or "learned Σ".
    pub fn label(self) -> &'static str {
        match self {
            DdpmVariance::Beta => "β",
            DdpmVariance::BetaTilde => "β̃",
            DdpmVariance::Learned => "learned Σ",
        }
    }
}

/// How improved DDPM's strided sampler rounds its K timesteps out of T (they differ by one step
/// at about half the positions for T = 4000, K = 100).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrideRule {
    /// Seed 004 Method 5.1: t_k = 1 + ⌊(k−1)(T−1)/(K−1)⌋.
    #[default]
    Floor,
    /// improved-diffusion's `space_timesteps`: t_k = 1 + round(Σ (T−1)/(K−1)), the stride
    /// accumulated in floating point and rounded half to even (Python's `round`).
    Round,
}

impl StrideRule {
    /// Both rules, in menu order.
    pub const ALL: [StrideRule; 2] = [StrideRule::Floor, StrideRule::Round];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            StrideRule::Floor => "floor",
            StrideRule::Round => "round",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Where the rule comes from, for labels and tooltips.
    pub fn source(self) -> &'static str {
        match self {
            StrideRule::Floor => "seed 004's floor",
            StrideRule::Round => "improved-diffusion's round",
        }
    }
}

/// How DDIM picks its S timesteps out of T (diffusers' `timestep_spacing`, 1-indexed here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Spacing {
    /// round(linspace(0, T−1, S)) + 1, so both ends, T and 1, are visited.
    Linspace,
    /// k·⌊T/S⌋ + 1 for k = 0..S−1 (starts at 1, may stop short of T).
    Leading,
    /// round(T − k·T/S) for k = 0..S−1 (starts at T, may stop short of 1).
    Trailing,
}

impl Spacing {
    /// Every spacing, in menu order.
    pub const ALL: [Spacing; 3] = [Spacing::Linspace, Spacing::Leading, Spacing::Trailing];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Spacing::Linspace => "linspace",
            Spacing::Leading => "leading",
            Spacing::Trailing => "trailing",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Why a sampler cannot be planned.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SamplerError {
    /// S outside 1..=T.
    #[error("--steps must be between 1 and the training steps T = {train_steps}, got {steps}")]
    StepsOutOfRange {
        /// The requested number of sampling steps.
        steps: usize,
        /// T.
        train_steps: usize,
    },
    /// η negative or not finite.
    #[error("--eta must be finite and ≥ 0, got {0}")]
    BadEta(f64),
}

fn check_steps(steps: usize, train_steps: usize) -> Result<(), SamplerError> {
    if steps == 0 || steps > train_steps {
        Err(SamplerError::StepsOutOfRange { steps, train_steps })
    } else {
        Ok(())
    }
}

/// The S timesteps DDIM visits, 1-indexed and in descending order.
pub fn ddim_timesteps(
    train_steps: usize,
    steps: usize,
    spacing: Spacing,
) -> Result<Vec<usize>, SamplerError> {
    check_steps(steps, train_steps)?;
    let (tt, s) = (train_steps as f64, steps as f64);
    let mut ts: Vec<usize> = match spacing {
        Spacing::Linspace => (0..steps)
            .map(|k| {
                let x = if steps == 1 {
                    0.0
                } else {
                    (tt - 1.0) * k as f64 / (s - 1.0)
                };
                x.round_ties_even() as usize + 1
            })
            .collect(),
        Spacing::Leading => {
            let ratio = train_steps / steps;
            (0..steps).map(|k| k * ratio + 1).collect()
        }
        Spacing::Trailing => {
            let ratio = tt / s;
            (0..steps)
                .map(|k| (tt - k as f64 * ratio).round_ties_even() as usize)
                .collect()
        }
    };
    ts.sort_unstable_by(|a, b| b.cmp(a));
    ts.dedup();
    Ok(ts)
}

/// Improved-DDPM strided timesteps t_k = 1 + ⌊(k−1)(T−1)/(K−1)⌋ for k = 1..K, ascending,
/// with t₀ = 0 first (seed 004 Method 5.1). K = 1 jumps straight from T.
pub fn iddpm_timesteps(train_steps: usize, steps: usize) -> Result<Vec<usize>, SamplerError> {
    check_steps(steps, train_steps)?;
    let mut ts = vec![0];
    if steps == 1 {
        ts.push(train_steps);
    } else {
        ts.extend((1..=steps).map(|k| 1 + (k - 1) * (train_steps - 1) / (steps - 1)));
    }
    Ok(ts)
}

/// Strided timesteps under `rule`, ascending with t₀ = 0 first ([`iddpm_timesteps`] is the
/// floor rule).
pub fn strided_timesteps(
    train_steps: usize,
    steps: usize,
    rule: StrideRule,
) -> Result<Vec<usize>, SamplerError> {
    if rule == StrideRule::Floor || steps == 1 {
        return iddpm_timesteps(train_steps, steps);
    }
    check_steps(steps, train_steps)?;
    let stride = (train_steps - 1) as f64 / (steps - 1) as f64;
    let mut ts = vec![0];
    let mut cur = 0.0f64;
    for _ in 0..steps {
        ts.push(1 + cur.round_ties_even() as usize);
        cur += stride;
    }
    Ok(ts)
}

/// The update rule of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Update {
    /// x' = c₀·x̂₀ + c_t·x_t + σ·z.
    Posterior {
        /// c₀.
        coef_x0: f64,
        /// c_t.
        coef_xt: f64,
    },
    /// x' = √ᾱ_{t'}·x̂₀ + dir·ε̂ + σ·z, with dir = √(1 − ᾱ_{t'} − σ²).
    Ddim {
        /// √ᾱ_{t'}.
        coef_x0: f64,
        /// √(1 − ᾱ_{t'} − σ²).
        coef_eps: f64,
    },
    /// DPM-Solver++(2M): x' = c_t·x_t + c₀·x̂₀ + c₋·x̂₀_prev, where x̂₀_prev is the x̂₀ of the
    /// step at `prev_t` (see [`super::sampler_ode`]). Without it (memoryless [`Step::apply`], or
    /// a chain resumed mid-plan) x̂₀_prev = x̂₀, which is the first-order (DDIM η = 0) step.
    Multistep {
        /// c_t = √(1 − ᾱ_{t'})/√(1 − ᾱ_t).
        coef_xt: f64,
        /// c₀ = √ᾱ_{t'}·(1 − e^{−h})·(1 + 1/(2r)).
        coef_x0: f64,
        /// c₋ = −√ᾱ_{t'}·(1 − e^{−h})/(2r).
        coef_prev: f64,
        /// The timestep whose x̂₀ the update extrapolates from.
        prev_t: usize,
    },
    /// Heun on the probability-flow ODE: the Euler predictor x̃ = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'})·ε̂,
    /// a second ε̂' = ε̂(x̃, t'), then x' = c_t·x_t + c_s·(ε̂ + ε̂'). [`Step::apply`] alone stops
    /// at the predictor (one Euler step).
    Heun {
        /// √ᾱ_{t'} (the predictor's weight of x̂₀, and the signal rate at t').
        coef_x0: f64,
        /// √(1 − ᾱ_{t'}) (the predictor's weight of ε̂, and the noise rate at t').
        coef_eps: f64,
        /// c_t = √ᾱ_{t'}/√ᾱ_t.
        coef_xt: f64,
        /// c_s = √ᾱ_{t'}·(σ_{t'} − σ_t)/2, with σ = √((1 − ᾱ)/ᾱ).
        coef_slope: f64,
    },
}

/// One jump t → t' of a sampler, with every number needed to apply and explain it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The current timestep t.
    pub t: usize,
    /// The next timestep t' < t (0 on the last step).
    pub t_prev: usize,
    /// √ᾱ_t.
    pub sqrt_alpha_bar: f64,
    /// √(1 − ᾱ_t).
    pub sqrt_one_minus_alpha_bar: f64,
    /// ᾱ_{t'}.
    pub alpha_bar_prev: f64,
    /// σ, the standard deviation of the fresh noise (0 on the last step and for DDIM η = 0).
    /// With a learned Σ this is the σ of v = 0 (β̃); the model's v replaces it per value.
    pub sigma: f64,
    /// A learned-Σ step's log-variance range (None for a fixed variance and on the last step).
    pub learned: Option<LogVarRange>,
    /// The update rule.
    pub update: Update,
}

/// What one step produced besides x_{t'}.
pub struct StepOutput<'a, S> {
    /// x̂₀ as used by the update (after the optional clip).
    pub x0: &'a mut [S],
    /// ε̂ as used by the update (recomputed from the clipped x̂₀ when clipping).
    pub eps: &'a mut [S],
    /// The noise σ·z added at this step.
    pub noise: &'a mut [S],
}

impl Step {
    /// Applies the step: from x_t, the model's ε̂ and fresh z, writes x_{t'} into `x_next`,
    /// and x̂₀, the ε̂ used and σ·z into `extra`. This is the memoryless one-call form: a
    /// multistep step is taken to first order and a Heun step stops at its Euler predictor
    /// (use a [`Solver`] for the full updates).
    pub fn apply<S: Real>(
        &self,
        xt: &[S],
        eps_model: &[S],
        z: &[S],
        clip: bool,
        x_next: &mut [S],
        extra: StepOutput<'_, S>,
    ) {
        self.apply_var(xt, eps_model, None, z, clip, x_next, extra);
    }

    /// As [`Self::apply`], with the model's variance output o (v = (o + 1)/2) for a learned-Σ
    /// step: σ = exp(½·log Σ_θ) per value. Without it a learned step uses β̃.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_var<S: Real>(
        &self,
        xt: &[S],
        eps_model: &[S],
        var: Option<&[S]>,
        z: &[S],
        clip: bool,
        x_next: &mut [S],
        extra: StepOutput<'_, S>,
    ) {
        let n = xt.len();
        let learned = self.learned.zip(var.filter(|v| v.len() == n));
        assert!(
            eps_model.len() == n && z.len() == n && x_next.len() == n,
            "slice lengths differ"
        );
        for i in 0..n {
            let x = xt[i].to_f64();
            let mut e = eps_model[i].to_f64();
            let mut x0 = (x - self.sqrt_one_minus_alpha_bar * e) / self.sqrt_alpha_bar;
            if clip && !(-1.0..=1.0).contains(&x0) {
                x0 = x0.clamp(-1.0, 1.0);
                if self.sqrt_one_minus_alpha_bar > 0.0 {
                    e = (x - self.sqrt_alpha_bar * x0) / self.sqrt_one_minus_alpha_bar;
                }
            }
            let sigma = match learned {
                Some((r, v)) => (0.5 * r.log_variance(v[i].to_f64())).exp(),
                None => self.sigma,
            };
            let noise = sigma * z[i].to_f64();
            let mean = match self.update {
                Update::Posterior { coef_x0, coef_xt } => coef_x0 * x0 + coef_xt * x,
                Update::Ddim { coef_x0, coef_eps }
                | Update::Heun {
                    coef_x0, coef_eps, ..
                } => coef_x0 * x0 + coef_eps * e,
                Update::Multistep {
                    coef_xt,
                    coef_x0,
                    coef_prev,
                    ..
                } => coef_xt * x + (coef_x0 + coef_prev) * x0,
            };
            x_next[i] = S::from_f64(mean + noise);
            extra.x0[i] = S::from_f64(x0);
            extra.eps[i] = S::from_f64(e);
            extra.noise[i] = S::from_f64(noise);
        }
    }

    /// Applies the step in place on `x`, discarding the extra outputs.
    pub fn apply_in_place<S: Real>(&self, x: &mut Vec<S>, eps_model: &[S], z: &[S], clip: bool) {
        let n = x.len();
        let mut next = vec![S::from_f64(0.0); n];
        let (mut a, mut b, mut c) = (next.clone(), next.clone(), next.clone());
        self.apply(
            x,
            eps_model,
            z,
            clip,
            &mut next,
            StepOutput {
                x0: &mut a,
                eps: &mut b,
                noise: &mut c,
            },
        );
        *x = next;
    }

    /// Whether this step adds noise (so needs a z).
    pub fn is_stochastic(&self) -> bool {
        self.sigma > 0.0
    }

    /// How many times the step asks the model for ε̂: 2 for a Heun step, else 1.
    pub fn model_calls(&self) -> usize {
        if matches!(self.update, Update::Heun { .. }) {
            2
        } else {
            1
        }
    }
}

/// Which sampler to plan.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SamplerKind {
    /// Ancestral DDPM over all T steps.
    Ddpm {
        /// σ² = β or β̃.
        variance: DdpmVariance,
    },
    /// DDIM over S steps with stochasticity η.
    Ddim {
        /// S.
        steps: usize,
        /// η ≥ 0 (0: deterministic; 1: DDPM-like).
        eta: f64,
        /// How the S timesteps are picked.
        spacing: Spacing,
    },
    /// Improved-DDPM strided respacing over K steps.
    Iddpm {
        /// K.
        steps: usize,
        /// σ² = β', β̃' or the learned Σ of the respaced chain.
        variance: DdpmVariance,
        /// How the K timesteps are rounded.
        #[serde(default)]
        rule: StrideRule,
    },
    /// A probability-flow ODE solver over `steps` points of the Karras σ grid (ρ = 7, from σ_T
    /// to σ_1, then 0), snapped to trained timesteps (see [`super::sampler_ode`]).
    Karras {
        /// Euler, Heun or DPM-Solver++(2M).
        solver: KarrasSolver,
        /// n, the number of grid points (steps; Heun asks the model 2n − 1 times).
        steps: usize,
    },
}

/// The full list of steps of a sampler on a schedule, from t = T (or the first visited t) to 0.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerPlan {
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
}

impl SamplerPlan {
    /// Plans `kind` on `table`.
    pub fn new(table: &ScheduleTable, kind: SamplerKind) -> Result<Self, SamplerError> {
        let big_t = table.steps();
        let steps = match kind {
            SamplerKind::Ddpm { variance } => (1..=big_t)
                .rev()
                .map(|t| posterior_step(table, t, t - 1, variance))
                .collect(),
            SamplerKind::Iddpm {
                steps,
                variance,
                rule,
            } => {
                let ts = strided_timesteps(big_t, steps, rule)?;
                ts.windows(2)
                    .rev()
                    .map(|w| posterior_step(table, w[1], w[0], variance))
                    .collect()
            }
            SamplerKind::Ddim {
                steps,
                eta,
                spacing,
            } => {
                if !(eta.is_finite() && eta >= 0.0) {
                    return Err(SamplerError::BadEta(eta));
                }
                let ts = ddim_timesteps(big_t, steps, spacing)?;
                (0..ts.len())
                    .map(|i| {
                        let t_prev = ts.get(i + 1).copied().unwrap_or(0);
                        ddim_step(table, ts[i], t_prev, eta)
                    })
                    .collect()
            }
            SamplerKind::Karras { solver, steps } => {
                let ts = super::sampler_ode::karras_timesteps(table, steps, big_t)?;
                super::sampler_ode::karras_steps(table, solver, &ts)
            }
        };
        Ok(Self { steps })
    }

    /// Plans `kind` to start from x_{t0} instead of x_T (noise-then-denoise, SDEdit-style).
    ///
    /// The sampler is planned on the sub-chain 1..=t0 of `table`: DDPM visits every t ≤ t0,
    /// DDIM, strided iDDPM and the Karras samplers keep their step density, visiting ⌈S·t0/T⌉
    /// timesteps of 1..=t0 (at least one; the Karras grid runs from σ_{t0} to σ_1), so the first
    /// step always starts exactly at t0.
    pub fn starting_at(
        table: &ScheduleTable,
        kind: SamplerKind,
        t0: usize,
    ) -> Result<Self, SamplerError> {
        let big_t = table.steps();
        check_steps(t0, big_t)?;
        let scaled = |s: usize| (s * t0).div_ceil(big_t).clamp(1, t0);
        let steps = match kind {
            SamplerKind::Ddpm { variance } => (1..=t0)
                .rev()
                .map(|t| posterior_step(table, t, t - 1, variance))
                .collect(),
            SamplerKind::Iddpm {
                steps,
                variance,
                rule,
            } => {
                check_steps(steps, big_t)?;
                let ts = strided_timesteps(t0, scaled(steps), rule)?;
                ts.windows(2)
                    .rev()
                    .map(|w| posterior_step(table, w[1], w[0], variance))
                    .collect()
            }
            SamplerKind::Ddim { steps, eta, .. } => {
                if !(eta.is_finite() && eta >= 0.0) {
                    return Err(SamplerError::BadEta(eta));
                }
                check_steps(steps, big_t)?;
                // Linspace on 1..=t0 always visits t0 itself; other spacings may not.
                // With one step, jump straight from t0 (linspace of one point would pick 1).
                let ts = match scaled(steps) {
                    1 => vec![t0],
                    s => ddim_timesteps(t0, s, Spacing::Linspace)?,
                };
                (0..ts.len())
                    .map(|i| {
                        let t_prev = ts.get(i + 1).copied().unwrap_or(0);
                        ddim_step(table, ts[i], t_prev, eta)
                    })
                    .collect()
            }
            SamplerKind::Karras { solver, steps } => {
                check_steps(steps, big_t)?;
                let ts = super::sampler_ode::karras_timesteps(table, scaled(steps), t0)?;
                super::sampler_ode::karras_steps(table, solver, &ts)
            }
        };
        Ok(Self { steps })
    }

    /// How many times the plan asks the model for ε̂ (Heun asks twice on most steps).
    pub fn model_calls(&self) -> usize {
        self.steps.iter().map(Step::model_calls).sum()
    }

    /// Whether a step uses the model's learned Σ (it then needs a learned-Σ model's v).
    pub fn uses_learned_variance(&self) -> bool {
        self.steps.iter().any(|s| s.learned.is_some())
    }

    /// The first timestep, where sampling starts from x_T ~ N(0, I).
    pub fn first_t(&self) -> usize {
        self.steps.first().map_or(0, |s| s.t)
    }
}

fn base_step(table: &ScheduleTable, t: usize, t_prev: usize, sigma: f64, update: Update) -> Step {
    Step {
        t,
        t_prev,
        sqrt_alpha_bar: table.sqrt_alpha_bar[t - 1],
        sqrt_one_minus_alpha_bar: table.sqrt_one_minus_alpha_bar[t - 1],
        alpha_bar_prev: table.alpha_bar_at(t_prev),
        sigma,
        learned: None,
        update,
    }
}

/// A DDPM / strided step t → t' in posterior form.
fn posterior_step(table: &ScheduleTable, t: usize, t_prev: usize, variance: DdpmVariance) -> Step {
    let p = Posterior::between(table, t, t_prev);
    let sigma = if t_prev == 0 {
        0.0
    } else {
        match variance {
            DdpmVariance::Beta => p.beta.sqrt(),
            DdpmVariance::BetaTilde | DdpmVariance::Learned => p.variance.sqrt(),
        }
    };
    let mut step = base_step(
        table,
        t,
        t_prev,
        sigma,
        Update::Posterior {
            coef_x0: p.coef_x0,
            coef_xt: p.coef_xt,
        },
    );
    if variance == DdpmVariance::Learned && t_prev > 0 {
        step.learned = Some(LogVarRange::between(table, t, t_prev));
    }
    step
}

/// σ(η) for a DDIM jump t → t' (digest eq. 7 and erratum E004-4):
/// η·√((1 − ᾱ_{t'})/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t'}).
pub fn ddim_sigma(table: &ScheduleTable, t: usize, t_prev: usize, eta: f64) -> f64 {
    let (ab, ab_prev) = (table.alpha_bar_at(t), table.alpha_bar_at(t_prev));
    let (om, om_prev) = (
        table.one_minus_alpha_bar_at(t),
        table.one_minus_alpha_bar_at(t_prev),
    );
    eta * (om_prev / om).sqrt() * (1.0 - ab / ab_prev).max(0.0).sqrt()
}

/// A DDIM step t → t'.
fn ddim_step(table: &ScheduleTable, t: usize, t_prev: usize, eta: f64) -> Step {
    let sigma = ddim_sigma(table, t, t_prev, eta);
    let ab_prev = table.alpha_bar_at(t_prev);
    let om_prev = table.one_minus_alpha_bar_at(t_prev);
    let coef_eps = (om_prev - sigma * sigma).max(0.0).sqrt();
    base_step(
        table,
        t,
        t_prev,
        sigma,
        Update::Ddim {
            coef_x0: ab_prev.sqrt(),
            coef_eps,
        },
    )
}

/// Runs a whole plan on a batch `x` (flattened, `dim` values per sample) with an ε-predictor.
/// `predict(t, x, eps_out)` fills ε̂ for the whole batch. Noise comes from `rng`.
pub fn run_plan<S: Real>(
    plan: &SamplerPlan,
    x: &mut Vec<S>,
    clip: bool,
    rng: &mut super::Rng,
    mut predict: impl FnMut(usize, &[S], &mut [S]),
) {
    let n = x.len();
    let mut eps = vec![S::from_f64(0.0); n];
    let mut z = vec![S::from_f64(0.0); n];
    let mut next = vec![S::from_f64(0.0); n];
    let mut solver = Solver::new(n, clip);
    for step in &plan.steps {
        predict(step.t, x, &mut eps);
        if step.is_stochastic() {
            rng.fill_normal(&mut z);
        } else {
            z.iter_mut().for_each(|v| *v = S::from_f64(0.0));
        }
        solver.step(step, x, &eps, &z, &mut predict, &mut next);
        std::mem::swap(x, &mut next);
    }
}

impl SamplerPlan {
    /// Seed 001's "σ̂" sampler (Song et al., Table 1's last row; digest §3 item 7): DDPM's
    /// posterior-form step on the S timesteps that DDIM with `spacing` visits, with the
    /// respaced β′ = 1 − ᾱ_t/ᾱ_{t′} as its variance, σ̂ = √β′ — larger than DDIM's η = 1.
    /// It is the strided DDPM of the DDIM paper's code (ddpm_steps), not DDIM's update: with
    /// σ̂ the DDIM form's √(1 − ᾱ_{t′} − σ̂²) would be imaginary on long jumps.
    pub fn sigma_hat(
        table: &ScheduleTable,
        steps: usize,
        spacing: Spacing,
    ) -> Result<Self, SamplerError> {
        let ts = ddim_timesteps(table.steps(), steps, spacing)?;
        let steps = (0..ts.len())
            .map(|i| {
                let t_prev = ts.get(i + 1).copied().unwrap_or(0);
                posterior_step(table, ts[i], t_prev, DdpmVariance::Beta)
            })
            .collect();
        Ok(Self { steps })
    }
}
