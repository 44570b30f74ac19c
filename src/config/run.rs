//! Run configuration: data, schedule, model and training settings. Presets are TOML files of
//! this structure; checkpoints store it as JSON.

use crate::data::{self, ColorMode, Dataset, TriangleConfig, TrianglePrep};
pub use crate::diffusion::Target;
use crate::diffusion::{LossKind, LossWeighting, ScheduleSpec, TSampling};
use crate::model::{DeviceChoice, TimeInput, TrainEngine, UNetConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the training images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataSpec {
    /// A dataset bundled with the app ("mnist", "fashion-mnist", "sklearn-digits", "twemoji-32").
    Bundled {
        /// The dataset name.
        name: String,
        /// Use only `limit` images spread evenly over the set (0: all). The bundled sets are
        /// sorted by class, so this keeps every class (#14 §3).
        #[serde(default)]
        limit: usize,
    },
    /// Seed 003's synthetic triangles.
    Triangles {
        /// "direct", "downsampled" or "binary".
        prep: String,
        /// How many.
        #[serde(default = "default_triangle_count")]
        count: usize,
        /// Side in pixels.
        #[serde(default = "default_triangle_size")]
        size: usize,
        /// Generator seed.
        #[serde(default)]
        seed: u64,
    },
    /// A folder of the user's images.
    Folder {
        /// The folder.
        path: PathBuf,
        /// Side in pixels after centre-crop and resize.
        size: u32,
        /// Load as RGB (otherwise grey).
        #[serde(default)]
        rgb: bool,
    },
    /// A `.npy` array of N×H×W or N×C×H×W.
    Npy {
        /// The file.
        path: PathBuf,
    },
}

fn default_triangle_count() -> usize {
    10_000
}
fn default_triangle_size() -> usize {
    32
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec::Bundled {
            name: "mnist".into(),
            limit: 0,
        }
    }
}

impl DataSpec {
    /// Loads the images.
    pub fn load(&self) -> Result<Dataset, String> {
        match self {
            DataSpec::Bundled { name, limit } => {
                let d = data::bundled(name).map_err(|e| e.to_string())?;
                Ok(if *limit > 0 { d.spread(*limit) } else { d })
            }
            DataSpec::Triangles {
                prep,
                count,
                size,
                seed,
            } => {
                let prep = TrianglePrep::ALL
                    .into_iter()
                    .find(|p| p.name() == prep)
                    .ok_or_else(|| {
                        format!("data.prep must be direct, downsampled or binary, got '{prep}'")
                    })?;
                data::triangles(&TriangleConfig {
                    count: *count,
                    size: *size,
                    seed: *seed,
                    prep,
                })
                .map_err(|e| e.to_string())
            }
            DataSpec::Folder { path, size, rgb } => {
                let mode = if *rgb {
                    ColorMode::Rgb
                } else {
                    ColorMode::Gray
                };
                data::load_images(&[path], *size, mode)
                    .map(|(d, _report)| d)
                    .map_err(|e| e.to_string())
            }
            DataSpec::Npy { path } => data::read_npy(path).map_err(|e| e.to_string()),
        }
    }

    /// A short label.
    pub fn label(&self) -> String {
        match self {
            DataSpec::Bundled { name, .. } => name.clone(),
            DataSpec::Triangles { prep, .. } => format!("triangles ({prep})"),
            DataSpec::Folder { path, .. } => path.display().to_string(),
            DataSpec::Npy { path } => path.display().to_string(),
        }
    }
}

/// Which preset size of UNet to use; the explicit `model` table overrides it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelSize {
    /// Small enough to train on a CPU.
    Tiny,
    /// The benchmark reference.
    #[default]
    Canonical,
    /// For a GPU.
    Larger,
}

/// The optimiser and loop settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimiser steps to run.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weight decay (0: none).
    pub weight_decay: f64,
    /// Clip the gradient norm to this (0: no clipping).
    pub grad_clip: f64,
    /// Linear learning-rate warm-up over this many steps.
    pub warmup_steps: usize,
    /// EMA decay of the weights.
    pub ema_decay: f64,
    /// What the network predicts.
    pub target: Target,
    /// The loss: `simple` (L_simple, fixed Σ), `hybrid` (L_simple + 0.001·L_vlb, learned Σ;
    /// improved DDPM) or `vlb` (the bound alone, learned Σ). A learned-Σ loss gives the UNet
    /// 2·C output channels.
    pub loss: LossKind,
    /// How each sample's squared error is weighted across noise levels: `target` (the plain
    /// MSE of the target), `snr-plus-one` (the v-objective's weighting, for any target) or
    /// `truncated-snr` (max(SNR, 1)); Salimans & Ho §4, seed 000's "reweights of loss
    /// function"; or `min-snr-5` (min(SNR, 5), Hang et al. 2023: faster early training).
    pub loss_weighting: LossWeighting,
    /// Draw a continuous t ∈ (0, T] for each image instead of an integer step (seed 000's
    /// continuous time): ᾱ(t) interpolates the schedule's ln ᾱ. Needs `time_input = "log-snr"`
    /// (a step-conditioned network has only seen integer t) and `loss = "simple"`.
    pub continuous_time: bool,
    /// How t is drawn: `uniform`, or `importance` (p_t ∝ √E[L_t²], for the `hybrid` and `vlb`
    /// losses; uniform until each t has 10 values of L_t).
    pub t_sampling: TSampling,
    /// Seed of every random choice (batches, t, ε, initial weights).
    pub seed: u64,
    /// Fraction of the data held out for validation.
    pub val_fraction: f64,
    /// Validate every this many steps (0: never).
    pub val_every: usize,
    /// Preview samples every this many steps (0: never).
    pub preview_every: usize,
    /// Number of preview samples.
    pub preview_count: usize,
    /// DDIM steps of the preview sampler.
    pub preview_steps: usize,
    /// Measure sample quality (FID, IS, precision, recall of `quality_count` DDIM-25 samples
    /// of the EMA weights) every this many steps, in the background (0: never). Off by
    /// default: on a CPU the sampling shares the cores with training.
    pub quality_every: usize,
    /// Samples per quality measurement.
    pub quality_count: usize,
    /// Autosave a checkpoint every this many steps (0: only on stop).
    pub checkpoint_every: usize,
    /// Where to compute.
    pub device: DeviceChoice,
    /// Which code trains: the native CPU engine or burn (`auto`: native on the CPU).
    pub engine: TrainEngine,
    /// For a class-conditional model: the probability that a training image's label is
    /// replaced by the null label, so the one network also learns ε(x, ∅) for classifier-free
    /// guidance (seed 004 §5.3, read as erratum E004-5 says: *dropped* with probability p).
    pub label_drop: f64,
    /// Start from the EMA weights of this checkpoint folder (or `bundled:NAME`) instead of
    /// random weights: fine-tuning, e.g. a class-conditional model from an unconditional one
    /// (its class table then starts at zero, so step 0 predicts exactly as the old model).
    /// Empty: random weights. Recorded in the checkpoint's config for provenance.
    pub init_from: String,
    /// Early stopping (erratum E000-4's reading of seed 000 §4.1): stop when the validation
    /// loss has not improved for this many validations in a row (0: never stop early).
    pub patience: usize,
    /// Seconds between snapshots of the weights for the live chain beside the loss (#19);
    /// unset: 8 s on a CPU, 2 s on a GPU; 0: none (the preview's snapshots only).
    pub live_secs: Option<f64>,
    /// Refuse to start when training is estimated to need more than this many MB (0: the
    /// memory available when the run starts).
    pub memory_cap_mb: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 2000,
            batch: 64,
            lr: 2e-4,
            weight_decay: 0.0,
            grad_clip: 1.0,
            warmup_steps: 100,
            ema_decay: 0.995,
            target: Target::Eps,
            loss: LossKind::Simple,
            t_sampling: TSampling::Uniform,
            loss_weighting: LossWeighting::Target,
            continuous_time: false,
            seed: 0,
            val_fraction: 0.05,
            val_every: 100,
            preview_every: 250,
            preview_count: 16,
            preview_steps: 25,
            quality_every: 0,
            quality_count: 256,
            checkpoint_every: 500,
            device: DeviceChoice::Auto,
            engine: TrainEngine::Auto,
            label_drop: 0.1,
            init_from: String::new(),
            patience: 0,
            memory_cap_mb: 0,
            live_secs: None,
        }
    }
}

impl TrainConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("train.{msg}"))
            }
        };
        check(
            self.batch >= 1 && self.batch <= 4096,
            "batch must be 1..=4096",
        )?;
        check(self.lr.is_finite() && self.lr > 0.0, "lr must be > 0")?;
        check(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "weight_decay must be ≥ 0",
        )?;
        check(
            self.grad_clip.is_finite() && self.grad_clip >= 0.0,
            "grad_clip must be ≥ 0",
        )?;
        check(
            (0.0..1.0).contains(&self.ema_decay),
            "ema_decay must be in [0, 1)",
        )?;
        check(
            self.val_fraction > 0.0 && self.val_fraction < 0.5,
            "val_fraction must be in (0, 0.5)",
        )?;
        check(self.preview_count <= 256, "preview_count must be ≤ 256")?;
        check(self.preview_steps >= 1, "preview_steps must be ≥ 1")?;
        check(
            (2..=10_000).contains(&self.quality_count),
            "quality_count must be in 2..=10000",
        )?;
        check(
            (0.0..=1.0).contains(&self.label_drop),
            "label_drop must be in [0, 1]",
        )?;
        check(
            self.t_sampling == TSampling::Uniform || self.loss.learns_sigma(),
            "t_sampling = \"importance\" needs loss = \"hybrid\" or \"vlb\" (it weighs t by \
             the bound's terms, which L_simple does not compute)",
        )?;
        Ok(())
    }
}

/// The range a rescaled t spans: t·RESCALED_T/T ∈ (0, 1000], as improved-diffusion.
pub const RESCALED_T: f64 = 1000.0;

/// A complete training run: everything needed to reproduce it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// A name for the run.
    pub name: String,
    /// The images.
    pub data: DataSpec,
    /// The noise schedule.
    pub schedule: ScheduleSpec,
    /// The preset model size (ignored when `model` is given).
    pub model_size: ModelSize,
    /// The UNet, fully specified (image size and channels are taken from the data).
    pub model: Option<UNetConfig>,
    /// Condition the model on this many class labels of the data (0: unconditional; when
    /// given, overrides `model.num_classes`).
    pub num_classes: usize,
    /// Optimiser and loop settings.
    pub train: TrainConfig,
    /// Feed the UNet t·1000/T instead of the raw t (improved-diffusion's `rescale_timesteps`,
    /// #15), so the sinusoidal embedding's frequencies span every T alike: with the raw t the
    /// lowest frequency of the tiny model (width 16) wraps at t ≈ 19,900 while T may be
    /// 100,000. `Some(true)` for every new run (presets and code); absent (`None`) in the
    /// checkpoints written before it, which keep the raw t they were trained with.
    #[serde(default)]
    pub rescale_timesteps: Option<bool>,
    /// What the UNet's time embedding reads: `step` (t) or `log-snr` (λ(t) of this run's
    /// schedule; seed 000). Absent in every checkpoint written before #14 §3: `step`.
    pub time_input: TimeInputKind,
}

/// The preset's choice of time input ([`TimeInput`] without its schedule, which is the run's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeInputKind {
    /// The step t.
    #[default]
    Step,
    /// The log-SNR λ(t).
    LogSnr,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: "run".into(),
            data: DataSpec::default(),
            schedule: ScheduleSpec::default(),
            model_size: ModelSize::Canonical,
            model: None,
            num_classes: 0,
            train: TrainConfig::default(),
            rescale_timesteps: Some(true),
            time_input: TimeInputKind::Step,
        }
    }
}

impl RunConfig {
    /// The UNet config for images of `channels` × `size`².
    pub fn unet(&self, channels: usize, size: usize) -> UNetConfig {
        let mut cfg = match &self.model {
            Some(m) => m.clone(),
            None => match self.model_size {
                ModelSize::Tiny => UNetConfig::tiny(channels, size),
                ModelSize::Canonical => UNetConfig::canonical(channels, size),
                ModelSize::Larger => UNetConfig::larger(channels, size),
            },
        };
        cfg.image_channels = channels;
        cfg.image_size = size;
        if self.rescale_timesteps == Some(true) {
            cfg.time_scale = RESCALED_T / self.schedule.steps.max(1) as f64;
        }
        if self.num_classes > 0 {
            cfg.num_classes = self.num_classes;
        }
        cfg.learn_sigma = self.train.loss.learns_sigma();
        if self.time_input == TimeInputKind::LogSnr {
            cfg.time_input = TimeInput::LogSnr {
                schedule: self.schedule.clone(),
            };
            cfg.time_scale = 1.0;
        }
        cfg
    }

    /// Checks the settings that only make sense together; the error names the fields.
    /// Preset loading and the trainer both call it.
    pub fn check_combination(&self) -> Result<(), String> {
        if self.schedule.zero_terminal_snr && self.train.target == Target::Eps {
            return Err(
                "schedule.zero_terminal_snr needs train.target = \"v\" (or \"x0\"): where ᾱ_T ≈ \
                 0, x_T is the noise itself, so an ε-prediction tells nothing about x₀"
                    .into(),
            );
        }
        if self.train.continuous_time {
            if self.time_input != TimeInputKind::LogSnr {
                return Err(
                    "train.continuous_time needs time_input = \"log-snr\": a network conditioned \
                     on the step has only seen integer t"
                        .into(),
                );
            }
            if self.train.loss != LossKind::Simple {
                return Err(format!(
                    "train.continuous_time needs train.loss = \"simple\", got \"{}\": the \
                     bound's terms are defined at integer t",
                    self.train.loss.name()
                ));
            }
        }
        Ok(())
    }
}

/// Training settings of the noisy classifier for classifier guidance (the `[noisy_classifier]`
/// section of a preset; its data and schedule are the preset's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoisyClassifierConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Peak Adam learning rate (cosine decay to 5%).
    pub lr: f64,
    /// Channels of the first convolution (then 2×, 2×).
    pub width: usize,
    /// Seed of the weights, the batches, t and ε.
    pub seed: u64,
}

impl Default for NoisyClassifierConfig {
    fn default() -> Self {
        Self {
            steps: 3000,
            batch: 64,
            lr: 2e-3,
            width: 32,
            seed: 0,
        }
    }
}

impl NoisyClassifierConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1_000_000).contains(&self.steps) {
            return Err(format!(
                "noisy_classifier.steps must be 1..=1000000, got {}",
                self.steps
            ));
        }
        if !(1..=4096).contains(&self.batch) {
            return Err(format!(
                "noisy_classifier.batch must be 1..=4096, got {}",
                self.batch
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("noisy_classifier.lr must be > 0, got {}", self.lr));
        }
        if !(2..=512).contains(&self.width) {
            return Err(format!(
                "noisy_classifier.width must be 2..=512, got {}",
                self.width
            ));
        }
        Ok(())
    }
}
