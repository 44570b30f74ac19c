//! Sampling in the 2-D lab: DDPM, DDIM(η), the probability-flow ODE solvers on the Karras σ grid
//! (Euler, Heun, DPM-Solver++(2M)), Langevin and annealed Langevin driven by either the
//! closed-form score of a Gaussian mixture or a learned ε-predictor, with every step recorded so
//! the lab can replay the particle cloud with trails.
//!
//! Both score sources speak ε (an [`EpsModel`]): the true one is E[ε | x_t] of the noised mixture,
//! the learned one is the MLP. The score at timestep t is s = −ε̂/√(1 − ᾱ_t). Langevin samplers need
//! the score of p_σ = p ∗ N(0, σ²I) instead (signal 1, noise σ); for an ε-predictor trained on the
//! schedule this is √ᾱ_t·s_t(√ᾱ_t·x) at the t whose σ_t = √((1 − ᾱ_t)/ᾱ_t) is closest to σ, since
//! x_t/√ᾱ_t = x₀ + σ_t·ε.

use crate::diffusion::langevin::{annealed_plan, langevin_plan, langevin_update};
use crate::diffusion::{
    DdpmVariance, GaussianMixture, KarrasSolver, LangevinError, Rng, SamplerError, SamplerKind,
    SamplerPlan, ScheduleTable, Solver, Spacing, geometric_sigmas,
};
use serde::{Deserialize, Serialize};

/// Something that predicts ε for a batch of 2-D points at a timestep.
pub trait EpsModel {
    /// Writes ε̂(x, t) for the flattened (x, y) batch `x` into `out` (same length), t ∈ 1..=T.
    fn eps(&mut self, t: usize, x: &[f64], out: &mut [f64]);

    /// The score of p_σ = p ∗ N(0, σ²I) at `x`, written into `out`. The default maps σ to the
    /// nearest timestep of `table` (see the module docs); exact models override it.
    fn score_sigma(&mut self, table: &ScheduleTable, sigma: f64, x: &[f64], out: &mut [f64]) {
        let t = t_for_sigma(table, sigma);
        let (a, b) = (
            table.sqrt_alpha_bar[t - 1],
            table.sqrt_one_minus_alpha_bar[t - 1],
        );
        let scaled: Vec<f64> = x.iter().map(|v| a * v).collect();
        self.eps(t, &scaled, out);
        // ∇log p_σ(x) = √ᾱ·∇log p_t(√ᾱ·x) = −√ᾱ·ε̂/√(1 − ᾱ).
        out.iter_mut().for_each(|v| *v *= -a / b);
    }
}

/// The timestep t ∈ 1..=T whose σ_t = √((1 − ᾱ_t)/ᾱ_t) is closest to σ (in log scale).
pub fn t_for_sigma(table: &ScheduleTable, sigma: f64) -> usize {
    let target = sigma.max(1e-12).ln();
    let mut best = (1, f64::INFINITY);
    for t in 1..=table.steps() {
        let s = 0.5 * (table.one_minus_alpha_bar[t - 1].ln() - table.alpha_bar[t - 1].ln());
        let d = (s - target).abs();
        if d < best.1 {
            best = (t, d);
        }
    }
    best.0
}

/// The exact ε-predictor of a Gaussian mixture under a schedule.
#[derive(Clone, Debug)]
pub struct TrueScore {
    /// The mixture.
    pub mixture: GaussianMixture,
    /// The schedule the timesteps refer to.
    pub table: ScheduleTable,
}

impl EpsModel for TrueScore {
    fn eps(&mut self, t: usize, x: &[f64], out: &mut [f64]) {
        let signal = self.table.sqrt_alpha_bar[t - 1];
        let noise = self.table.sqrt_one_minus_alpha_bar[t - 1];
        self.mixture.optimal_eps(x, signal, noise, out);
    }

    fn score_sigma(&mut self, _table: &ScheduleTable, sigma: f64, x: &[f64], out: &mut [f64]) {
        for (p, o) in x.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
            self.mixture.score(p, 1.0, sigma, o);
        }
    }
}

/// Which sampler the lab runs, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ToySampler {
    /// Ancestral DDPM over all T steps (σ² = β), from x_T ~ N(0, I).
    Ddpm,
    /// DDIM over `steps` trailing timesteps with stochasticity η, from x_T ~ N(0, I).
    Ddim {
        /// S, the number of steps.
        steps: usize,
        /// η ≥ 0.
        eta: f64,
    },
    /// A probability-flow ODE solver over `steps` points of the Karras σ grid, from
    /// x_T ~ N(0, I) (see [`crate::diffusion::sampler_ode`]).
    Karras {
        /// Euler, Heun or DPM-Solver++(2M).
        solver: KarrasSolver,
        /// The number of grid points.
        steps: usize,
    },
    /// Seed 001's Langevin dynamics x ← x + (ε/2)·s(x) + √ε·z at the smallest noise level σ,
    /// from a uniform start.
    Langevin {
        /// The step size ε.
        eps: f64,
        /// The number of steps.
        steps: usize,
        /// The noise level σ whose score is followed (small: nearly the data score).
        sigma: f64,
    },
    /// Annealed Langevin (NCSN): geometric σ from `sigma_max` to `sigma_min`, step
    /// α_i = ε·σ_i²/σ_min², from a uniform start.
    Annealed {
        /// The base step size ε.
        eps: f64,
        /// The largest σ.
        sigma_max: f64,
        /// The smallest σ.
        sigma_min: f64,
        /// The number of σ levels.
        levels: usize,
        /// Steps per level.
        steps_per_level: usize,
    },
}

impl ToySampler {
    /// The command-line names, in menu order.
    pub const NAMES: [&'static str; 7] = [
        "ddpm",
        "ddim",
        "langevin",
        "annealed",
        "euler-karras",
        "heun-karras",
        "dpmpp-2m",
    ];

    /// The grid points of the Karras samplers by default.
    pub const KARRAS_STEPS: usize = 20;

    /// The sampler named `name` with the lab's default parameters and DDIM η = `eta`.
    pub fn from_name(name: &str, eta: f64) -> Option<Self> {
        let karras = |solver| Self::Karras {
            solver,
            steps: Self::KARRAS_STEPS,
        };
        Some(match name {
            "ddpm" => Self::Ddpm,
            "ddim" => Self::Ddim { steps: 50, eta },
            "euler-karras" => karras(KarrasSolver::Euler),
            "heun-karras" => karras(KarrasSolver::Heun),
            "dpmpp-2m" => karras(KarrasSolver::DpmPp2m),
            "langevin" => Self::default_langevin(),
            "annealed" => Self::default_annealed(),
            _ => return None,
        })
    }

    /// Plain Langevin as in seed 001 Fig. 3: ε = 2e-3, 300 steps, σ = 0.01.
    pub fn default_langevin() -> Self {
        Self::Langevin {
            eps: 2e-3,
            steps: 300,
            sigma: 0.01,
        }
    }

    /// Annealed Langevin as in NCSN: σ 1 → 0.01 over 10 levels, 100 steps each, ε = 2e-5.
    pub fn default_annealed() -> Self {
        Self::Annealed {
            eps: 2e-5,
            sigma_max: 1.0,
            sigma_min: 0.01,
            levels: 10,
            steps_per_level: 100,
        }
    }

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ddpm => "ddpm",
            Self::Ddim { .. } => "ddim",
            Self::Karras { solver, .. } => match solver {
                KarrasSolver::Euler => "euler-karras",
                KarrasSolver::Heun => "heun-karras",
                KarrasSolver::DpmPp2m => "dpmpp-2m",
            },
            Self::Langevin { .. } => "langevin",
            Self::Annealed { .. } => "annealed",
        }
    }

    /// A label for menus and legends.
    pub fn label(&self) -> String {
        match self {
            Self::Ddpm => "DDPM".into(),
            Self::Ddim { steps, eta } => format!("DDIM (S={steps}, η={eta})"),
            Self::Karras { solver, steps } => {
                let name = match solver {
                    KarrasSolver::Euler => "Euler",
                    KarrasSolver::Heun => "Heun",
                    KarrasSolver::DpmPp2m => "DPM-Solver++ (2M)",
                };
                format!("{name} (Karras σ, S={steps})")
            }
            Self::Langevin { .. } => "Langevin".into(),
            Self::Annealed { .. } => "Annealed Langevin".into(),
        }
    }

    /// Whether it starts from N(0, I) at t = T (DDPM, DDIM, the Karras samplers) rather than a
    /// uniform square.
    pub fn starts_from_noise(&self) -> bool {
        matches!(self, Self::Ddpm | Self::Ddim { .. } | Self::Karras { .. })
    }

    /// The same sampler with `steps` steps (DDIM and the Karras samplers; others unchanged).
    pub fn with_steps(self, steps: usize) -> Self {
        match self {
            Self::Ddim { eta, .. } => Self::Ddim { steps, eta },
            Self::Karras { solver, .. } => Self::Karras { solver, steps },
            s => s,
        }
    }
}

/// Why a sampler cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ToySampleError {
    /// The DDPM/DDIM plan is invalid.
    #[error(transparent)]
    Plan(#[from] SamplerError),
    /// The Langevin parameters are invalid.
    #[error(transparent)]
    Langevin(#[from] LangevinError),
    /// Cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
}

/// One recorded state of the particle cloud.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// What the step was, e.g. "t = 37" or "σ = 0.215 (level 4/10)".
    pub label: String,
    /// The points, flattened (x, y).
    pub points: Vec<f64>,
}

/// The half side of the square [−h, h]² Langevin samplers start from.
pub const UNIFORM_HALF_SIDE: f64 = 1.5;

/// Runs `sampler` on `n` points with `model`, keeping at most `max_frames` frames (the start, the
/// end, and evenly spaced steps between). `keep_going()` is checked between steps.
pub fn sample_frames(
    sampler: &ToySampler,
    model: &mut dyn EpsModel,
    table: &ScheduleTable,
    n: usize,
    seed: u64,
    max_frames: usize,
    keep_going: &dyn Fn() -> bool,
) -> Result<Vec<Frame>, ToySampleError> {
    let mut rng = Rng::seed(seed);
    let mut frames = Vec::new();
    let every = |total: usize| total.div_ceil(max_frames.max(2) - 1).max(1);
    if sampler.starts_from_noise() {
        let kind = match *sampler {
            ToySampler::Ddim { steps, eta } => SamplerKind::Ddim {
                steps: steps.clamp(1, table.steps()),
                eta,
                spacing: Spacing::Trailing,
            },
            ToySampler::Karras { solver, steps } => SamplerKind::Karras {
                solver,
                steps: steps.clamp(1, table.steps()),
            },
            _ => SamplerKind::Ddpm {
                variance: DdpmVariance::Beta,
            },
        };
        let plan = SamplerPlan::new(table, kind)?;
        let mut x: Vec<f64> = rng.normal_vec(2 * n);
        frames.push(Frame {
            label: format!("t = {}", plan.first_t()),
            points: x.clone(),
        });
        let k = every(plan.steps.len());
        let mut eps = vec![0.0; x.len()];
        let mut z = vec![0.0; x.len()];
        let mut next = vec![0.0; x.len()];
        let mut solver = Solver::new(x.len(), false);
        for (i, step) in plan.steps.iter().enumerate() {
            if !keep_going() {
                return Err(ToySampleError::Cancelled);
            }
            model.eps(step.t, &x, &mut eps);
            if step.is_stochastic() {
                rng.fill_normal(&mut z);
            } else {
                z.iter_mut().for_each(|v| *v = 0.0);
            }
            let mut again = |t: usize, xs: &[f64], out: &mut [f64]| model.eps(t, xs, out);
            solver.step(step, &x, &eps, &z, &mut again, &mut next);
            std::mem::swap(&mut x, &mut next);
            if (i + 1) % k == 0 || i + 1 == plan.steps.len() {
                frames.push(Frame {
                    label: format!("t = {}", step.t_prev),
                    points: x.clone(),
                });
            }
        }
        return Ok(frames);
    }
    let plan = match *sampler {
        ToySampler::Langevin { eps, steps, .. } => langevin_plan(eps, steps)?,
        ToySampler::Annealed {
            eps,
            sigma_max,
            sigma_min,
            levels,
            steps_per_level,
        } => annealed_plan(
            &geometric_sigmas(sigma_max, sigma_min, levels)?,
            eps,
            steps_per_level,
        )?,
        _ => Vec::new(),
    };
    let (fixed_sigma, levels) = match *sampler {
        ToySampler::Langevin { sigma, .. } => (sigma, 1),
        ToySampler::Annealed { levels, .. } => (0.01, levels),
        _ => (0.01, 1),
    };
    let h = UNIFORM_HALF_SIDE;
    let mut x: Vec<f64> = (0..2 * n)
        .map(|_| h * (2.0 * rng.uniform() - 1.0))
        .collect();
    frames.push(Frame {
        label: "start (uniform)".into(),
        points: x.clone(),
    });
    let k = every(plan.len());
    let mut score = vec![0.0; x.len()];
    let mut z = vec![0.0; x.len()];
    for step in &plan {
        if !keep_going() {
            return Err(ToySampleError::Cancelled);
        }
        let sigma = step.sigma.unwrap_or(fixed_sigma);
        model.score_sigma(table, sigma, &x, &mut score);
        rng.fill_normal(&mut z);
        langevin_update(&mut x, &score, &z, step.step_size);
        if (step.index + 1) % k == 0 || step.is_last() {
            let label = match step.sigma {
                Some(s) => format!("σ = {s:.3} (level {}/{levels})", step.level + 1),
                None => format!("step {}/{}", step.index + 1, step.total),
            };
            frames.push(Frame {
                label,
                points: x.clone(),
            });
        }
    }
    Ok(frames)
}
