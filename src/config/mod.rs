//! Configuration: what a run, a sampler, a study, a grid, a preset and a lesson are, with the
//! one serde schema that parses them, and the [`View`] names shared by presets, CLI and app.
//!
//! - [`run`] holds [`RunConfig`] (data, schedule, model, training).
//! - [`sampler`] holds [`SamplerSpec`] (a preset's `[sampler]`).
//! - [`study`] holds [`Study`] and [`Grid`] (a preset's `[study]` and `[grid]`).
//! - [`preset`] holds [`Preset`], lessons and the shipped presets.
//! - [`view`] holds [`View`].

pub mod preset;
pub mod run;
pub mod sampler;
pub mod seed000;
pub mod study;
pub mod view;

pub use preset::{LessonStep, MAX_LESSON_SCHEDULES, Preset, SHIPPED_PRESETS, line_column};
pub use run::{
    DataSpec, ModelSize, NoisyClassifierConfig, RunConfig, Target, TimeInputKind, TrainConfig,
};
pub use sampler::{SamplerName, SamplerSpec};
pub use seed000::Seed000Plan;
pub use study::{Grid, Study, StudyData, StudyRun, schedule_label};
pub use view::View;
