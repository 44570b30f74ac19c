//! The feature network of the quality metrics: a small CNN classifier per labelled data set,
//! trained by the app (`diffusion-lab classifier train --data mnist`) on a fixed split. Its
//! penultimate layer gives the features of FID, KID and precision/recall; its softmax gives
//! the Inception Score and the class histogram.
//!
//! Architecture (28×28 gray): conv3×3(C→32) ReLU maxpool2 → conv3×3(32→64) ReLU maxpool2 →
//! flatten → linear(64·(S/4)² → 128) ReLU = the features → dropout → linear(128 → classes).

use crate::data::Dataset;
use crate::diffusion::Rng;
use crate::model::init_seeded;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Width of the feature vector (the penultimate layer).
pub const FEATURES: usize = 128;

/// Held-out fraction of the classifier's split (also the metrics' reference images).
pub const HELD_OUT_FRACTION: f64 = 0.2;

/// Seed of the classifier's train / held-out split.
pub const SPLIT_SEED: u64 = 20_261_206;

/// What a classifier was trained on and how well it does; stored as `info.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierInfo {
    /// The bundled data set's name.
    pub data: String,
    /// [C, H, W] of its input.
    pub shape: [usize; 3],
    /// Class names.
    pub classes: Vec<String>,
    /// Images it was trained on.
    pub train_images: usize,
    /// Held-out images its accuracy is measured on.
    pub held_out_images: usize,
    /// The split: `Dataset::split(held_out_fraction, split_seed)`.
    pub held_out_fraction: f64,
    /// The split's seed.
    pub split_seed: u64,
    /// Accuracy on the held-out images.
    pub held_out_accuracy: f64,
    /// Training epochs.
    pub epochs: usize,
    /// Seed of the weights, the batches and the augmentation.
    pub seed: u64,
}

/// The classifier network.
#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    dropout: Dropout,
    fc2: Linear,
}

impl Classifier {
    /// A fresh network for [C, H, W] images (H = W ≥ 4) and `classes` classes.
    pub fn new(shape: [usize; 3], classes: usize, device: &Device) -> Self {
        let [c, h, w] = shape;
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(c, 32),
            conv2: conv(32, 64),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(64 * (h / 4) * (w / 4), FEATURES).init(device),
            dropout: DropoutConfig::new(0.3).init(),
            fc2: LinearConfig::new(FEATURES, classes).init(device),
        }
    }

    /// x [B, C, H, W] in [−1, 1] → features [B, FEATURES].
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.pool.forward(relu(self.conv1.forward(x)));
        let h = self.pool.forward(relu(self.conv2.forward(h)));
        let [b, c, hh, ww] = h.dims();
        relu(self.fc1.forward(h.reshape([b, c * hh * ww])))
    }

    /// x [B, C, H, W] → logits [B, classes].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc2.forward(self.dropout.forward(self.features(x)))
    }
}

/// A trained classifier ready to embed images.
#[derive(Debug)]
pub struct FeatureNet {
    /// The network (inference, no autodiff).
    pub net: Classifier,
    /// What it was trained on.
    pub info: ClassifierInfo,
    device: Device,
}

/// What a set of images looks like to the classifier.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embedding {
    /// Features, [n, FEATURES] row-major.
    pub features: Vec<f64>,
    /// Class probabilities, [n, classes] row-major.
    pub probs: Vec<f64>,
    /// Rows.
    pub n: usize,
}

impl Embedding {
    /// The rows `range` of this embedding.
    pub fn rows(&self, range: std::ops::Range<usize>, classes: usize) -> Embedding {
        Embedding {
            features: self.features[range.start * FEATURES..range.end * FEATURES].to_vec(),
            probs: self.probs[range.start * classes..range.end * classes].to_vec(),
            n: range.len(),
        }
    }
}

/// Errors of the classifier.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// No weights for this data set.
    #[error(
        "no classifier for data set `{0}` (bundled: mnist, fashion-mnist); train one with \
         `diffusion-lab classifier train --data {0}`"
    )]
    Missing(String),
    /// Unreadable weights or info.
    #[error("the classifier in {path} is unreadable: {reason}")]
    Corrupt {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// Images of the wrong shape.
    #[error("images are {got:?} (C, H, W) but the {data} classifier takes {want:?}")]
    Shape {
        /// The data set.
        data: String,
        /// What it takes.
        want: [usize; 3],
        /// What it got.
        got: [usize; 3],
    },
    /// Data problems (no labels, too few images).
    #[error("{0}")]
    Data(String),
    /// Cancelled by the user.
    #[error("cancelled")]
    Cancelled,
}

/// The classifiers compiled into the binary: (data set, weights, info.json).
const EMBEDDED: &[(&str, &[u8], &str)] = &[
    (
        "mnist",
        include_bytes!("../../assets/classifiers/mnist/weights.bpk"),
        include_str!("../../assets/classifiers/mnist/info.json"),
    ),
    (
        "fashion-mnist",
        include_bytes!("../../assets/classifiers/fashion-mnist/weights.bpk"),
        include_str!("../../assets/classifiers/fashion-mnist/info.json"),
    ),
];

impl FeatureNet {
    /// The bundled classifier of data set `name`, on the CPU.
    pub fn bundled(name: &str) -> Result<Self, ClassifierError> {
        let (_, weights, info) = EMBEDDED
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| ClassifierError::Missing(name.to_owned()))?;
        Self::from_bytes(weights, info, &format!("(bundled {name})"))
    }

    /// A classifier saved by [`save`] in folder `dir`.
    pub fn load(dir: &Path) -> Result<Self, ClassifierError> {
        let read = |f: &str| {
            std::fs::read(dir.join(f)).map_err(|e| ClassifierError::Corrupt {
                path: dir.join(f).display().to_string(),
                reason: e.to_string(),
            })
        };
        let weights = read("weights.bpk")?;
        let info = String::from_utf8_lossy(&read("info.json")?).into_owned();
        Self::from_bytes(&weights, &info, &dir.display().to_string())
    }

    fn from_bytes(weights: &[u8], info: &str, path: &str) -> Result<Self, ClassifierError> {
        let corrupt = |reason: String| ClassifierError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let info: ClassifierInfo =
            serde_json::from_str(info).map_err(|e| corrupt(format!("info.json: {e}")))?;
        let device = Device::flex();
        let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(
            weights.to_vec(),
        ))
        .map_err(|e| corrupt(format!("weights.bpk: {e}")))?
        .cast_to_module_dtype();
        let net = Classifier::new(info.shape, info.classes.len(), &device)
            .try_load_record(record)
            .map_err(|e| corrupt(format!("weights.bpk does not match info.json: {e}")))?;
        Ok(Self { net, info, device })
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.info.classes.len()
    }

    /// Embeds `n` images (flat [n, C, H, W] in [−1, 1]) in batches of 256. Non-finite
    /// pixels must be removed first. `progress(done, n)` returns false to cancel.
    pub fn embed(
        &self,
        images: &[f32],
        shape: [usize; 3],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Embedding, ClassifierError> {
        if shape != self.info.shape {
            return Err(ClassifierError::Shape {
                data: self.info.data.clone(),
                want: self.info.shape,
                got: shape,
            });
        }
        let pixels: usize = shape.iter().product();
        let n = images.len() / pixels;
        let mut out = Embedding {
            n,
            ..Embedding::default()
        };
        for start in (0..n).step_by(256) {
            if !progress(start, n) {
                return Err(ClassifierError::Cancelled);
            }
            let b = (n - start).min(256);
            let x = Tensor::<4>::from_data(
                TensorData::new(
                    images[start * pixels..(start + b) * pixels].to_vec(),
                    [b, shape[0], shape[1], shape[2]],
                ),
                &self.device,
            );
            let f = self.net.features(x); // [b, FEATURES]
            let p = softmax(self.net.fc2.forward(f.clone()), 1); // [b, classes]
            let to_vec = |t: Tensor<2>| -> Vec<f64> {
                t.into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap_or_default()
                    .into_iter()
                    .map(f64::from)
                    .collect()
            };
            out.features.extend(to_vec(f));
            out.probs.extend(to_vec(p));
        }
        progress(n, n);
        Ok(out)
    }

    /// The held-out images of the data set this classifier was trained on (never seen by it).
    pub fn held_out(&self) -> Result<Dataset, ClassifierError> {
        let data = crate::data::bundled(&self.info.data)
            .map_err(|e| ClassifierError::Data(e.to_string()))?;
        data.split(self.info.held_out_fraction, self.info.split_seed)
            .map(|(_, held)| held)
            .map_err(|e| ClassifierError::Data(e.to_string()))
    }
}

/// How to train a classifier.
#[derive(Clone, Debug)]
pub struct ClassifierTrainConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Adam's learning rate (cosine-decayed to 5% over the run).
    pub lr: f64,
    /// Seed of the weights, the batch order and the augmentation.
    pub seed: u64,
}

impl Default for ClassifierTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 8,
            batch: 64,
            lr: 2e-3,
            seed: 0,
        }
    }
}

/// Shifts a [C, H, W] image by (dy, dx) pixels, filling with the background value −1.
fn shift(img: &[f32], shape: [usize; 3], dy: i64, dx: i64, out: &mut Vec<f32>) {
    let [c, h, w] = shape;
    for ch in 0..c {
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let (sy, sx) = (y - dy, x - dx);
                let inside = sy >= 0 && sx >= 0 && sy < h as i64 && sx < w as i64;
                out.push(if inside {
                    img[ch * h * w + sy as usize * w + sx as usize]
                } else {
                    -1.0
                });
            }
        }
    }
}

/// Trains a classifier on the training part of `data`'s fixed split (random shifts of up to
/// 2 pixels as augmentation) and measures it on the held-out part. `progress(epoch, epochs,
/// accuracy so far)` is called after each epoch and returns false to cancel.
pub fn train_classifier(
    data: &Dataset,
    cfg: &ClassifierTrainConfig,
    progress: &mut dyn FnMut(usize, usize, f64) -> bool,
) -> Result<FeatureNet, ClassifierError> {
    let classes = match (data.labels(), data.classes()) {
        (Some(_), Some(c)) => c.to_vec(),
        _ => {
            return Err(ClassifierError::Data(format!(
                "data set `{}` has no labels; a classifier needs labelled images",
                data.name()
            )));
        }
    };
    let shape = [data.channels(), data.height(), data.width()];
    if shape[1] < 4 || shape[1] != shape[2] {
        return Err(ClassifierError::Data(format!(
            "the classifier needs square images of at least 4×4, got {}×{}",
            shape[2], shape[1]
        )));
    }
    let (train, held) = data
        .split(HELD_OUT_FRACTION, SPLIT_SEED)
        .map_err(|e| ClassifierError::Data(e.to_string()))?;
    let train_labels = train.labels().unwrap_or_default().to_vec();
    let device = Device::flex().autodiff();
    let mut net = init_seeded(&device, cfg.seed, || {
        Classifier::new(shape, classes.len(), &device)
    });
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = Rng::stream(cfg.seed, 31);
    let pixels: usize = shape.iter().product();
    let n = train.len();
    let steps_per_epoch = n.div_ceil(cfg.batch);
    let total = (steps_per_epoch * cfg.epochs).max(1);
    let mut step = 0usize;
    let mut accuracy = f64::NAN;
    for epoch in 0..cfg.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for chunk in order.chunks(cfg.batch) {
            let mut xs = Vec::with_capacity(chunk.len() * pixels);
            let mut ys = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let (dy, dx) = (rng.below(5) as i64 - 2, rng.below(5) as i64 - 2);
                shift(train.image(i), shape, dy, dx, &mut xs);
                ys.push(i64::from(train_labels[i]));
            }
            let b = chunk.len();
            let x = Tensor::<4>::from_data(
                TensorData::new(xs, [b, shape[0], shape[1], shape[2]]),
                &device,
            );
            let y = Tensor::<1, Int>::from_data(TensorData::new(ys, [b]), &device);
            let loss = loss_fn.forward(net.forward(x), y);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(crate::model::cosine_lr(cfg.lr, step, total), net, grads);
            step += 1;
        }
        let fnet = FeatureNet {
            net: net.valid(),
            info: ClassifierInfo {
                data: data.name().to_owned(),
                shape,
                classes: classes.clone(),
                train_images: train.len(),
                held_out_images: held.len(),
                held_out_fraction: HELD_OUT_FRACTION,
                split_seed: SPLIT_SEED,
                held_out_accuracy: f64::NAN,
                epochs: cfg.epochs,
                seed: cfg.seed,
            },
            device: Device::flex(),
        };
        accuracy = fnet.accuracy(&held)?;
        if !progress(epoch + 1, cfg.epochs, accuracy) {
            return Err(ClassifierError::Cancelled);
        }
    }
    let mut fnet = FeatureNet {
        net: net.valid(),
        info: ClassifierInfo {
            data: data.name().to_owned(),
            shape,
            classes,
            train_images: train.len(),
            held_out_images: held.len(),
            held_out_fraction: HELD_OUT_FRACTION,
            split_seed: SPLIT_SEED,
            held_out_accuracy: accuracy,
            epochs: cfg.epochs,
            seed: cfg.seed,
        },
        device: Device::flex(),
    };
    fnet.info.held_out_accuracy = fnet.accuracy(&held)?;
    Ok(fnet)
}

impl FeatureNet {
    /// The fraction of `data`'s labelled images this classifier gets right.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64, ClassifierError> {
        let labels = data
            .labels()
            .ok_or_else(|| ClassifierError::Data("the images have no labels".into()))?;
        let shape = [data.channels(), data.height(), data.width()];
        let emb = self.embed(data.data(), shape, &mut |_, _| true)?;
        let hist_right = emb
            .probs
            .chunks_exact(self.classes())
            .zip(labels)
            .filter(|(p, l)| {
                p.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .is_some_and(|(i, _)| i == **l as usize)
            })
            .count();
        Ok(hist_right as f64 / data.len().max(1) as f64)
    }

    /// Writes `weights.bpk` and `info.json` into `dir` (atomically, each).
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ClassifierError> {
        let fail = |reason: String| ClassifierError::Corrupt {
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let bytes = self
            .net
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| fail(format!("cannot encode the weights: {e}")))?;
        crate::fs::write_atomic(&dir.join("weights.bpk"), |w| w.write_all(&bytes))
            .map_err(|e| fail(e.to_string()))?;
        let info = serde_json::to_string_pretty(&self.info).map_err(|e| fail(e.to_string()))?;
        crate::fs::write_atomic(&dir.join("info.json"), |w| w.write_all(info.as_bytes()))
            .map_err(|e| fail(e.to_string()))?;
        Ok(dir.to_owned())
    }
}
