//! Seed 004's trade-off of classifier-free guidance, measured: for each weight w, sample every
//! class from the same x_T, then ask the app's classifier how often it recognises the class
//! that was asked for, and how far the samples of each class lie from the held-out images of
//! that class (FID on the classifier's features). Larger w: higher accuracy, less variety.

use super::stats::{fid, inception_score};
use super::{ClassifierError, Embedding, FEATURES, FeatureNet, feature_note};
use crate::diffusion::{SamplerKind, SamplerPlan};
use crate::sampling::{ChainSpec, Denoiser, Guidance, sample_batched};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The weights of the and seed 004's curve.
pub const GUIDANCE_WEIGHTS: [f64; 6] = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0];

/// The scales γ of classifier guidance's curve.
pub const GUIDANCE_GAMMAS: [f64; 6] = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Which guidance the curve sweeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuidanceAxis {
    /// Classifier-free guidance's weight w (a class-conditional model).
    #[default]
    Cfg,
    /// Classifier guidance's scale γ (any model with a noisy classifier on its denoiser;
    /// seed 001 Alg. 4).
    Classifier,
}

impl GuidanceAxis {
    /// The swept parameter's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            GuidanceAxis::Cfg => "w",
            GuidanceAxis::Classifier => "γ",
        }
    }
}

/// One weight's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuidancePoint {
    /// The guidance weight w, or the scale γ on a classifier-guidance curve.
    pub w: f64,
    /// Fraction of samples the classifier assigns to the class asked for.
    pub accuracy: f64,
    /// The same per class.
    pub class_accuracy: Vec<f64>,
    /// Mean over classes of the FID of a class's samples against the held-out images of that
    /// class.
    pub class_fid: f64,
    /// FID of all samples (every class equally often) against all held-out images.
    pub fid: f64,
    /// Inception score (the classifier's) of all samples.
    pub is: f64,
    /// Seconds to draw the samples.
    pub seconds: f64,
}

/// The whole curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuidanceCurve {
    /// What the points sweep (absent in curves written before γ was measured: w).
    #[serde(default)]
    pub axis: GuidanceAxis,
    /// The data set of the classifier.
    pub data: String,
    /// Which features the FIDs use.
    pub features: String,
    /// The sampler, e.g. "DDIM S=25 η=0".
    pub sampler: String,
    /// Samples per class at each weight.
    pub per_class: usize,
    /// Classes of the model.
    pub classes: usize,
    /// Seed of x_T (the same for every weight).
    pub seed: u64,
    /// One point per weight.
    pub points: Vec<GuidancePoint>,
}

impl GuidanceCurve {
    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{}, {} per class × {} classes, {}, seed {} ({})\n\
             {:>5}  {:>9}  {:>10}  {:>8}  {:>6}  {:>8}\n",
            match self.axis {
                GuidanceAxis::Cfg => "classifier-free guidance",
                GuidanceAxis::Classifier => "classifier guidance",
            },
            self.per_class,
            self.classes,
            self.sampler,
            self.seed,
            self.features,
            self.axis.symbol(),
            "accuracy",
            "class FID",
            "FID",
            "IS",
            "seconds"
        );
        for p in &self.points {
            s.push_str(&format!(
                "{:>5}  {:>8.1}%  {:>10.2}  {:>8.2}  {:>6.2}  {:>8.1}\n",
                p.w,
                100.0 * p.accuracy,
                p.class_fid,
                p.fid,
                p.is,
                p.seconds
            ));
        }
        s
    }

    /// CSV: w (or gamma),accuracy,class_fid,fid,is,seconds.
    pub fn csv(&self) -> String {
        let first = match self.axis {
            GuidanceAxis::Cfg => "w",
            GuidanceAxis::Classifier => "gamma",
        };
        let mut s = format!("{first},accuracy,class_fid,fid,is,seconds\n");
        for p in &self.points {
            s.push_str(&format!(
                "{},{:.6},{:.4},{:.4},{:.4},{:.2}\n",
                p.w, p.accuracy, p.class_fid, p.fid, p.is, p.seconds
            ));
        }
        s
    }
}

/// The held-out images of each class, embedded.
fn class_references(net: &FeatureNet, classes: usize) -> Result<Vec<Embedding>, ClassifierError> {
    let held = net.held_out()?;
    let labels = held
        .labels()
        .ok_or_else(|| ClassifierError::Data("the held-out images have no labels".into()))?;
    let shape = [held.channels(), held.height(), held.width()];
    (0..classes)
        .map(|c| {
            let images: Vec<f32> = labels
                .iter()
                .enumerate()
                .filter(|&(_, &l)| l as usize == c)
                .flat_map(|(i, _)| held.image(i).to_vec())
                .collect();
            net.embed(&images, shape, &mut |_, _| true)
        })
        .collect()
}

/// Measures the curve: for each of `weights` (w, or γ on the `Classifier` axis), `per_class`
/// samples of every class with `kind` from the same x_T (`seed`). `progress(done, total)`
/// counts samples and returns false to cancel (then Ok(None)).
#[allow(clippy::too_many_arguments)]
pub fn guidance_curve(
    den: &Denoiser<'_>,
    net: &FeatureNet,
    kind: SamplerKind,
    axis: GuidanceAxis,
    weights: &[f64],
    per_class: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<GuidanceCurve>, String> {
    let classes = match axis {
        GuidanceAxis::Cfg => den.num_classes(),
        GuidanceAxis::Classifier => den
            .classifier()
            .map(|c| c.info.classes.len())
            .ok_or("classifier guidance needs a noisy classifier")?,
    };
    if classes == 0 {
        return Err(crate::diffusion::guidance::GuidanceError::Unconditional.to_string());
    }
    if classes != net.classes() {
        return Err(format!(
            "the model has {classes} classes but the {} classifier has {}",
            net.info.data,
            net.classes()
        ));
    }
    if per_class < 2 {
        return Err(format!(
            "need at least 2 samples per class, got {per_class}"
        ));
    }
    for &w in weights {
        crate::diffusion::guidance::check_weight(axis.symbol(), w).map_err(|e| e.to_string())?;
    }
    let plan = SamplerPlan::new(den.table, kind).map_err(|e| e.to_string())?;
    let refs = class_references(net, classes).map_err(|e| e.to_string())?;
    let all_ref = Embedding {
        features: refs.iter().flat_map(|e| e.features.clone()).collect(),
        probs: refs.iter().flat_map(|e| e.probs.clone()).collect(),
        n: refs.iter().map(|e| e.n).sum(),
    };
    let n = classes * per_class;
    let total = n * weights.len();
    let never = AtomicBool::new(false);
    let mut points = Vec::new();
    for (k, &w) in weights.iter().enumerate() {
        let mut spec = ChainSpec::new(plan.clone(), n, seed, true);
        spec.guidance = Some(match axis {
            GuidanceAxis::Cfg => Guidance::rows_of_classes(n, per_class, classes, w),
            GuidanceAxis::Classifier => Guidance {
                gamma: w,
                ..Guidance::rows_of_classes(n, per_class, classes, 0.0)
            },
        });
        let start = Instant::now();
        let Some(x) = sample_batched(den, &spec, 128, &never, &mut |d, _| {
            progress(k * n + d, total)
        }) else {
            return Ok(None);
        };
        let seconds = start.elapsed().as_secs_f64();
        let emb = net
            .embed(&x, den.shape, &mut |_, _| true)
            .map_err(|e| e.to_string())?;
        let mut class_accuracy = Vec::with_capacity(classes);
        let mut class_fids = Vec::with_capacity(classes);
        for (c, reference) in refs.iter().enumerate() {
            let part = emb.rows(c * per_class..(c + 1) * per_class, classes);
            let hits = part
                .probs
                .chunks_exact(classes)
                .filter(|p| argmax(p) == c)
                .count();
            class_accuracy.push(hits as f64 / per_class as f64);
            class_fids.push(fid(&part.features, &reference.features, FEATURES));
        }
        points.push(GuidancePoint {
            w,
            accuracy: class_accuracy.iter().sum::<f64>() / classes as f64,
            class_accuracy,
            class_fid: class_fids.iter().sum::<f64>() / classes as f64,
            fid: fid(&emb.features, &all_ref.features, FEATURES),
            is: inception_score(&emb.probs, classes),
            seconds,
        });
    }
    progress(total, total);
    Ok(Some(GuidanceCurve {
        axis,
        data: net.info.data.clone(),
        features: feature_note(&net.info.data),
        sampler: crate::sampling::export::sampler_label(&kind),
        per_class,
        classes,
        seed,
        points,
    }))
}

/// The index of the largest value.
fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}
