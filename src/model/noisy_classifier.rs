//! The noisy classifier p_φ(y | x_t, t) of classifier guidance (seed 001 Alg. 4): a small CNN
//! whose convolutions each get a bias from the time embedding, trained on noised images, so it
//! can say which class a half-denoised x_t is heading for. Its input gradient
//! ∇ₓ log p_φ(y | x_t) steers an unconditional sampler (`crate::diffusion::guidance`).
//!
//! Architecture ([C, S, S] images): conv3×3(C→w) → conv3×3 stride 2 (w→2w) → conv3×3 stride 2
//! (2w→2w), each plus a per-channel bias from the time embedding, then SiLU; global mean pool;
//! linear(2w → classes). The time embedding is the UNet's sinusoid (width w) through a linear
//! layer and SiLU.

use super::time_embedding;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{log_softmax, silu};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The noisy classifiers shipped with the app: (name, weights, info), from
/// `assets/classifiers/NAME` (re-created by `classifier train-noisy --preset
/// presets/mnist-classifier-guidance.toml`).
pub const BUNDLED_NOISY: &[(&str, &[u8], &str)] = &[(
    "mnist-noisy",
    include_bytes!("../../assets/classifiers/mnist-noisy/weights.bpk"),
    include_str!("../../assets/classifiers/mnist-noisy/info.json"),
)];

/// What shapes a noisy classifier, and what it was trained on (its `info.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoisyClassifierInfo {
    /// [C, H, W] of the images.
    pub shape: [usize; 3],
    /// Class names (their count is the output width).
    pub classes: Vec<String>,
    /// Channels of the first convolution.
    pub width: usize,
    /// The data set it was trained on.
    pub data: String,
    /// The schedule's name (the noise levels it has seen).
    pub schedule: String,
    /// The schedule's T.
    pub steps: usize,
    /// Optimiser steps it was trained for.
    pub train_steps: usize,
    /// Held-out accuracy by noise level: (t, accuracy) at a few t.
    pub accuracy_by_t: Vec<(usize, f64)>,
    /// The seed of its training.
    pub seed: u64,
}

/// The network.
#[derive(Module, Debug)]
pub struct NoisyClassifierNet {
    time: Linear,
    conv1: Conv2d,
    t1: Linear,
    conv2: Conv2d,
    t2: Linear,
    conv3: Conv2d,
    t3: Linear,
    head: Linear,
    sinusoid_dim: usize,
}

impl NoisyClassifierNet {
    /// A fresh network for [C, H, W] images, `classes` classes and first width `width`.
    pub fn new(shape: [usize; 3], classes: usize, width: usize, device: &Device) -> Self {
        let conv = |cin, cout, stride| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let temb = 4 * width;
        Self {
            time: LinearConfig::new(width, temb).init(device),
            conv1: conv(shape[0], width, 1),
            t1: LinearConfig::new(temb, width).init(device),
            conv2: conv(width, 2 * width, 2),
            t2: LinearConfig::new(temb, 2 * width).init(device),
            conv3: conv(2 * width, 2 * width, 2),
            t3: LinearConfig::new(temb, 2 * width).init(device),
            head: LinearConfig::new(2 * width, classes).init(device),
            sinusoid_dim: width,
        }
    }

    /// Logits [B, classes] of x_t [B, C, H, W] at the 1-based timesteps `t`.
    pub fn forward(&self, x: Tensor<4>, t: &[f32]) -> Tensor<2> {
        let device = x.device();
        let b = t.len();
        let emb = Tensor::<2>::from_data(
            TensorData::new(
                time_embedding(t, self.sinusoid_dim, 1.0),
                [b, self.sinusoid_dim],
            ),
            &device,
        );
        let emb = silu(self.time.forward(emb)); // [B, 4w]
        let with_t = |h: Tensor<4>, lin: &Linear| {
            let [b, c, _, _] = h.dims();
            silu(h + lin.forward(emb.clone()).reshape([b, c, 1, 1]))
        };
        let h = with_t(self.conv1.forward(x), &self.t1);
        let h = with_t(self.conv2.forward(h), &self.t2);
        let h = with_t(self.conv3.forward(h), &self.t3);
        let [b, c, hh, ww] = h.dims();
        let pooled = h.reshape([b, c, hh * ww]).mean_dim(2).reshape([b, c]);
        self.head.forward(pooled)
    }
}

/// A trained noisy classifier on the autodiff CPU device, ready to give input gradients.
#[derive(Clone, Debug)]
pub struct NoisyClassifier {
    /// The network (on the autodiff device).
    pub net: NoisyClassifierNet,
    /// Its shape and provenance.
    pub info: NoisyClassifierInfo,
}

impl NoisyClassifier {
    /// The device its gradients are computed on.
    pub fn device() -> Device {
        Device::flex().autodiff()
    }

    /// log p_φ(y_i | x_i, t) and ∇ₓ Σ_i log p_φ(y_i | x_i, t) (flat [B, C, H, W]) for the batch
    /// `x` (flat [B, C, H, W]) at timestep `t`, with one label per sample.
    pub fn grad_log_prob(&self, x: &[f32], t: usize, labels: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.info.shape;
        let b = labels.len();
        let k = self.info.classes.len();
        let device = Self::device();
        let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [b, c, h, w]), &device)
            .require_grad();
        let logp = log_softmax(self.net.forward(xt.clone(), &vec![t as f32; b]), 1); // [B, K]
        let mut onehot = vec![0f32; b * k];
        for (i, &y) in labels.iter().enumerate() {
            onehot[i * k + y.min(k - 1)] = 1.0;
        }
        let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [b, k]), &device);
        let picked = (logp * onehot).sum_dim(1); // [B, 1]
        let values = picked
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let grads = picked.sum().backward();
        let g = xt
            .grad(&grads)
            .map(|g| g.into_data().try_to_vec::<f32>().unwrap_or_default())
            .unwrap_or_else(|| vec![0.0; x.len()]);
        (values, g)
    }

    /// Class probabilities [B, K] of `x` at `t` (for accuracy checks).
    pub fn probs(&self, x: &[f32], t: usize) -> Vec<f32> {
        let [c, h, w] = self.info.shape;
        let b = x.len() / (c * h * w).max(1);
        let device = Device::flex();
        let net = self.net.valid();
        let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [b, c, h, w]), &device);
        burn::tensor::activation::softmax(net.forward(xt, &vec![t as f32; b]), 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default()
    }

    /// Writes `weights.bpk` and `info.json` into `dir` (atomically).
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        super::folder::save(dir, "", &self.net.valid(), &self.info)
    }

    /// A classifier by name: `bundled:NAME` for one shipped with the app (see
    /// [`BUNDLED_NOISY`]), else a folder written by [`Self::save`].
    pub fn open(spec: &Path) -> Result<Self, String> {
        match spec.to_str().and_then(|s| s.strip_prefix("bundled:")) {
            Some(name) => Self::bundled(name),
            None => Self::load(spec),
        }
    }

    /// A noisy classifier shipped with the app.
    pub fn bundled(name: &str) -> Result<Self, String> {
        let (_, weights, info) = BUNDLED_NOISY
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| {
                let names: Vec<&str> = BUNDLED_NOISY.iter().map(|b| b.0).collect();
                format!(
                    "no bundled noisy classifier '{name}' (there is: {})",
                    names.join(", ")
                )
            })?;
        Self::from_bytes(
            weights.to_vec(),
            info.as_bytes(),
            &format!("bundled:{name}"),
        )
    }

    /// Reads a classifier folder written by [`Self::save`]; errors name the file.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let (weights, info) = super::folder::read(dir, "", "a noisy-classifier")?;
        Self::from_bytes(weights, &info, &dir.display().to_string())
    }

    fn from_bytes(weights: Vec<u8>, info: &[u8], name: &str) -> Result<Self, String> {
        let info: NoisyClassifierInfo = super::folder::parse_info(info, name)?;
        if info.classes.is_empty() || info.width < 2 {
            return Err(format!("{name}: info.json describes no usable network"));
        }
        let device = Self::device();
        let net = NoisyClassifierNet::new(info.shape, info.classes.len(), info.width, &device);
        let net = super::folder::load_weights(net, weights, name)?;
        Ok(Self { net, info })
    }
}
