//! `diffusion-lab score`: FID, IS, KID, precision/recall and the class histogram of a sample
//! set, next to the reference rows (real vs real, noise, blurred real), on the app's own
//! classifier features.

use super::args::{DdimSpacingArg, StrideRuleArg, check_learned_sampler};
use super::sample::SamplerArg;
use super::{CliError, io_err};
use crate::diffusion::{SamplerPlan, Spacing};
use crate::metrics::{FeatureNet, finite_images, score_sets};
use crate::sampling::export::{Weights, sampler_label};
use crate::sampling::job::LoadedModel;
use crate::sampling::{ChainSpec, sample_batched};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// `diffusion-lab score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The checkpoint to sample from (default: the bundled MNIST model).
    #[arg(long, value_name = "DIR", conflicts_with = "npy")]
    pub checkpoint: Option<PathBuf>,
    /// Score these samples instead (N×H×W or N×C×H×W float32 in [−1, 1], e.g. from
    /// `sample --npy` or the PyTorch anchor); needs --data.
    #[arg(long, value_name = "x.npy", requires = "data")]
    pub npy: Option<PathBuf>,
    /// The data set whose classifier and held-out images to use (default: the checkpoint's).
    #[arg(long)]
    pub data: Option<String>,
    /// The sampler.
    #[arg(long, value_enum, default_value_t = SamplerArg::Ddim)]
    pub sampler: SamplerArg,
    /// Sampling steps S (DDIM) or K (the strided samplers).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// DDIM's η, 0..=1.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub eta: f64,
    /// DDIM's timestep spacing.
    #[arg(long, value_enum, default_value_t = DdimSpacingArg::Trailing)]
    pub spacing: DdimSpacingArg,
    /// How the strided samplers (iddpm, iddpm-learned) round their K steps.
    #[arg(long, value_enum, default_value_t = StrideRuleArg::Floor)]
    pub stride_rule: StrideRuleArg,
    /// Samples per seed (2..=10000).
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub n: usize,
    /// Seeds to average over (mean ± std); default 5 for a checkpoint, 1 for --npy (more
    /// cut the file into that many equal sets).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// The first seed (seeds are seed, seed+1, …).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample with the raw weights instead of the EMA.
    #[arg(long)]
    pub raw: bool,
    /// Use this classifier folder (from `classifier train --out`) instead of the bundled one.
    #[arg(long, value_name = "DIR")]
    pub classifier: Option<PathBuf>,
    /// Also write the table as JSON.
    #[arg(long, value_name = "out.json")]
    pub json: Option<PathBuf>,
    /// Samples per network batch.
    #[arg(long, default_value_t = 250)]
    pub batch: usize,
    /// Round the weights to half precision (f16) first: what shipping them as f16 would do
    /// to the samples.
    #[arg(long)]
    pub f16: bool,
}

/// Loads the classifier of `data` (or the one in `dir`).
pub(crate) fn classifier(data: &str, dir: Option<&Path>) -> Result<FeatureNet, CliError> {
    match dir {
        Some(d) => FeatureNet::load(d),
        None => FeatureNet::bundled(data),
    }
    .map_err(CliError::usage)
}

/// A progress line on stderr (see [`crate::cli::progress`]).
pub(crate) fn progress_line(what: &str) -> impl FnMut(usize, usize) -> bool + '_ {
    let mut bar = crate::cli::progress::Progress::new(what, "done");
    move |done, total| {
        bar.update(done, total, "");
        true
    }
}

/// The data set a checkpoint was trained on, if it is a bundled one.
pub(crate) fn bundled_data_of(model: &LoadedModel) -> Option<String> {
    match &model.config.data {
        crate::config::DataSpec::Bundled { name, .. } => Some(name.clone()),
        _ => None,
    }
}

fn check_n(n: usize) -> Result<(), CliError> {
    if !(2..=10_000).contains(&n) {
        return Err(CliError::usage(format!(
            "--n must be 2..=10000 (a set needs at least 2 images), got {n}"
        )));
    }
    Ok(())
}

/// Runs `diffusion-lab score`.
pub fn run_score(a: &ScoreArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(0) = a.seeds {
        return Err(CliError::usage("--seeds must be at least 1"));
    }
    // With a file, the classifier is known up front: refuse an unknown data set first.
    let early = match (&a.npy, &a.data) {
        (Some(_), Some(d)) => Some(classifier(d, a.classifier.as_deref())?),
        _ => None,
    };
    let (data, sets, non_finite, shape, source) = match &a.npy {
        Some(p) => npy_sets(a, p)?,
        None => checkpoint_sets(a)?,
    };
    let net = match early {
        Some(net) => net,
        None => classifier(&data, a.classifier.as_deref())?,
    };
    if shape != net.info.shape {
        return Err(CliError::usage(format!(
            "the samples are {}×{}×{} (C×H×W) but the {} classifier takes {}×{}×{}",
            shape[0],
            shape[1],
            shape[2],
            data,
            net.info.shape[0],
            net.info.shape[1],
            net.info.shape[2]
        )));
    }
    eprintln!("embedding the held-out reference images, classifying the samples …");
    let report = score_sets(
        &net,
        &sets,
        shape,
        non_finite,
        a.seed,
        source,
        &mut progress_line("classifying"),
    )
    .map_err(CliError::failure)?;
    out.write_all(report.table().as_bytes()).map_err(io_err)?;
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(CliError::failure)?;
        crate::fs::write_atomic(p, |w| w.write_all(text.as_bytes()))
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", p.display())))?;
    }
    Ok(())
}

type Sets = (String, Vec<Vec<f32>>, usize, [usize; 3], String);

fn npy_sets(a: &ScoreArgs, path: &Path) -> Result<Sets, CliError> {
    let data = a.data.clone().unwrap_or_default();
    let (values, [len, c, h, w]) = crate::data::read_npy_samples(path).map_err(CliError::usage)?;
    let shape = [c, h, w];
    let pixels: usize = shape.iter().product();
    if len < 2 {
        return Err(CliError::usage(format!(
            "{} holds {len} image(s); a set needs at least 2",
            path.display(),
        )));
    }
    let (kept, non_finite) = finite_images(&values, pixels);
    let seeds = a.seeds.unwrap_or(1);
    let per = kept.len() / pixels / seeds;
    if per < 2 {
        return Err(CliError::usage(format!(
            "{} has {} finite images: too few for {seeds} sets of at least 2",
            path.display(),
            kept.len() / pixels
        )));
    }
    let sets = (0..seeds)
        .map(|s| kept[s * per * pixels..(s + 1) * per * pixels].to_vec())
        .collect();
    Ok((
        data,
        sets,
        non_finite,
        shape,
        format!("{} ({len} images)", path.display()),
    ))
}

fn checkpoint_sets(a: &ScoreArgs) -> Result<Sets, CliError> {
    check_n(a.n)?;
    if !(a.eta.is_finite() && (0.0..=1.0).contains(&a.eta)) {
        return Err(CliError::usage(format!(
            "--eta must be in 0..=1, got {}",
            a.eta
        )));
    }
    let dir = match &a.checkpoint {
        Some(p) => p.clone(),
        None => crate::store::bundled_model_dir()
            .ok_or_else(|| CliError::usage("no --checkpoint given and no bundled model found"))?,
    };
    let mut model = LoadedModel::load(&dir, "checkpoint").map_err(CliError::usage)?;
    if a.f16 {
        model.ema = crate::model::round_weights_to_f16(model.ema);
        model.raw = crate::model::round_weights_to_f16(model.raw);
    }
    let data = match (&a.data, bundled_data_of(&model)) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d,
        (None, None) => {
            return Err(CliError::usage(
                "the checkpoint was not trained on a bundled data set; name the classifier \
                 to use with --data mnist|fashion-mnist",
            ));
        }
    };
    let kind = a.sampler.kind_with_rule(
        a.steps,
        a.eta,
        Spacing::from(a.spacing),
        a.stride_rule.into(),
    );
    let plan = SamplerPlan::new(&model.table, kind).map_err(CliError::usage)?;
    check_learned_sampler(&plan, &model.ema, &dir)?;
    let weights = if a.raw { Weights::Raw } else { Weights::Ema };
    let den = model.denoiser(weights);
    let pixels = den.pixels();
    let never = AtomicBool::new(false);
    let seeds = a.seeds.unwrap_or(5);
    let (mut sets, mut non_finite) = (Vec::new(), 0);
    let start = std::time::Instant::now();
    for s in 0..seeds as u64 {
        let what = format!("sampling seed {} ({}/{seeds})", a.seed + s, s + 1);
        let spec = ChainSpec::new(plan.clone(), a.n, a.seed + s, true);
        let x = sample_batched(&den, &spec, a.batch, &never, &mut progress_line(&what))
            .unwrap_or_default();
        let (kept, dropped) = finite_images(&x, pixels);
        non_finite += dropped;
        sets.push(kept);
    }
    let source = format!(
        "{} (step {}), {} {}{} weights, {} × {} samples in {:.0} s",
        dir.display(),
        model.step,
        sampler_label(&kind),
        if a.raw { "raw" } else { "EMA" },
        if a.f16 { " f16-rounded" } else { "" },
        seeds,
        a.n,
        start.elapsed().as_secs_f64()
    );
    Ok((data, sets, non_finite, model.shape, source))
}
