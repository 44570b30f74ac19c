//! What is on disk: the runs folder, checkpoint folders (read and load), and the bundled
//! models. Writing a checkpoint is training's job (`crate::train`).

pub mod bundled;
pub mod checkpoint;
pub mod runs;

pub use bundled::{
    BUNDLED_MODELS, BundledModel, COND_MODEL, DEFAULT_MODEL, bundled_dir, bundled_model,
    bundled_model_dir, resolve_model_dir,
};
pub use checkpoint::{
    CheckpointError, CheckpointInfo, LossHistory, ValPoint, load_for_inference, read_info,
};
pub use runs::{
    RUNS_DIR, RunEntry, RunList, STUDY_MARKER, SkippedRun, default_runs_dir, list_runs,
    new_run_dir, runs_dir_for,
};
