//! The views of the app by name: one enum for `--view`, presets, lessons and the stored
//! settings.

use serde::{Deserialize, Serialize};

/// A view of the app (the names of `--view`, and the `view` of presets and lesson steps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// The schedule lab: β, ᾱ and SNR of any number of schedules.
    Schedule,
    /// Training: live loss plots, loss by timestep, throughput and previews.
    #[default]
    Training,
    /// The forward-process explorer: x_t of one image under up to four schedules.
    Forward,
    /// The reverse-chain player: denoising step by step, A/B comparison, exports.
    Player,
    /// The 2-D lab: whole distributions, score fields and trajectories.
    Toy2d,
    /// The runs folder: every training run, overlaid curves, samples from the same noise.
    Runs,
    /// Classroom presenter layout: large fonts, high contrast, controls hidden (a layout, not
    /// a view a preset can open).
    #[serde(skip)]
    Presenter,
}

impl View {
    /// The views that have a tab, in tab order (every view but the presenter layout).
    pub const TABS: [View; 6] = [
        View::Schedule,
        View::Training,
        View::Forward,
        View::Player,
        View::Toy2d,
        View::Runs,
    ];

    /// The `--view` name.
    pub fn name(self) -> &'static str {
        match self {
            View::Schedule => "schedule",
            View::Training => "training",
            View::Forward => "forward",
            View::Player => "player",
            View::Toy2d => "toy2d",
            View::Runs => "runs",
            View::Presenter => "presenter",
        }
    }

    /// The name on the view's tab (and in the shortcut overlay).
    pub fn title(self) -> &'static str {
        match self {
            View::Schedule => "Schedules",
            View::Training => "Training",
            View::Forward => "Forward process",
            View::Player => "Reverse chain",
            View::Toy2d => "2-D lab",
            View::Runs => "Runs",
            View::Presenter => "Presenter",
        }
    }
    /// The view of a `--view` name (any case).
    pub fn parse(name: &str) -> Option<View> {
        <View as clap::ValueEnum>::from_str(name, true).ok()
    }
}
