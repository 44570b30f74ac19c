//! The 2-D lab's settings, as stored in presets (`[toy]` table) and used by the `toy` command.

use crate::diffusion::ScheduleSpec;
use crate::model::ToyMlpConfig;
use serde::{Deserialize, Serialize};

/// Everything the 2-D lab needs to train its MLP and sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToyLabConfig {
    /// Dataset name: gmm, moons, swiss, circles, checker, two-gaussians.
    pub dataset: String,
    /// Points drawn from the dataset for training.
    pub n: usize,
    /// Training steps of the MLP.
    pub train_steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of the data, the weights and the sampler.
    pub seed: u64,
    /// The noise schedule (T is small in 2-D).
    pub schedule: ScheduleSpec,
    /// The sampler: ddpm, ddim, euler-karras, heun-karras, dpmpp-2m, langevin or annealed.
    pub sampler: String,
    /// The MLP's shape.
    pub mlp: ToyMlpConfig,
    /// Decay of the EMA of the weights used for sampling (0: sample with the raw weights).
    pub ema_decay: f64,
    /// DDIM's η (0: deterministic).
    pub eta: f64,
    /// DDIM's number of steps.
    pub ddim_steps: usize,
    /// Measure the energy distance every this many training steps (0: only at the start and end).
    pub eval_every: usize,
    /// Points sampled (and drawn from the data) for each energy-distance measurement.
    pub eval_points: usize,
}

impl Default for ToyLabConfig {
    fn default() -> Self {
        Self {
            dataset: "gmm".into(),
            n: 4000,
            train_steps: 3000,
            batch: 256,
            lr: 5e-3,
            seed: 0,
            schedule: ScheduleSpec {
                steps: 100,
                beta_start: 1e-4,
                beta_end: 0.2,
                ..ScheduleSpec::default()
            },
            sampler: "ddpm".into(),
            mlp: ToyMlpConfig::default(),
            ema_decay: 0.995,
            eta: 0.0,
            ddim_steps: 50,
            eval_every: 250,
            eval_points: 500,
        }
    }
}
