//! The forward-process explorer without egui: watch data dissolve into noise.
//!
//! - [`source`]: where images come from (bundled sets, triangles, files, folders, .npy).
//! - [`noising`]: the shared ε, the closed form q(x_t | x₀) and the step-by-step chain.
//! - [`tiles`]: `a·A + b·B` plus colour maps on the CPU; [`gpu`] runs the same in WGSL.
//! - [`strip`]: equal-t and equal-log-SNR columns, contact sheets and PNG output.
//! - [`histogram`]: pixel histograms against the N(0, 1) density.
//!
//! The view itself is `crate::app::ForwardView`; the `forward` command is `crate::cli::forward`.

pub mod gpu;
pub mod histogram;
pub mod noising;
pub mod source;
pub mod strip;
pub mod tiles;

pub use gpu::{GpuError, GpuTiler, headless_device};
pub use histogram::{Histogram, normal_density};
pub use noising::{Chain, Planar, epsilon, forward, noise_stream, pixel_parts};
pub use source::Source;
pub use strip::{SheetLayout, StripSpacing, compose_sheet, strip_timesteps, write_png};
pub use tiles::{ColorMap, TileJob, TileOutput, TileSpec, render_tiles_cpu};

use std::path::PathBuf;

/// Everything that can go wrong in the explorer's logic.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// Loading or saving data failed.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A schedule is invalid (the message names its flag).
    #[error(transparent)]
    Schedule(#[from] crate::diffusion::ScheduleError),
    /// A parameter is out of range; `name` is its command-line flag.
    #[error("{name} {reason}")]
    InvalidParameter {
        /// The flag, e.g. `--index`.
        name: &'static str,
        /// Why, e.g. "must be below the dataset's 10 images, got 12".
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write ({source}): {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A bug: sizes that should match do not.
    #[error("internal error: {0}")]
    Internal(String),
}
