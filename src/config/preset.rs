//! Presets: TOML files describing a complete setup (run, sampler, starting view, 2-D lab,
//! lessons, study, grid), the lesson steps, and the presets shipped in the binary.

use super::run::{DataSpec, ModelSize, RunConfig, TrainConfig};
use super::sampler::SamplerSpec;
use super::study::{Grid, Study};
use super::view::View;
use crate::diffusion::ScheduleSpec;
use crate::model::UNetConfig;
use crate::toy::ToyLabConfig;
use serde::{Deserialize, Serialize};

/// The most schedules a lesson step shows side by side (the forward explorer's limit).
pub const MAX_LESSON_SCHEDULES: usize = 4;

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
    pub view: View,
    /// The timestep to show (forward explorer), 0..=T; absent: leave t as it is.
    pub t: Option<usize>,
    /// The schedules the forward explorer and the schedule lab show at this step, each a full
    /// `[schedule]` table; empty: the lesson's own (the preset's `[study]` schedules, else its
    /// `[schedule]`).
    pub schedules: Vec<ScheduleSpec>,
    /// The image of the data set the forward explorer shows (0-based); absent: the first.
    pub image: Option<usize>,
    /// The player's sampler at this step (a full `[sampler]` table); absent: the lesson's.
    pub sampler: Option<SamplerSpec>,
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
    /// Condition the model on this many class labels of the data (0: unconditional).
    pub num_classes: usize,
    /// Optimiser and loop settings.
    pub train: TrainConfig,
    /// The sampler.
    pub sampler: SamplerSpec,
    /// The view the app opens on with this preset (absent: the training view).
    pub view: Option<View>,
    /// The 2-D lab's settings, for 2-D lessons.
    pub toy: Option<ToyLabConfig>,
    /// The lesson sequence (`[[lesson]]` steps, shown by the presenter mode; keys 1–9).
    pub lesson: Vec<LessonStep>,
    /// A set of runs to train in turn (schedules × data × seeds).
    pub study: Option<Study>,
    /// A DDIM η × steps grid.
    pub grid: Option<Grid>,
    /// A noisy classifier for classifier guidance, trained on the preset's data and schedule
    /// (`diffusion-lab classifier train-noisy --preset …`).
    pub noisy_classifier: Option<super::NoisyClassifierConfig>,
    /// Feed the UNet t·1000/T (default) or, with `false`, the raw t; see
    /// [`RunConfig::rescale_timesteps`].
    pub rescale_timesteps: bool,
    /// What the UNet's time embedding reads: `step` or `log-snr`; see
    /// [`RunConfig::time_input`].
    pub time_input: super::TimeInputKind,
    /// Seed 000's sampling table (Folder_1, Folder_2 and the additional layer's samplers),
    /// run by `diffusion-lab study` on this preset.
    pub seed000: Option<super::Seed000Plan>,
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
            num_classes: run.num_classes,
            train: run.train,
            sampler: SamplerSpec::default(),
            view: None,
            toy: None,
            lesson: Vec::new(),
            study: None,
            grid: None,
            noisy_classifier: None,
            rescale_timesteps: true,
            time_input: run.time_input,
            seed000: None,
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
        self.run_config().check_combination()?;
        if let Some(plan) = &self.seed000 {
            plan.validate()?;
        }
        // The schedule's T first: the sampler's bound below is given in terms of it.
        let max_t = crate::diffusion::schedule::MAX_STEPS;
        if self.schedule.steps == 0 || self.schedule.steps > max_t {
            return Err(format!(
                "schedule.steps must be 1..={max_t}, got {}",
                self.schedule.steps
            ));
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
            if step.schedules.len() > MAX_LESSON_SCHEDULES {
                return Err(format!(
                    "lesson step {}: at most {MAX_LESSON_SCHEDULES} schedules, got {}",
                    i + 1,
                    step.schedules.len()
                ));
            }
            for (j, spec) in step.schedules.iter().enumerate() {
                if let Err(e) = spec.betas() {
                    return Err(format!("lesson step {}: schedule {}: {e}", i + 1, j + 1));
                }
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

    /// The schedules its lesson and the forward explorer show: the `[study]` schedules if it
    /// compares several, else its own `[schedule]` (at most [`MAX_LESSON_SCHEDULES`]).
    pub fn shown_schedules(&self) -> Vec<ScheduleSpec> {
        match &self.study {
            Some(study) if !study.schedules.is_empty() => study
                .schedules
                .iter()
                .take(MAX_LESSON_SCHEDULES)
                .cloned()
                .collect(),
            _ => vec![self.schedule.clone()],
        }
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
            num_classes: self.num_classes,
            train: self.train,
            rescale_timesteps: Some(self.rescale_timesteps),
            time_input: self.time_input,
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
        "mnist-canonical-cpu",
        include_str!("../../presets/mnist-canonical-cpu.toml"),
    ),
    (
        "mnist-anchor",
        include_str!("../../presets/mnist-anchor.toml"),
    ),
    ("classroom", include_str!("../../presets/classroom.toml")),
    (
        "fashion-canonical-cpu",
        include_str!("../../presets/fashion-canonical-cpu.toml"),
    ),
    (
        "mnist-cond-cpu",
        include_str!("../../presets/mnist-cond-cpu.toml"),
    ),
    (
        "mnist-classifier-guidance",
        include_str!("../../presets/mnist-classifier-guidance.toml"),
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
    (
        "iddpm-hybrid",
        include_str!("../../presets/iddpm-hybrid.toml"),
    ),
    ("seed000", include_str!("../../presets/seed000.toml")),
    (
        "seed000-folder1",
        include_str!("../../presets/seed000-folder1.toml"),
    ),
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

impl RunConfig {
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
