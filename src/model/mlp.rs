//! A small time-embedded MLP ε-predictor for 2-D points.

use super::time_embedding;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The shape of the toy MLP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToyMlpConfig {
    /// Width of the sinusoidal time embedding.
    pub time_dim: usize,
    /// Width of each hidden layer.
    pub hidden: usize,
    /// Number of hidden layers.
    pub layers: usize,
}

impl Default for ToyMlpConfig {
    /// The benchmark reference: concat(x (2), sinusoidal t (32)) → 128 → 128 → 128 → 2, SiLU.
    fn default() -> Self {
        Self {
            time_dim: 32,
            hidden: 128,
            layers: 3,
        }
    }
}

impl ToyMlpConfig {
    /// Builds the MLP with fresh weights.
    pub fn init(&self, device: &Device) -> ToyMlp {
        let mut layers = Vec::new();
        let mut width = 2 + self.time_dim;
        for _ in 0..self.layers.max(1) {
            layers.push(LinearConfig::new(width, self.hidden).init(device));
            width = self.hidden;
        }
        ToyMlp {
            layers,
            out: LinearConfig::new(width, 2).init(device),
            time_dim: self.time_dim,
        }
    }
}

/// The toy MLP.
#[derive(Module, Debug)]
pub struct ToyMlp {
    layers: Vec<Linear>,
    out: Linear,
    time_dim: usize,
}

impl ToyMlp {
    /// x [B, 2] at timesteps t (one per point, 1-based) → ε̂ [B, 2].
    pub fn forward(&self, x: Tensor<2>, t: &[f32]) -> Tensor<2> {
        let device = x.device();
        let b = x.dims()[0];
        let emb = Tensor::<2>::from_data(
            TensorData::new(time_embedding(t, self.time_dim, 1.0), [b, self.time_dim]),
            &device,
        );
        let mut h = Tensor::cat(vec![x, emb], 1); // [B, 2 + time_dim]
        for layer in &self.layers {
            h = silu(layer.forward(h));
        }
        self.out.forward(h)
    }
}
