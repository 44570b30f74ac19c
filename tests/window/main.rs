//! The window tests: real windows under Xvfb (`--screenshot`), ignored by default; run with `cargo test --test window -- --include-ignored`.

#[path = "../common/mod.rs"]
mod common;
mod forward;
mod player;
mod presenter;
mod runs;
mod toy;
mod training;
mod views;
