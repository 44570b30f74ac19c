//! `diffusion-lab nll`: the variational bound of a checkpoint in bits/dim on held-out images
//! (the run's own held-out split, which it never trained on), with the per-term table.

use super::score::progress_line;
use super::{CliError, io_err};
use crate::diffusion::DdpmVariance;
use crate::metrics::{NllOptions, nll_bound_var};
use crate::sampling::export::Weights;
use crate::sampling::job::LoadedModel;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// σ_t² of the reverse process on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VarianceArg {
    /// σ² = β_t.
    Beta,
    /// σ² = β̃_t (β̃₂ for the decoder at t = 1).
    BetaTilde,
    /// The model's learned Σ_θ (a model trained with loss = hybrid or vlb).
    Learned,
}

/// `diffusion-lab nll`.
#[derive(Debug, Args)]
pub struct NllArgs {
    /// The checkpoint (default: the bundled MNIST model).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Held-out images to evaluate (at most the run's held-out split).
    #[arg(long, default_value_t = 256, allow_negative_numbers = true)]
    pub n: usize,
    /// The reverse-process variance (default: the model's learned Σ if it has one, else β).
    #[arg(long, value_enum)]
    pub variance: Option<VarianceArg>,
    /// Evaluate every t ≤ 50 and K more (one random t per stratum of the rest, weighted by
    /// its size): an unbiased, faster estimate; default: every t.
    #[arg(long, value_name = "K")]
    pub t_samples: Option<usize>,
    /// Seed of the noise (and of the t draw).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use the raw weights instead of the EMA.
    #[arg(long)]
    pub raw: bool,
    /// Write the per-term table (t, L_{t−1} in bits/dim) as CSV.
    #[arg(long, value_name = "terms.csv")]
    pub terms: Option<PathBuf>,
    /// Also write the report as JSON.
    #[arg(long, value_name = "out.json")]
    pub json: Option<PathBuf>,
}

/// Runs `diffusion-lab nll`.
pub fn run_nll(a: &NllArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if a.n == 0 {
        return Err(CliError::usage("--n must be at least 1"));
    }
    if a.t_samples == Some(0) {
        return Err(CliError::usage("--t-samples must be at least 1"));
    }
    let dir = match &a.checkpoint {
        Some(p) => p.clone(),
        None => crate::store::bundled_model_dir()
            .ok_or_else(|| CliError::usage("no --checkpoint given and no bundled model found"))?,
    };
    let model = LoadedModel::load(&dir, "checkpoint").map_err(CliError::usage)?;
    let data = model.config.data.load().map_err(CliError::usage)?;
    let shape = [data.channels(), data.height(), data.width()];
    if shape != model.shape {
        return Err(CliError::usage(format!(
            "the checkpoint makes {:?} (C, H, W) images but its data set {} holds {:?}",
            model.shape,
            model.config.data.label(),
            shape
        )));
    }
    let (_, held) = data
        .split(model.config.train.val_fraction, model.config.train.seed)
        .map_err(CliError::usage)?;
    let n = a.n.min(held.len());
    let pixels: usize = shape.iter().product();
    let images = &held.data()[..n * pixels];
    let den = model.denoiser(if a.raw { Weights::Raw } else { Weights::Ema });
    let variance = match a.variance {
        Some(VarianceArg::Beta) => DdpmVariance::Beta,
        Some(VarianceArg::BetaTilde) => DdpmVariance::BetaTilde,
        Some(VarianceArg::Learned) if !den.learns_sigma() => {
            return Err(CliError::usage(format!(
                "--variance learned needs a model that learned Σ (trained with loss = hybrid or \
                 vlb); this checkpoint has a fixed variance: {}",
                dir.display()
            )));
        }
        Some(VarianceArg::Learned) => DdpmVariance::Learned,
        None if den.learns_sigma() => DdpmVariance::Learned,
        None => DdpmVariance::Beta,
    };
    let opts = NllOptions {
        variance,
        t_samples: a.t_samples,
        seed: a.seed,
        ..NllOptions::default()
    };
    let start = std::time::Instant::now();
    let report = nll_bound_var(
        &model.table,
        images,
        pixels,
        &opts,
        &mut |t, x, e, v| den.predict_var(t, x, e, Some(v)),
        &mut progress_line("timesteps"),
    )
    .ok_or_else(|| CliError::failure("cancelled"))?;
    if !report.bits_per_dim.is_finite() {
        return Err(CliError::failure(format!(
            "the bound is not finite ({}); the checkpoint's weights are probably broken: {}",
            report.bits_per_dim,
            dir.display()
        )));
    }
    writeln!(
        out,
        "NLL ≤ {:.4} ± {:.4} bits/dim (standard error) · {} held-out images of {} · σ² = {} · \
         {} timesteps · {:.0} s\n  L_T (prior) {:.2e} bits/dim · L_0 (decoder) {:.4} · \
         Σ L_(t−1) {:.4}",
        report.bits_per_dim,
        report.std_error,
        report.n,
        model.config.data.label(),
        report.variance,
        report.timesteps,
        start.elapsed().as_secs_f64(),
        report.prior_bpd,
        report.decoder_bpd,
        report.bits_per_dim - report.prior_bpd - report.decoder_bpd,
    )
    .map_err(io_err)?;
    // A short per-term table: a few t of the curve (the whole curve goes to --terms).
    for t in [1usize, 2, 5, 10, 20, 50, 100, 200, 500, 1000] {
        if let Some(v) = report.terms.get(t - 1).filter(|v| v.is_finite()) {
            writeln!(out, "  t = {t:>4}  L_(t−1) = {v:.3e} bits/dim").map_err(io_err)?;
        }
    }
    if let Some(p) = &a.terms {
        let mut csv = String::from("t,bits_per_dim\n");
        for (i, v) in report.terms.iter().enumerate() {
            if v.is_finite() {
                csv += &format!("{},{v}\n", i + 1);
            }
        }
        crate::fs::write_atomic(p, |w| w.write_all(csv.as_bytes()))
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", p.display())))?;
    }
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(CliError::failure)?;
        crate::fs::write_atomic(p, |w| w.write_all(text.as_bytes()))
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", p.display())))?;
    }
    Ok(())
}
