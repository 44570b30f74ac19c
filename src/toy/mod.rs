//! 2-D toy datasets for the 2-D lab.
//!
//! Every dataset draws flattened (x, y) pairs from a seeded [`Rng`] (same seed, same points, on
//! every platform), scaled to about [−2, 2]². The Gaussian mixtures also give their closed-form
//! score through [`ToyDataset::mixture`], which the lab uses to draw the true score field and to
//! run Langevin with the exact score (seed 001 Figs. 2–3).
//!
//! - [`ToyDataset`]: the datasets by command-line name.
//! - [`Mixture2d`], [`Moons`], [`SwissRoll`], [`Circles`], [`Checkerboard`], [`Drawn`]: their
//!   parameters.
//! - [`csv`]: points to and from CSV files with a header `x,y`.
//! - [`sampling`]: DDPM, DDIM, Langevin and annealed Langevin with the true or a learned score.
//! - [`fields`]: the forward scatter, score field and density heatmap at a timestep.
//! - [`gif`]: the particle animation as a GIF.

pub mod config;
pub mod csv;
pub mod fields;
pub mod gif;
pub mod lab;
mod mixture;
pub mod sampling;
mod shapes;

pub use config::ToyLabConfig;
pub use mixture::Mixture2d;
pub use sampling::{EpsModel, Frame, ToySampler, TrueScore, sample_frames};
pub use shapes::{Checkerboard, Circles, Drawn, Moons, SwissRoll};

use crate::diffusion::{GaussianMixture, Rng};
use std::sync::LazyLock;

/// Seed 001's two-Gaussian mixture, built once so [`ToyDataset::mixture`] can lend it.
static SEED001: LazyLock<GaussianMixture> = LazyLock::new(GaussianMixture::seed001_two_gaussians);

/// Why a toy dataset cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ToyError {
    /// A drawn dataset with no points.
    #[error("draw at least one point")]
    EmptyDrawing,
    /// A drawn point with a NaN or infinite coordinate.
    #[error("drawn point {index} has a coordinate that is not finite")]
    BadPoint {
        /// The position of the point.
        index: usize,
    },
    /// A jitter σ that is negative or not finite.
    #[error("the jitter σ must be finite and ≥ 0, got {0}")]
    BadJitter(f64),
    /// Flattened points with an odd number of values.
    #[error("{0} values do not split into (x, y) pairs")]
    OddLength(usize),
    /// A mixture that is not 2-D.
    #[error("toy datasets are 2-D; this mixture has dimension {dim}")]
    NotTwoD {
        /// The mixture's dimension.
        dim: usize,
    },
    /// A mixture with no components.
    #[error("a mixture needs at least one component")]
    NoComponents,
    /// A component that is not 2-D or has a non-positive weight or σ, or a non-finite mean.
    #[error("component {index} must be 2-D with finite mean, weight > 0 and σ > 0")]
    BadComponent {
        /// The position of the component.
        index: usize,
    },
    /// A component index past the end.
    #[error("there is no component {index}; the mixture has {len}")]
    ComponentIndex {
        /// The requested index.
        index: usize,
        /// The number of components.
        len: usize,
    },
    /// Different numbers of means and weights.
    #[error("{means} means but {weights} weights")]
    WeightCount {
        /// The number of means.
        means: usize,
        /// The number of weights.
        weights: usize,
    },
}

/// A 2-D toy dataset and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum ToyDataset {
    /// A Gaussian mixture with editable means, weights and σ (`gmm`).
    Gmm(Mixture2d),
    /// Two interleaved half circles (`moons`).
    Moons(Moons),
    /// A 2-D swiss roll (`swiss`).
    SwissRoll(SwissRoll),
    /// Two concentric circles (`circles`).
    Circles(Circles),
    /// A checkerboard (`checker`).
    Checkerboard(Checkerboard),
    /// Seed 001's mixture of two Gaussians, weights 0.2 / 0.8 (`two-gaussians`).
    TwoGaussians,
    /// Points the user drew, with jitter (`drawn`).
    Drawn(Drawn),
}

impl ToyDataset {
    /// Every command-line name, in menu order.
    pub const NAMES: [&'static str; 7] = [
        "gmm",
        "moons",
        "swiss",
        "circles",
        "checker",
        "two-gaussians",
        "drawn",
    ];

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Gmm(_) => "gmm",
            Self::Moons(_) => "moons",
            Self::SwissRoll(_) => "swiss",
            Self::Circles(_) => "circles",
            Self::Checkerboard(_) => "checker",
            Self::TwoGaussians => "two-gaussians",
            Self::Drawn(_) => "drawn",
        }
    }

    /// A human-readable name for menus.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Gmm(_) => "Gaussian mixture",
            Self::Moons(_) => "Two moons",
            Self::SwissRoll(_) => "Swiss roll",
            Self::Circles(_) => "Circles",
            Self::Checkerboard(_) => "Checkerboard",
            Self::TwoGaussians => "Two Gaussians (seed 001)",
            Self::Drawn(_) => "Drawn points",
        }
    }

    /// The dataset with its default parameters for a command-line name. `drawn` gives a heart
    /// outline ([`Drawn::default`]); build [`ToyDataset::Drawn`] from the user's points instead.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "gmm" => Self::Gmm(Mixture2d::default()),
            "moons" => Self::Moons(Moons::default()),
            "swiss" => Self::SwissRoll(SwissRoll::default()),
            "circles" => Self::Circles(Circles::default()),
            "checker" => Self::Checkerboard(Checkerboard::default()),
            "two-gaussians" => Self::TwoGaussians,
            "drawn" => Self::Drawn(Drawn::default()),
            _ => return None,
        })
    }

    /// A drawn dataset from the user's points (at least one) and a jitter σ ≥ 0.
    pub fn drawn(points: Vec<[f64; 2]>, jitter: f64) -> Result<Self, ToyError> {
        Drawn::new(points, jitter).map(Self::Drawn)
    }

    /// Draws `n` points as flattened (x, y) pairs.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        match self {
            Self::Gmm(m) => m.sample(n, rng),
            Self::Moons(m) => m.sample(n, rng),
            Self::SwissRoll(s) => s.sample(n, rng),
            Self::Circles(c) => c.sample(n, rng),
            Self::Checkerboard(c) => c.sample(n, rng),
            Self::TwoGaussians => SEED001.sample(n, rng),
            Self::Drawn(d) => d.sample(n, rng),
        }
    }

    /// The mixture, for the datasets whose score is known in closed form.
    pub fn mixture(&self) -> Option<&GaussianMixture> {
        match self {
            Self::Gmm(m) => Some(m.mixture()),
            Self::TwoGaussians => Some(&SEED001),
            _ => None,
        }
    }
}

impl Default for ToyDataset {
    /// Seed 001's two Gaussians, the dataset of its Figs. 2–3.
    fn default() -> Self {
        Self::TwoGaussians
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ToyDataset::NAMES {
            let d = ToyDataset::from_name(name);
            assert_eq!(d.as_ref().map(ToyDataset::name), Some(name));
        }
        assert_eq!(ToyDataset::from_name("nope"), None);
        assert_eq!(ToyDataset::drawn(vec![], 0.1), Err(ToyError::EmptyDrawing));
        assert!(ToyDataset::default().mixture().is_some());
        assert!(
            ToyDataset::from_name("moons")
                .and_then(|d| d.mixture().cloned())
                .is_none()
        );
    }
}
