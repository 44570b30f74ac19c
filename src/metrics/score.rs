//! The quality table: FID, IS, KID, precision/recall and the class histogram of sample sets
//! against the classifier's held-out real images, with the reference rows shown next to every
//! result (real vs real at the same n, Gaussian noise, blurred real images).

use super::classifier::{ClassifierError, Embedding, FEATURES, FeatureNet};
use super::stats::{class_histogram, fid, inception_score, kid, mean_std, precision_recall};
use crate::diffusion::Rng;
use serde::{Deserialize, Serialize};

/// k of the k-NN manifolds of precision and recall (Kynkäänniemi et al. 2019).
pub const PR_K: usize = 3;
/// Disjoint blocks KID is averaged over (its standard error comes from their spread).
pub const KID_BLOCKS: usize = 10;

/// The label every figure carries.
pub fn feature_note(data: &str) -> String {
    format!("{data}-classifier features, not comparable with Inception FID")
}

/// A figure over seeds: mean and sample standard deviation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Mean over the seeds.
    pub mean: f64,
    /// Standard deviation over the seeds (0 for one seed).
    pub std: f64,
}

impl Figure {
    fn of(v: &[f64]) -> Self {
        let (mean, std) = mean_std(v);
        Self { mean, std }
    }

    /// "12.34 ± 0.56" with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!("{:.digits$} ± {:.digits$}", self.mean, self.std)
    }
}

/// One line of the table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// What was scored ("samples", "real (floor)", "Gaussian noise", "blurred real").
    pub label: String,
    /// Images per seed.
    pub n: usize,
    /// Seeds (sets) the figures are taken over.
    pub seeds: usize,
    /// FID against the reference images (squared Fréchet distance).
    pub fid: Figure,
    /// Inception Score (with the classifier).
    pub is: Figure,
    /// KID (unbiased MMD², cubic kernel).
    pub kid: Figure,
    /// KID's standard error within one set (mean over the seeds).
    pub kid_se: f64,
    /// Precision (k = 3).
    pub precision: Figure,
    /// Recall (k = 3).
    pub recall: Figure,
    /// Images per predicted class, summed over the seeds.
    pub histogram: Vec<usize>,
    /// Samples left out because they hold NaN or ±∞ (summed over the seeds).
    pub non_finite: usize,
}

/// The whole table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    /// The data set of the classifier and the reference images.
    pub data: String,
    /// "… features, not comparable with Inception FID".
    pub features: String,
    /// The classifier's held-out accuracy.
    pub classifier_accuracy: f64,
    /// Reference images the sets are compared with.
    pub reference_n: usize,
    /// What produced the samples (sampler, steps, checkpoint …).
    pub source: String,
    /// The rows: the samples first, then the reference rows.
    pub rows: Vec<ScoreRow>,
}

impl ScoreReport {
    /// The plain-text table the CLI prints.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{} · {} reference images · classifier accuracy {:.2}% · {}\n",
            self.features,
            self.reference_n,
            100.0 * self.classifier_accuracy,
            self.source
        );
        s += &format!(
            "{:<16} {:>6} {:>5} {:>18} {:>14} {:>20} {:>14} {:>14}\n",
            "set", "n", "seeds", "FID", "IS", "KID", "precision", "recall"
        );
        for r in &self.rows {
            s += &format!(
                "{:<16} {:>6} {:>5} {:>18} {:>14} {:>20} {:>14} {:>14}\n",
                r.label,
                r.n,
                r.seeds,
                r.fid.show(2),
                r.is.show(2),
                format!("{} (se {:.2})", r.kid.show(2), r.kid_se),
                r.precision.show(3),
                r.recall.show(3),
            );
        }
        for r in &self.rows {
            s += &format!(
                "{:<16} classes {:?}{}\n",
                r.label,
                r.histogram,
                if r.non_finite > 0 {
                    format!(" · {} non-finite samples left out", r.non_finite)
                } else {
                    String::new()
                }
            );
        }
        s
    }
}

/// The held-out real images, embedded once: `reference` is what every set is compared
/// with, `pool` (disjoint from it) gives the real-vs-real floor and the blurred row.
#[derive(Debug)]
pub struct Reference {
    /// The compared-with images' embedding.
    pub reference: Embedding,
    /// The pool's images (flat [n, C, H, W]).
    pub pool_images: Vec<f32>,
    /// The pool's embedding.
    pub pool: Embedding,
    /// [C, H, W].
    pub shape: [usize; 3],
}

impl Reference {
    /// Splits the classifier's held-out images in two fixed halves and embeds both.
    pub fn new(net: &FeatureNet) -> Result<Self, ClassifierError> {
        let held = net.held_out()?;
        let shape = [held.channels(), held.height(), held.width()];
        let mut order: Vec<usize> = (0..held.len()).collect();
        let mut rng = Rng::seed(0x5EED_0F4E);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let half = order.len() / 2;
        let gather = |idx: &[usize]| -> Vec<f32> {
            idx.iter().flat_map(|&i| held.image(i).to_vec()).collect()
        };
        let (ref_images, pool_images) = (gather(&order[..half]), gather(&order[half..]));
        let reference = net.embed(&ref_images, shape, &mut |_, _| true)?;
        let pool = net.embed(&pool_images, shape, &mut |_, _| true)?;
        Ok(Self {
            reference,
            pool_images,
            pool,
            shape,
        })
    }
}

/// The figures of one set of embedded images against the reference.
struct SetFigures {
    fid: f64,
    is: f64,
    kid: f64,
    kid_se: f64,
    precision: f64,
    recall: f64,
    histogram: Vec<usize>,
}

fn set_figures(emb: &Embedding, reference: &Embedding, classes: usize) -> SetFigures {
    let (kid_v, kid_se) = kid(&emb.features, &reference.features, FEATURES, KID_BLOCKS);
    let (precision, recall) = precision_recall(&reference.features, &emb.features, FEATURES, PR_K);
    SetFigures {
        fid: fid(&emb.features, &reference.features, FEATURES),
        is: inception_score(&emb.probs, classes),
        kid: kid_v,
        kid_se,
        precision,
        recall,
        histogram: class_histogram(&emb.probs, classes),
    }
}

/// One row from the embeddings of several seeds' sets.
pub fn score_row(
    label: &str,
    sets: &[Embedding],
    reference: &Embedding,
    classes: usize,
    non_finite: usize,
) -> ScoreRow {
    let figs: Vec<SetFigures> = sets
        .iter()
        .filter(|e| e.n >= 2)
        .map(|e| set_figures(e, reference, classes))
        .collect();
    let pick = |f: fn(&SetFigures) -> f64| Figure::of(&figs.iter().map(f).collect::<Vec<_>>());
    let mut histogram = vec![0; classes];
    for f in &figs {
        histogram
            .iter_mut()
            .zip(&f.histogram)
            .for_each(|(h, v)| *h += v);
    }
    ScoreRow {
        label: label.to_owned(),
        n: sets.first().map_or(0, |e| e.n),
        seeds: figs.len(),
        fid: pick(|f| f.fid),
        is: pick(|f| f.is),
        kid: pick(|f| f.kid),
        kid_se: figs.iter().map(|f| f.kid_se).sum::<f64>() / figs.len().max(1) as f64,
        precision: pick(|f| f.precision),
        recall: pick(|f| f.recall),
        histogram,
        non_finite,
    }
}

/// Drops the images holding a non-finite value; returns the kept images and how many were
/// dropped.
pub fn finite_images(images: &[f32], pixels: usize) -> (Vec<f32>, usize) {
    let mut kept = Vec::with_capacity(images.len());
    let mut dropped = 0;
    for img in images.chunks_exact(pixels) {
        if img.iter().all(|v| v.is_finite()) {
            kept.extend_from_slice(img);
        } else {
            dropped += 1;
        }
    }
    (kept, dropped)
}

/// A separable Gaussian blur (σ in pixels, radius ⌈3σ⌉, edges clamped) of [C, H, W] images.
pub fn blur(images: &[f32], shape: [usize; 3], sigma: f64) -> Vec<f32> {
    let [_, h, w] = shape;
    let r = (3.0 * sigma).ceil() as i64;
    let kernel: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f64 = kernel.iter().sum();
    let at = |v: i64, n: usize| v.clamp(0, n as i64 - 1) as usize;
    let mut out = images.to_vec();
    let mut tmp = vec![0f32; h * w];
    for plane in out.chunks_exact_mut(h * w) {
        for y in 0..h {
            for x in 0..w {
                let s: f64 = (-r..=r)
                    .zip(&kernel)
                    .map(|(d, k)| k * f64::from(plane[y * w + at(x as i64 + d, w)]))
                    .sum();
                tmp[y * w + x] = (s / norm) as f32;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let s: f64 = (-r..=r)
                    .zip(&kernel)
                    .map(|(d, k)| k * f64::from(tmp[at(y as i64 + d, h) * w + x]))
                    .sum();
                plane[y * w + x] = (s / norm) as f32;
            }
        }
    }
    out
}

/// `n` random images of the pool (seeded), as an embedding and as pixels.
fn pool_draw(rf: &Reference, n: usize, seed: u64, classes: usize) -> (Embedding, Vec<f32>) {
    let pixels: usize = rf.shape.iter().product();
    let total = rf.pool.n;
    let mut order: Vec<usize> = (0..total).collect();
    let mut rng = Rng::stream(seed, 41);
    for i in (1..total).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let picked = &order[..n.min(total)];
    let mut emb = Embedding {
        n: picked.len(),
        ..Embedding::default()
    };
    let mut images = Vec::with_capacity(picked.len() * pixels);
    for &i in picked {
        emb.features
            .extend_from_slice(&rf.pool.features[i * FEATURES..(i + 1) * FEATURES]);
        emb.probs
            .extend_from_slice(&rf.pool.probs[i * classes..(i + 1) * classes]);
        images.extend_from_slice(&rf.pool_images[i * pixels..(i + 1) * pixels]);
    }
    (emb, images)
}

/// The reference rows at `n` images over `seeds` seeds (from `seed` on): real vs real (the
/// floor; capped at the pool's size), Gaussian noise, and real images blurred with σ = 1 px.
pub fn reference_rows(
    net: &FeatureNet,
    rf: &Reference,
    n: usize,
    seeds: usize,
    seed: u64,
) -> Result<Vec<ScoreRow>, ClassifierError> {
    let classes = net.classes();
    let pixels: usize = rf.shape.iter().product();
    let (mut real, mut noise, mut blurred) = (Vec::new(), Vec::new(), Vec::new());
    for s in 0..seeds as u64 {
        let (emb, images) = pool_draw(rf, n, seed + s, classes);
        real.push(emb);
        let b = blur(&images, rf.shape, 1.0);
        blurred.push(net.embed(&b, rf.shape, &mut |_, _| true)?);
        let mut rng = Rng::stream(seed + s, 43);
        let z: Vec<f32> = (0..n * pixels)
            .map(|_| (rng.normal() as f32).clamp(-1.0, 1.0))
            .collect();
        noise.push(net.embed(&z, rf.shape, &mut |_, _| true)?);
    }
    Ok(vec![
        score_row("real (floor)", &real, &rf.reference, classes, 0),
        score_row("Gaussian noise", &noise, &rf.reference, classes, 0),
        score_row("blurred real", &blurred, &rf.reference, classes, 0),
    ])
}

/// The bundled classifier of the data set a run was trained on.
pub fn classifier_for(data: &crate::config::DataSpec) -> Result<FeatureNet, ClassifierError> {
    match data {
        crate::config::DataSpec::Bundled { name, .. } => FeatureNet::bundled(name),
        other => Err(ClassifierError::Missing(other.label())),
    }
}

/// The whole table for sets of images (one per seed, flat [n, C, H, W]; non-finite images
/// already dropped and counted in `non_finite`): the samples' row, then the reference rows
/// at the same n over as many seeds. `progress(done, total)` covers the classifying and
/// returns false to cancel.
pub fn score_sets(
    net: &FeatureNet,
    sets: &[Vec<f32>],
    shape: [usize; 3],
    non_finite: usize,
    seed: u64,
    source: String,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<ScoreReport, ClassifierError> {
    if shape != net.info.shape {
        return Err(ClassifierError::Shape {
            data: net.info.data.clone(),
            want: net.info.shape,
            got: shape,
        });
    }
    let pixels: usize = shape.iter().product();
    let total: usize = sets.iter().map(|s| s.len() / pixels).sum();
    let reference = Reference::new(net)?;
    let mut embedded = Vec::new();
    let mut offset = 0;
    for set in sets {
        let emb = net.embed(set, shape, &mut |d, _| progress(offset + d, total))?;
        offset += emb.n;
        embedded.push(emb);
    }
    if embedded.iter().all(|e| e.n < 2) {
        return Err(ClassifierError::Data(format!(
            "fewer than 2 finite samples in every set ({non_finite} non-finite left out); \
             nothing to score"
        )));
    }
    let n = embedded.first().map_or(0, |e| e.n);
    let mut rows = vec![score_row(
        "samples",
        &embedded,
        &reference.reference,
        net.classes(),
        non_finite,
    )];
    rows.extend(reference_rows(net, &reference, n, embedded.len(), seed)?);
    Ok(ScoreReport {
        data: net.info.data.clone(),
        features: feature_note(&net.info.data),
        classifier_accuracy: net.info.held_out_accuracy,
        reference_n: reference.reference.n,
        source,
        rows,
    })
}
