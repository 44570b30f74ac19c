//! Seed 000's "additional layer" (`add_net`, digest §1.1): a small network after a frozen,
//! unconditional UNet that turns its predicted velocity v towards a class label.
//!
//! Architecture, for [C, H, W] images: an encoder conv3×3(C→w) → SiLU → conv3×3(w→1) →
//! adaptive average pool to 1×16×16, flattened to 256 values; one linear map 256 → 256 per
//! class (the seed's `self.transform`; each starts as the identity, the "rotation" the report
//! argues a linear map can learn); a decoder that resizes the 16×16 map back to H×W
//! (bilinear) → conv3×3(1→w) → SiLU → conv3×3(w→C). Its output replaces v, as in the seed.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::module::{adaptive_avg_pool2d, interpolate};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The side of the latent map (the seed's 1×16×16).
pub const LATENT_SIDE: usize = 16;
/// The latent width, 16·16.
pub const LATENT: usize = LATENT_SIDE * LATENT_SIDE;
/// The prefix of the layer's files in a model folder (`add_layer.weights.bpk`, `…info.json`).
pub const FILE_PREFIX: &str = "add_layer.";

/// What shapes an additional layer, and what it was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddLayerInfo {
    /// [C, H, W] of the images.
    pub shape: [usize; 3],
    /// The number of classes (one linear map each).
    pub classes: usize,
    /// Channels of the encoder's and decoder's convolutions.
    pub width: usize,
    /// The data set of the labels.
    pub data: String,
    /// The frozen UNet it was trained on (its folder, as given).
    pub unet: String,
    /// The UNet's step when the layer was trained.
    pub unet_step: usize,
    /// Optimiser steps.
    pub train_steps: usize,
    /// Its v-loss on held-out images at the end of training, and the frozen UNet's alone.
    pub held_out_loss: f64,
    /// The frozen UNet's own v-loss on the same held-out batch.
    pub unet_loss: f64,
    /// The seed of its training.
    pub seed: u64,
}

/// The network.
#[derive(Module, Debug)]
pub struct AddLayerNet {
    enc1: Conv2d,
    enc2: Conv2d,
    transform: Linear,
    dec1: Conv2d,
    dec2: Conv2d,
    classes: usize,
}

impl AddLayerNet {
    /// A fresh layer for [C, H, W] images (H, W ≥ 16) and `classes` classes; each class's
    /// linear map starts as the identity.
    pub fn new(shape: [usize; 3], classes: usize, width: usize, device: &Device) -> Self {
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let mut transform = LinearConfig::new(LATENT, classes * LATENT).init(device);
        // weight [LATENT, classes·LATENT]: block k is I.
        let mut eye = vec![0f32; LATENT * classes * LATENT];
        for r in 0..LATENT {
            for k in 0..classes {
                eye[r * classes * LATENT + k * LATENT + r] = 1.0;
            }
        }
        transform.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(eye, [LATENT, classes * LATENT]),
            device,
        ));
        if let Some(b) = transform.bias.take() {
            transform.bias = Some(b.map(|t| t.zeros_like()));
        }
        Self {
            enc1: conv(shape[0], width),
            enc2: conv(width, 1),
            transform,
            dec1: conv(1, width),
            dec2: conv(width, shape[0]),
            classes,
        }
    }

    /// The steered velocity [B, C, H, W] of `v` [B, C, H, W], one class per sample.
    pub fn forward(&self, v: Tensor<4>, labels: &[usize]) -> Tensor<4> {
        let [b, _, h, w] = v.dims();
        let device = v.device();
        let z = self.enc2.forward(silu(self.enc1.forward(v)));
        let z = adaptive_avg_pool2d(z, [LATENT_SIDE, LATENT_SIDE]).reshape([b, LATENT]);
        // Every class's map at once, then each sample keeps its own: [B, K, L] · one-hot.
        let k = self.classes;
        let all = self.transform.forward(z).reshape([b, k, LATENT]);
        let mut onehot = vec![0f32; b * k];
        for (i, &y) in labels.iter().enumerate().take(b) {
            onehot[i * k + y.min(k - 1)] = 1.0;
        }
        let onehot = Tensor::<3>::from_data(TensorData::new(onehot, [b, k, 1]), &device);
        let z = (all * onehot)
            .sum_dim(1)
            .reshape([b, 1, LATENT_SIDE, LATENT_SIDE]);
        let up = interpolate(
            z,
            InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]),
        );
        self.dec2.forward(silu(self.dec1.forward(up)))
    }
}

/// A trained additional layer, for inference on the CPU.
#[derive(Clone, Debug)]
pub struct AddLayer {
    /// The network.
    pub net: AddLayerNet,
    /// Its shape and provenance.
    pub info: AddLayerInfo,
}

impl AddLayer {
    /// The device it runs on.
    pub fn device() -> Device {
        Device::flex()
    }

    /// Steers `v` (flat [B, C, H, W]) towards `labels` (one per sample).
    pub fn apply(&self, v: &[f32], labels: &[usize]) -> Vec<f32> {
        let [c, h, w] = self.info.shape;
        let b = labels.len();
        let x = Tensor::<4>::from_data(TensorData::new(v.to_vec(), [b, c, h, w]), &Self::device());
        self.net
            .forward(x, labels)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default()
    }

    /// Writes the layer's two files into the model folder `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        super::folder::save(dir, FILE_PREFIX, &self.net, &self.info)
    }

    /// Reads the layer saved in the model folder `dir` (`crate::store::resolve_model_dir`
    /// turns `bundled:NAME` into one).
    pub fn open(dir: &Path) -> Result<Self, String> {
        let (weights, info) = super::folder::read(dir, FILE_PREFIX, "an additional-layer")?;
        let name = dir.display().to_string();
        let info: AddLayerInfo = super::folder::parse_info(&info, &name)?;
        if info.classes == 0 || info.width == 0 || info.shape[1] < LATENT_SIDE {
            return Err(format!(
                "{name}: add_layer.info.json describes no usable layer"
            ));
        }
        let net = AddLayerNet::new(info.shape, info.classes, info.width, &Self::device());
        let net = super::folder::load_weights(net, weights, &name)?;
        Ok(Self { net, info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::{AdamConfig, GradientsParams};

    /// One Adam step on a loss that only class 0's sample sees moves class 0's map and leaves
    /// class 1's as it was: each class has its own linear map.
    #[test]
    fn each_class_trains_its_own_map() {
        let device = Device::flex().autodiff();
        let mut net = AddLayerNet::new([1, 16, 16], 2, 4, &device);
        let v: Vec<f32> = (0..256)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let x = |b: usize| {
            let data: Vec<f32> = (0..b).flat_map(|_| v.clone()).collect();
            Tensor::<4>::from_data(TensorData::new(data, [b, 1, 16, 16]), &device)
        };
        let before = net
            .forward(x(2), &[0, 1])
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert_eq!(
            before[..256],
            before[256..],
            "both maps start as the identity"
        );
        let loss = net.forward(x(1), &[0]).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        let mut optim = AdamConfig::new().init();
        net = optim.step(1e-2, net, grads);
        let after = net
            .forward(x(2), &[0, 1])
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let diff = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max)
        };
        assert!(
            diff(&after[..256], &after[256..]) > 1e-4,
            "the maps differ now"
        );
    }
}
