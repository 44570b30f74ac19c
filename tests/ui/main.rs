//! The UI tests: each view driven headlessly with egui_kittest (no window).

mod forward;
mod glyphs;
mod player;
mod plots;
mod presenter;
mod runs;
mod schedule_lab;
mod toy;
mod training;
