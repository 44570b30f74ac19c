//! Training: the synchronous trainer, EMA, saving and resuming checkpoints, the background
//! workers the UI talks to (UNet and 2-D MLP), and the study and grid runners.

pub mod add_layer;
mod checkpoint;
mod ema;
pub mod grid_runner;
mod native;
pub mod noisy_classifier;
pub mod study_runner;
pub mod toy_worker;
mod trainer;
mod worker;

pub use checkpoint::{load_checkpoint, load_checkpoint_with, save_checkpoint};
pub use ema::{cosine_anneal, ema_update, warmup_decay};
pub use trainer::{
    BUCKET_ROW_STEPS, StepStats, T_BUCKETS, TrainError, Trainer, patience_exhausted,
};
pub use worker::{PreviewGrid, QualityPoint, StartOptions, TrainCommand, TrainEvent, TrainHandle};
