//! The command-line tests: every subcommand run as a process, its output and its usage errors.

mod bench_layers;
mod commands;
#[path = "../common/mod.rs"]
mod common;
mod forward;
mod guidance;
mod learned_sigma;
mod ode_samplers;
mod quality;
mod safety;
mod seed000;
mod toy;
mod train_lr;
