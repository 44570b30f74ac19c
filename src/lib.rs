//! Diffusion Lab: a desktop app for exploring denoising diffusion models by watching them work.
//!
//! The library holds everything; `main.rs` only parses the command line and dispatches.
//! - [`diffusion`]: the pure maths (no egui, no burn).
//! - [`cli`]: the headless subcommands.
//! - [`app`]: the eframe app and its views.
//! - [`io`]: atomic file writes.
//! - [`model`]: the burn networks (UNet, toy MLP) and device choice.
//! - [`data`]: image datasets (bundled, synthetic, user files, .npy).
//! - [`toy`]: 2-D toy datasets.
//! - [`sampling`]: reverse chains with a trained network, recorded for the player, and exports.
//! - [`toy_cli`]: the `toy` command (2-D lab headless).
//! - [`study_cli`]: the `study` and `grid` commands (run comparison headless).
//! - [`explore`]: the forward-process explorer's logic and the `forward` command.

pub mod app;
pub mod cli;
pub mod data;
pub mod diffusion;
pub mod explore;
pub mod io;
pub mod model;
pub mod sampling;
pub mod study_cli;
pub mod toy;
pub mod toy_cli;
pub mod train;
pub mod train_cli;
