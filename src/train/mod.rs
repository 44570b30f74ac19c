//! Training: run configuration, the synchronous trainer, EMA, checkpoints, sampling with a
//! model, and the background worker the UI talks to.

mod checkpoint;
mod config;
mod ema;
pub mod runs;
mod study;
pub mod study_runner;
pub mod toy_worker;
mod trainer;
mod worker;

pub use crate::sampling::{eps_predictor, sample_images};
pub use checkpoint::{
    CheckpointInfo, load_checkpoint, load_for_inference, read_info, save_checkpoint,
};
pub use config::{
    DataSpec, LessonStep, ModelSize, Preset, PresetView, RunConfig, SHIPPED_PRESETS, SamplerName,
    SamplerSpec, Target, TrainConfig, line_column,
};
pub use ema::ema_update;
pub use runs::{RunEntry, RunList, SkippedRun, list_runs, new_run_dir};
pub use study::{Grid, Study, StudyData, StudyRun, schedule_label};
pub use trainer::{
    BUCKET_ROW_STEPS, LossHistory, StepStats, T_BUCKETS, TrainError, Trainer, ValPoint,
};
pub use worker::{PreviewGrid, StartOptions, TrainCommand, TrainEvent, TrainHandle};
