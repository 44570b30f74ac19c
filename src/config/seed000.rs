//! `[seed000]`: seed 000's sampling table (digest §1.1) on a bundled labelled data set.
//!
//! Three models: Folder_1 (a class-conditional UNet), Folder_2 (an unconditional UNet trained
//! with the v-objective and conditioned on log-SNR) and Folder_3 (Folder_2 frozen plus the
//! "additional layer", sampled by `sample_new_v1` and `sample_new_v2`). Each cell of the table
//! is a step count × an image count; each column a model or sampler; each value the IS of the
//! app's classifier and the seconds taken, as mean ± std over the seeds.

use serde::{Deserialize, Serialize};

/// The plan of the table, and how the additional layer is trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seed000Plan {
    /// Folder_1: the class-conditional UNet (a checkpoint folder or `bundled:NAME`).
    pub folder1: String,
    /// Folder_2: the unconditional log-SNR v-objective UNet.
    pub folder2: String,
    /// Folder_3's additional layer (a folder written by `diffusion-lab layer train`, or
    /// `bundled:NAME`); its UNet is `folder2`.
    pub layer: String,
    /// The step counts (rows).
    pub steps: Vec<usize>,
    /// The image counts N (rows); multiples of 10 (one per class for the layer's samplers).
    pub images: Vec<usize>,
    /// Seeds per cell (the seed averages over 5).
    pub seeds: usize,
    /// The DDIM η of every sampler (seed 000's `sample(model, x, steps, eta)`).
    pub eta: f64,
    /// `sample_new_v2`'s velocity-noise degree w (additive Gaussian noise; erratum E000-5).
    pub noise_degree: f64,
    /// Images per forward pass (bounds memory; the timing covers them all).
    pub chunk: usize,
    /// Training of the additional layer (`diffusion-lab layer train`).
    pub layer_train: LayerTrain,
}

impl Default for Seed000Plan {
    fn default() -> Self {
        Self {
            folder1: "bundled:seed000-folder1".into(),
            folder2: "bundled:seed000-folder2".into(),
            layer: "bundled:seed000-layer".into(),
            steps: vec![5, 10, 50, 100],
            images: vec![100, 500, 1000],
            seeds: 5,
            eta: 0.0,
            noise_degree: 0.01,
            chunk: 250,
            layer_train: LayerTrain::default(),
        }
    }
}

/// How the additional layer is trained (seed 000 §4: the UNet frozen, only the layer learns).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LayerTrain {
    /// Optimiser steps.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Adam learning rate (cosine decay to 5%).
    pub lr: f64,
    /// Channels of the encoder's and decoder's convolutions.
    pub width: usize,
    /// Seed of the weights, batches, t and ε.
    pub seed: u64,
}

impl Default for LayerTrain {
    fn default() -> Self {
        Self {
            steps: 1500,
            batch: 64,
            lr: 1e-3,
            width: 16,
            seed: 0,
        }
    }
}

/// The largest step count or image count a plan may ask for.
const MAX_CELL: usize = 100_000;

impl Seed000Plan {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps.is_empty() || self.steps.iter().any(|&s| !(1..=MAX_CELL).contains(&s)) {
            return Err(format!(
                "seed000.steps must be a non-empty list of 1..={MAX_CELL}, got {:?}",
                self.steps
            ));
        }
        if self.images.is_empty()
            || self
                .images
                .iter()
                .any(|&n| n == 0 || n % 10 != 0 || n > MAX_CELL)
        {
            return Err(format!(
                "seed000.images must be a non-empty list of multiples of 10 up to {MAX_CELL} \
                 (the additional layer makes one image per class), got {:?}",
                self.images
            ));
        }
        if !(1..=100).contains(&self.seeds) {
            return Err(format!("seed000.seeds must be 1..=100, got {}", self.seeds));
        }
        if !(self.eta.is_finite() && self.eta >= 0.0) {
            return Err(format!("seed000.eta must be ≥ 0, got {}", self.eta));
        }
        if !(self.noise_degree.is_finite() && self.noise_degree >= 0.0) {
            return Err(format!(
                "seed000.noise_degree must be ≥ 0, got {}",
                self.noise_degree
            ));
        }
        if !(1..=10_000).contains(&self.chunk) {
            return Err(format!(
                "seed000.chunk must be 1..=10000, got {}",
                self.chunk
            ));
        }
        let t = &self.layer_train;
        if !(1..=1_000_000).contains(&t.steps) || !(1..=4096).contains(&t.batch) {
            return Err("seed000.layer_train: steps must be 1..=1000000 and batch 1..=4096".into());
        }
        if !(t.lr.is_finite() && t.lr > 0.0 && (1..=256).contains(&t.width)) {
            return Err("seed000.layer_train: lr must be > 0 and width 1..=256".into());
        }
        Ok(())
    }
}
