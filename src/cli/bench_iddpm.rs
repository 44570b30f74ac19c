//! `diffusion-lab bench iddpm`: improved DDPM's claims measured on this machine (#15 §1). One
//! preset is trained twice from the same seed for the same steps, with L_simple (fixed Σ) and
//! with L_hybrid (learned Σ); then
//! - the NLL bound in bits/dim of each on the held-out images (seed 001 / 004: L_hybrid gives a
//!   better likelihood);
//! - FID of strided sampling at each K, with the fixed σ² = β̃′ and with the learned Σ_θ (seed
//!   001 §3.1: a learned variance degrades less when K is small).
//!
//! Checkpoints go to OUT/simple and OUT/hybrid; a checkpoint already there at the asked step is
//! reused, so the measurements can be re-run without training again.

use super::CliError;
use super::bench_quality::score_images;
use super::io_err;
use super::score::progress_line;
use crate::config::RunConfig;
use crate::diffusion::{DdpmVariance, LossKind, SamplerKind, SamplerPlan, StrideRule};
use crate::metrics::{NllOptions, classifier_for, nll_bound_var};
use crate::model::pick_device;
use crate::sampling::export::Weights;
use crate::sampling::job::LoadedModel;
use crate::sampling::{ChainSpec, sample_batched};
use crate::train::{Trainer, save_checkpoint};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// `diffusion-lab bench iddpm`.
#[derive(Debug, Args)]
pub struct BenchIddpmArgs {
    /// The preset trained with both losses (its `train.loss` is replaced).
    #[arg(
        long,
        value_name = "presets/NAME.toml",
        default_value = "presets/iddpm-hybrid.toml"
    )]
    pub preset: PathBuf,
    /// Training steps of each run (default: the preset's).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Strided sampling steps K to score, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "25,50,100,1000")]
    pub k: Vec<usize>,
    /// Samples per FID figure.
    #[arg(long, default_value_t = 500)]
    pub n: usize,
    /// Held-out images for the NLL bound.
    #[arg(long, default_value_t = 256)]
    pub nll_n: usize,
    /// Timesteps of the NLL estimate beyond t ≤ 50 (stratified; 0: every t).
    #[arg(long, default_value_t = 100)]
    pub nll_t: usize,
    /// Where the two checkpoints and `iddpm.csv` go.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Trains `config` to `steps` into `dir`, unless a checkpoint there has reached it.
fn train_or_reuse(config: RunConfig, steps: usize, dir: &Path) -> Result<(), CliError> {
    if let Ok((_, info)) = crate::store::read_info(dir)
        && info.step >= steps
    {
        eprintln!(
            "{}: reusing the checkpoint at step {}",
            dir.display(),
            info.step
        );
        return Ok(());
    }
    let pick = pick_device(config.train.device);
    let mut trainer = Trainer::new(config, pick).map_err(CliError::usage)?;
    let label = trainer.config.train.loss.label();
    let what = format!("training with {label}");
    let mut bar = progress_line(&what);
    let start = std::time::Instant::now();
    while trainer.step < steps {
        if crate::signals::requested().is_some() {
            save_checkpoint(&trainer, dir).map_err(CliError::failure)?;
            return Err(CliError::failure("interrupted; the checkpoint is saved"));
        }
        trainer.step().map_err(CliError::failure)?;
        if trainer.step % 50 == 0 || trainer.step == steps {
            bar(trainer.step, steps);
        }
    }
    save_checkpoint(&trainer, dir).map_err(CliError::failure)?;
    eprintln!(
        "{label}: {steps} steps in {:.0} s, last loss {:.4}",
        start.elapsed().as_secs_f64(),
        trainer.history.train.last().map_or(f32::NAN, |&(_, l)| l)
    );
    Ok(())
}

/// Runs `diffusion-lab bench iddpm`.
pub fn bench_iddpm(a: &BenchIddpmArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if !(2..=10_000).contains(&a.n) {
        return Err(CliError::usage(format!(
            "--n must be 2..=10000, got {}",
            a.n
        )));
    }
    if a.k.is_empty() || a.k.contains(&0) {
        return Err(CliError::usage("--k must list positive step counts"));
    }
    crate::signals::install();
    let base = RunConfig::load_preset(&a.preset).map_err(CliError::usage)?;
    let net = classifier_for(&base.data).map_err(CliError::usage)?;
    let steps = a.steps.unwrap_or(base.train.steps);
    let t_big = base.schedule.steps;
    if let Some(&k) = a.k.iter().find(|&&k| k > t_big) {
        return Err(CliError::usage(format!(
            "--k {k} is above the schedule's T = {t_big}"
        )));
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| CliError::failure(format!("cannot create {}: {e}", a.out.display())))?;
    let mut models = Vec::new();
    for loss in [LossKind::Simple, LossKind::Hybrid] {
        let mut config = base.clone();
        config.train.loss = loss;
        config.train.t_sampling = crate::diffusion::TSampling::Uniform;
        config.train.steps = steps;
        config.name = format!("{}-{}", base.name, loss.name());
        let dir = a.out.join(loss.name());
        train_or_reuse(config, steps, &dir)?;
        let model = LoadedModel::load(&dir, "checkpoint").map_err(CliError::failure)?;
        models.push((loss, model));
    }
    writeln!(
        out,
        "improved DDPM on '{}': {} steps each, T = {t_big}; {}",
        base.name,
        steps,
        crate::metrics::feature_note(&net.info.data)
    )
    .map_err(io_err)?;
    let mut csv = String::from("measure,loss,sampler,k,value,std_error\n");

    // The bound on held-out images.
    writeln!(out, "\nNLL bound (bits/dim, held-out images):").map_err(io_err)?;
    for (loss, model) in &models {
        let data = model.config.data.load().map_err(CliError::failure)?;
        let (_, held) = data
            .split(model.config.train.val_fraction, model.config.train.seed)
            .map_err(CliError::failure)?;
        let pixels: usize = model.shape.iter().product();
        let n = a.nll_n.min(held.len());
        let den = model.denoiser(Weights::Ema);
        let variances: &[DdpmVariance] = if den.learns_sigma() {
            &[DdpmVariance::Learned]
        } else {
            &[DdpmVariance::Beta, DdpmVariance::BetaTilde]
        };
        for &variance in variances {
            let opts = NllOptions {
                variance,
                t_samples: (a.nll_t > 0).then_some(a.nll_t),
                ..NllOptions::default()
            };
            let what = format!("NLL of {} with {}", loss.label(), variance.label());
            let r = nll_bound_var(
                &model.table,
                &held.data()[..n * pixels],
                pixels,
                &opts,
                &mut |t, x, e, v| den.predict_var(t, x, e, Some(v)),
                &mut progress_line(&what),
            )
            .ok_or_else(|| CliError::failure("cancelled"))?;
            writeln!(
                out,
                "  {:<22} σ² = {:<10} {:.4} ± {:.4}  (L_0 {:.4}, {} images)",
                loss.label(),
                variance.label(),
                r.bits_per_dim,
                r.std_error,
                r.decoder_bpd,
                r.n
            )
            .map_err(io_err)?;
            csv += &format!(
                "nll_bpd,{},{},{t_big},{},{}\n",
                loss.name(),
                variance.label(),
                r.bits_per_dim,
                r.std_error
            );
        }
    }

    // FID of strided sampling at each K.
    let never = AtomicBool::new(false);
    let rows: Vec<(usize, DdpmVariance, &str)> = vec![
        (0, DdpmVariance::BetaTilde, "L_simple, fixed Σ = β̃′"),
        (1, DdpmVariance::BetaTilde, "L_hybrid, fixed Σ = β̃′"),
        (1, DdpmVariance::Learned, "L_hybrid, learned Σ"),
    ];
    write!(
        out,
        "\nFID of strided sampling ({} samples, EMA weights)\n  {:<24}",
        a.n, ""
    )
    .map_err(io_err)?;
    for k in &a.k {
        write!(out, " {:>9}", format!("K = {k}")).map_err(io_err)?;
    }
    writeln!(out).map_err(io_err)?;
    for (m, variance, label) in rows {
        let (loss, model) = &models[m];
        let den = model.denoiser(Weights::Ema);
        write!(out, "  {label:<24}").map_err(io_err)?;
        for &k in &a.k {
            let kind = SamplerKind::Iddpm {
                steps: k,
                variance,
                rule: StrideRule::Floor,
            };
            let plan = SamplerPlan::new(&model.table, kind).map_err(CliError::usage)?;
            let what = format!("{label}, K = {k}");
            let spec = ChainSpec::new(plan, a.n, 0, true);
            let x = sample_batched(&den, &spec, 250, &never, &mut progress_line(&what))
                .ok_or_else(|| CliError::failure("cancelled"))?;
            let (row, _floor) = score_images(&net, &x, model.shape)?;
            write!(out, " {:>9.2}", row.fid.mean).map_err(io_err)?;
            out.flush().map_err(io_err)?;
            csv += &format!(
                "fid,{},{},{k},{},\n",
                loss.name(),
                variance.label(),
                row.fid.mean
            );
        }
        writeln!(out).map_err(io_err)?;
    }
    let path = a.out.join("iddpm.csv");
    crate::fs::write_atomic(&path, |w| w.write_all(csv.as_bytes()))
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
    writeln!(out, "\nwritten: {}", path.display()).map_err(io_err)?;
    Ok(())
}
