//! `diffusion-lab bench guidance`: seed 004's trade-off curve of classifier-free guidance for a
//! class-conditional checkpoint: for each w, the classifier's accuracy on the class asked for
//! and the FID of each class's samples against the held-out images of that class. With
//! `--classifier`, the same curve over classifier guidance's γ (seed 001 Alg. 4), for any
//! model.

use super::CliError;
use super::score::progress_line;
use crate::diffusion::{SamplerKind, Spacing};
use crate::metrics::{
    GUIDANCE_GAMMAS, GUIDANCE_WEIGHTS, GuidanceAxis, classifier_for, guidance_curve,
};
use crate::sampling::export::Weights;
use crate::sampling::job::LoadedModel;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// `diffusion-lab bench guidance`.
#[derive(Debug, Args)]
pub struct BenchGuidanceArgs {
    /// A class-conditional checkpoint folder, or `bundled:NAME` [default: bundled:mnist-cond;
    /// with --classifier: bundled:mnist-canonical].
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<String>,
    /// Sweep classifier guidance's γ with this noisy classifier (a folder, or
    /// `bundled:mnist-noisy`) instead of classifier-free guidance's w.
    #[arg(long, value_name = "DIR")]
    pub classifier: Option<PathBuf>,
    /// The scales γ to measure with --classifier, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = GUIDANCE_GAMMAS.to_vec(), allow_negative_numbers = true)]
    pub gamma: Vec<f64>,
    /// Samples per class at each w.
    #[arg(long, default_value_t = 100)]
    pub per_class: usize,
    /// DDIM steps (η = 0, trailing spacing).
    #[arg(long, default_value_t = 25)]
    pub steps: usize,
    /// The weights w to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = GUIDANCE_WEIGHTS.to_vec(), allow_negative_numbers = true)]
    pub w: Vec<f64>,
    /// Seed of x_T (the same for every w).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the curve as CSV (w,accuracy,class_fid,fid,is,seconds).
    #[arg(long, value_name = "curve.csv")]
    pub csv: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `diffusion-lab bench guidance`.
pub fn bench_guidance(a: &BenchGuidanceArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if !(2..=1000).contains(&a.per_class) {
        return Err(CliError::usage(format!(
            "--per-class must be 2..=1000, got {}",
            a.per_class
        )));
    }
    if !(1..=1000).contains(&a.steps) {
        return Err(CliError::usage(format!(
            "--steps must be 1..=1000, got {}",
            a.steps
        )));
    }
    let default_model = if a.classifier.is_some() {
        crate::store::DEFAULT_MODEL
    } else {
        crate::store::COND_MODEL
    };
    let spec = a
        .checkpoint
        .clone()
        .unwrap_or_else(|| format!("bundled:{default_model}"));
    let dir = crate::store::resolve_model_dir(&spec).map_err(CliError::usage)?;
    let model = LoadedModel::load(&dir, "checkpoint").map_err(CliError::usage)?;
    let net = classifier_for(&model.config.data).map_err(CliError::usage)?;
    let noisy = match &a.classifier {
        Some(p) => Some(std::sync::Arc::new(
            crate::model::NoisyClassifier::open(p).map_err(CliError::usage)?,
        )),
        None => None,
    };
    let (axis, values) = if noisy.is_some() {
        (GuidanceAxis::Classifier, a.gamma.clone())
    } else {
        (GuidanceAxis::Cfg, a.w.clone())
    };
    let den = model.denoiser(Weights::Ema).with_classifier(noisy);
    let kind = SamplerKind::Ddim {
        steps: a.steps,
        eta: 0.0,
        spacing: Spacing::Trailing,
    };
    let curve = guidance_curve(
        &den,
        &net,
        kind,
        axis,
        &values,
        a.per_class,
        a.seed,
        &mut progress_line("sampling"),
    )
    .map_err(CliError::usage)?
    .ok_or_else(|| CliError::failure("cancelled"))?;
    if let Some(p) = &a.csv {
        crate::fs::write_atomic(p, |f| f.write_all(curve.csv().as_bytes()))
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", p.display())))?;
    }
    let text = if a.json {
        serde_json::to_string_pretty(&curve).map_err(|e| CliError::failure(e.to_string()))? + "\n"
    } else {
        format!(
            "{} on {}\n{}",
            model.label,
            model.device_label,
            curve.table()
        )
    };
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::failure(e.to_string()))
}
