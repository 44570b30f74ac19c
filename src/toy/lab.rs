//! The 2-D lab view's plain state: where training is, which score samplers follow, which tab
//! is shown. Kept apart from the egui code so tests and other front ends can name them.

/// Where the training run is.
#[derive(Clone, Debug, PartialEq)]
pub enum ToyStatus {
    /// No run yet.
    Idle,
    /// The MLP is training.
    Training,
    /// Paused by the user.
    Paused,
    /// The run ended (all steps done or stopped).
    Finished,
    /// The run failed.
    Failed(String),
}

/// Which score a sampler follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreSource {
    /// The trained MLP.
    Learned,
    /// The closed-form score of the Gaussian mixture.
    True,
}

/// What the central area shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyTab {
    /// Forward, reverse, density, score fields, loss and energy distance.
    Lab,
    /// Seed 001 Fig. 3: data vs Langevin vs annealed Langevin.
    Fig3,
}
