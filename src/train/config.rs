//! Run configuration: data, schedule, model and training settings. Presets are TOML files of
//! this structure; checkpoints store it as JSON.

use super::study::{Grid, Study};
use crate::data::{self, ColorMode, Dataset, TriangleConfig, TrianglePrep};
use crate::diffusion::{DdpmVariance, SamplerKind, ScheduleSpec, Spacing};
use crate::model::{DeviceChoice, UNetConfig};
use crate::toy::ToyLabConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the network is trained to predict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The noise ε (L_simple, Ho et al.).
    #[default]
    Eps,
    /// v = √ᾱ·ε − √(1 − ᾱ)·x₀ (Salimans & Ho).
    V,
    /// The clean image x₀.
    X0,
}

/// Where the training images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataSpec {
    /// A dataset bundled with the app ("mnist", "fashion-mnist", "sklearn-digits", "twemoji-32").
    Bundled {
        /// The dataset name.
        name: String,
        /// Use only the first `limit` images (0: all).
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
                Ok(if *limit > 0 { d.take(*limit) } else { d })
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
    /// Autosave a checkpoint every this many steps (0: only on stop).
    pub checkpoint_every: usize,
    /// Where to compute.
    pub device: DeviceChoice,
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
            seed: 0,
            val_fraction: 0.05,
            val_every: 100,
            preview_every: 250,
            preview_count: 16,
            preview_steps: 25,
            checkpoint_every: 500,
            device: DeviceChoice::Auto,
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
        Ok(())
    }
}

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
    /// Optimiser and loop settings.
    pub train: TrainConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: "run".into(),
            data: DataSpec::default(),
            schedule: ScheduleSpec::default(),
            model_size: ModelSize::Canonical,
            model: None,
            train: TrainConfig::default(),
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
        cfg
    }

    /// Parses a TOML preset (the run part of a [`Preset`]; the other tables are checked and
    /// dropped). Errors carry line and column, and name unknown fields.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        Preset::from_toml(text).map(Preset::into_run_config)
    }

    /// Reads a TOML preset file.
    pub fn load_preset(path: &std::path::Path) -> Result<Self, String> {
        Preset::load(path).map(Preset::into_run_config)
    }
}

/// The view a preset or lesson step opens (the names of `--view`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PresetView {
    /// The schedule lab.
    Schedule,
    /// The training view.
    #[default]
    Training,
    /// The forward-process explorer.
    Forward,
    /// The reverse-chain player.
    Player,
    /// The 2-D lab.
    Toy2d,
    /// The runs folder.
    Runs,
}

/// The sampler families a preset can name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerName {
    /// Ancestral DDPM over all T steps, σ² = β.
    Ddpm,
    /// Ancestral DDPM over all T steps, σ² = β̃.
    DdpmTilde,
    /// DDIM over `steps` steps with stochasticity η.
    #[default]
    Ddim,
    /// Improved-DDPM strided respacing over `steps` steps.
    Iddpm,
}

/// `[sampler]`: how to draw samples from the trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerSpec {
    /// The sampler family.
    pub kind: SamplerName,
    /// Sampling steps S (DDIM) or K (iDDPM); DDPM always runs all T.
    pub steps: usize,
    /// DDIM's η ≥ 0 (0: deterministic).
    pub eta: f64,
    /// How DDIM spreads its S steps over 1..T.
    pub spacing: Spacing,
    /// Number of samples.
    pub n: usize,
    /// Seed of x_T and of the sampler's noise.
    pub seed: u64,
    /// Clip the predicted x̂₀ to [−1, 1] at every step.
    pub clip: bool,
}

impl Default for SamplerSpec {
    fn default() -> Self {
        Self {
            kind: SamplerName::Ddim,
            steps: 50,
            eta: 0.0,
            spacing: Spacing::Trailing,
            n: 16,
            seed: 0,
            clip: true,
        }
    }
}

impl SamplerSpec {
    /// The sampler plan's kind.
    pub fn kind(&self) -> SamplerKind {
        match self.kind {
            SamplerName::Ddpm => SamplerKind::Ddpm {
                variance: DdpmVariance::Beta,
            },
            SamplerName::DdpmTilde => SamplerKind::Ddpm {
                variance: DdpmVariance::BetaTilde,
            },
            SamplerName::Ddim => SamplerKind::Ddim {
                steps: self.steps,
                eta: self.eta,
                spacing: self.spacing,
            },
            SamplerName::Iddpm => SamplerKind::Iddpm {
                steps: self.steps,
                variance: DdpmVariance::BetaTilde,
            },
        }
    }
}

/// One `[[lesson]]` step: what the presenter shows and says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LessonStep {
    /// One or two short sentences, shown under the formula.
    pub caption: String,
    /// The formula for this step as plain Unicode text, e.g. "x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε";
    /// shown large.
    pub formula: String,
    /// The view this step shows.
    pub view: PresetView,
    /// The timestep to show (forward explorer), 0..=T; absent: leave t as it is.
    pub t: Option<usize>,
}

/// A preset file: a complete setup (run, sampler, starting view, 2-D lab, lesson, study, grid).
///
/// The first six fields are a [`RunConfig`] and keep its meaning and defaults; everything else
/// is optional. Unknown fields are errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preset {
    /// A name for the run (and the preset).
    pub name: String,
    /// A one-line title for the lesson picker (empty: the name).
    pub title: String,
    /// The images.
    pub data: DataSpec,
    /// The noise schedule.
    pub schedule: ScheduleSpec,
    /// The preset model size (ignored when `model` is given).
    pub model_size: ModelSize,
    /// The UNet, fully specified.
    pub model: Option<UNetConfig>,
    /// Optimiser and loop settings.
    pub train: TrainConfig,
    /// The sampler.
    pub sampler: SamplerSpec,
    /// The view the app opens on with this preset (absent: the training view).
    pub view: Option<PresetView>,
    /// The 2-D lab's settings, for 2-D lessons.
    pub toy: Option<ToyLabConfig>,
    /// The lesson sequence (`[[lesson]]` steps, shown by the presenter mode; keys 1–9).
    pub lesson: Vec<LessonStep>,
    /// A set of runs to train in turn (schedules × data × seeds).
    pub study: Option<Study>,
    /// A DDIM η × steps grid.
    pub grid: Option<Grid>,
}

impl Default for Preset {
    fn default() -> Self {
        let run = RunConfig::default();
        Self {
            name: run.name,
            title: String::new(),
            data: run.data,
            schedule: run.schedule,
            model_size: run.model_size,
            model: run.model,
            train: run.train,
            sampler: SamplerSpec::default(),
            view: None,
            toy: None,
            lesson: Vec::new(),
            study: None,
            grid: None,
        }
    }
}

impl Preset {
    /// Parses a TOML preset. Syntax and type errors, and unknown fields, are reported as
    /// "line L, column C: message" with the offending line quoted; range errors name the field.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let mut preset: Preset = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        // Without a [sampler] table the default's 50 steps must not exceed a short schedule.
        if preset.sampler == SamplerSpec::default() {
            preset.sampler.steps = preset.sampler.steps.min(preset.schedule.steps).max(1);
        }
        preset.validate()?;
        Ok(preset)
    }

    /// Reads a TOML preset file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read preset: {e}: {}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("malformed preset {}:\n{e}", path.display()))
    }

    /// Checks the parts beyond the run config; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.sampler.n == 0 || self.sampler.n > 256 {
            return Err(format!("sampler.n must be 1..=256, got {}", self.sampler.n));
        }
        if !(self.sampler.eta.is_finite() && self.sampler.eta >= 0.0) {
            return Err(format!("sampler.eta must be ≥ 0, got {}", self.sampler.eta));
        }
        if self.sampler.steps == 0 || self.sampler.steps > self.schedule.steps {
            return Err(format!(
                "sampler.steps must be 1..={} (the schedule's T), got {}",
                self.schedule.steps, self.sampler.steps
            ));
        }
        for (i, step) in self.lesson.iter().enumerate() {
            if step.caption.trim().is_empty() {
                return Err(format!("lesson step {}: caption must not be empty", i + 1));
            }
            if let Some(t) = step.t
                && t > self.schedule.steps
            {
                return Err(format!(
                    "lesson step {}: t must be 0..={} (the schedule's T), got {t}",
                    i + 1,
                    self.schedule.steps
                ));
            }
        }
        if let Some(s) = &self.study {
            s.validate()?;
        }
        if let Some(g) = &self.grid {
            g.validate()?;
        }
        Ok(())
    }

    /// The run part.
    pub fn run_config(&self) -> RunConfig {
        self.clone().into_run_config()
    }

    /// The run part, consuming the preset.
    pub fn into_run_config(self) -> RunConfig {
        RunConfig {
            name: self.name,
            data: self.data,
            schedule: self.schedule,
            model_size: self.model_size,
            model: self.model,
            train: self.train,
        }
    }

    /// The title for pickers: `title`, or the name.
    pub fn display_title(&self) -> &str {
        if self.title.is_empty() {
            &self.name
        } else {
            &self.title
        }
    }
}

/// "line L, column C: message", then the offending line with a caret under column C.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    let Some(span) = e.span() else {
        return message.to_owned();
    };
    let (line, column) = line_column(text, span.start);
    let src = text.lines().nth(line - 1).unwrap_or("");
    let gutter = line.to_string().len();
    format!(
        "line {line}, column {column}: {message}\n{line} | {src}\n{:gutter$} | {:>column$}",
        "", "^"
    )
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The presets shipped in `presets/`, embedded so the app finds them from any folder.
pub const SHIPPED_PRESETS: &[(&str, &str)] = &[
    ("mnist-tiny", include_str!("../../presets/mnist-tiny.toml")),
    (
        "mnist-canonical",
        include_str!("../../presets/mnist-canonical.toml"),
    ),
    (
        "mnist-cosine",
        include_str!("../../presets/mnist-cosine.toml"),
    ),
    (
        "triangles-linear",
        include_str!("../../presets/triangles-linear.toml"),
    ),
    (
        "schedule-study",
        include_str!("../../presets/schedule-study.toml"),
    ),
    (
        "data-quality",
        include_str!("../../presets/data-quality.toml"),
    ),
    (
        "mnist-linear-vs-cosine",
        include_str!("../../presets/mnist-linear-vs-cosine.toml"),
    ),
    ("ddim-grid", include_str!("../../presets/ddim-grid.toml")),
    ("lesson-2d", include_str!("../../presets/lesson-2d.toml")),
    (
        "lesson-forward",
        include_str!("../../presets/lesson-forward.toml"),
    ),
    (
        "lesson-reverse",
        include_str!("../../presets/lesson-reverse.toml"),
    ),
];
