//! Diffusion Lab: a desktop app for exploring denoising diffusion models by watching them work.
//!
//! The library holds everything; `main.rs` only parses the command line and dispatches. The
//! modules form layers; each imports only from the layers below it (a test checks this):
//!
//! 0. [`diffusion`] (the pure maths), [`jobs`] (background jobs), [`fs`] (atomic writes),
//!    [`mem`] (fallible allocation of big buffers).
//! 1. [`data`] (image datasets), [`model`] (the burn networks), [`toy`] (2-D toy datasets).
//! 2. [`config`] (runs, samplers, studies, presets, views), [`store`] (runs folder,
//!    checkpoints, bundled models).
//! 3. [`sampling`] (reverse chains with a network, exports), [`explore`] (the forward process),
//!    [`metrics`] (FID, IS, KID, precision/recall with the app's classifier; NLL in bits/dim).
//! 4. [`train`] (trainer, workers, studies and grids).
//! 5. [`app`] (the eframe app and its views).
//! 6. [`cli`] (the headless subcommands, one file each).

pub mod app;
pub mod cli;
pub mod config;
pub mod data;
pub mod diffusion;
pub mod explore;
pub mod fs;
#[doc(hidden)]
pub mod fuzz;
pub mod jobs;
pub mod mem;
pub mod metrics;
pub mod model;
pub mod sampling;
pub mod signals;
pub mod store;
pub mod toy;
pub mod train;
