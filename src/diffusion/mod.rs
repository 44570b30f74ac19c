//! The diffusion maths: schedules, the forward process, posteriors and samplers.
//!
//! Pure f64 tables and plain slices; this module imports neither egui nor burn, so every formula
//! can be unit-tested against the oracles in the seeds digest (§3).

pub mod expr_help;
pub mod gmm;
pub mod guidance;
pub mod langevin;
pub mod learned;
pub mod metrics;
pub mod process;
pub mod quality;
pub mod rng;
pub mod sampler;
pub mod sampler_ode;
pub mod schedule;
pub mod seed000;
pub mod vlb;
pub mod weighting;

pub use gmm::{Component, GaussianMixture};
pub use langevin::{
    LangevinError, LangevinStep, Trajectory, annealed_langevin, geometric_sigmas, langevin,
};
pub use learned::{ImportanceSampler, LogVarRange, LossKind, TSampling};
pub use metrics::{
    ComponentStats, MetricError, component_summary, energy_distance, sliced_wasserstein,
};
pub use process::{Posterior, Rates, Target};
pub use rng::Rng;
pub use sampler::{
    DdpmVariance, SamplerError, SamplerKind, SamplerPlan, Spacing, Step, StepOutput, StrideRule,
    Update, ddim_sigma, ddim_timesteps, iddpm_timesteps, run_plan, strided_timesteps,
};
pub use sampler_ode::{KarrasSolver, Solver, karras_sigmas, karras_timesteps, timestep_for_sigma};
pub use schedule::{
    Badges, MAX_STEPS, Param, ScheduleError, ScheduleKind, ScheduleSpec, ScheduleTable,
};
pub use weighting::LossWeighting;

/// A floating-point sample type the slice functions accept (f32 images or f64 tests).
pub trait Real: Copy + Send + Sync + 'static {
    /// Widens to f64.
    fn to_f64(self) -> f64;
    /// Narrows from f64.
    fn from_f64(v: f64) -> Self;
}

impl Real for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Real for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}
