//! `diffusion-lab toy`: the 2-D lab without a window. Trains the toy MLP on a dataset (or uses the
//! closed-form score of a Gaussian mixture), samples points, writes them as CSV with columns
//! `x,y`, and prints the energy distance to a fresh draw of the data.

use super::{CliError, io_err};
use crate::diffusion::{Rng, energy_distance};
use crate::model::{DeviceChoice, pick_device};
use crate::toy::gif::{GifStyle, save_gif};
use crate::toy::sampling::{EpsModel, ToySampler, TrueScore, sample_frames};
use crate::toy::{ToyDataset, ToyLabConfig, csv};
use crate::train::toy_worker::ToyTrainer;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `diffusion-lab toy`.
#[derive(Debug, Clone, Args)]
pub struct ToyArgs {
    /// The dataset: gmm, moons, swiss, circles, checker or two-gaussians.
    #[arg(long, default_value = "gmm")]
    pub dataset: String,
    /// Training steps of the MLP (ignored with --true-score).
    #[arg(long, value_name = "N")]
    pub train_steps: Option<usize>,
    /// The sampler: ddpm, ddim, euler-karras, heun-karras, dpmpp-2m (DPM-Solver++ 2M; the
    /// last three are probability-flow ODE solvers on the Karras σ grid), langevin or annealed.
    #[arg(long, default_value = "ddpm")]
    pub sampler: String,
    /// Steps of ddim (default 50) or grid points of the Karras samplers (default 20).
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// DDIM's η (0: deterministic).
    #[arg(long, value_name = "E", default_value_t = 0.0)]
    pub eta: f64,
    /// Points to sample (2..=1,000,000).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub n: usize,
    /// Seed of the data, the weights and the sampler.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Where to write the sampled points (CSV, columns x,y).
    #[arg(long, value_name = "points.csv")]
    pub out: PathBuf,
    /// Skip training and sample with the closed-form score (Gaussian mixtures only).
    #[arg(long)]
    pub true_score: bool,
    /// Also write a fresh draw of the dataset (N points) as CSV.
    #[arg(long, value_name = "data.csv")]
    pub data_out: Option<PathBuf>,
    /// Also write the sampling animation as a GIF.
    #[arg(long, value_name = "anim.gif")]
    pub gif: Option<PathBuf>,
}

/// The most points `toy --n` samples (each keeps its trajectory for the GIF; 10⁸ reached 11 GB).
pub const MAX_TOY_POINTS: usize = 1_000_000;

/// Runs `diffusion-lab toy`.
pub fn run_toy(args: &ToyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let names = "gmm, moons, swiss, circles, checker, two-gaussians";
    let dataset = ToyDataset::from_name(&args.dataset)
        .filter(|d| d.name() != "drawn")
        .ok_or_else(|| {
            CliError::usage(format!(
                "--dataset: unknown dataset '{}' (expected one of {names})",
                args.dataset
            ))
        })?;
    if !(args.eta.is_finite() && (0.0..=1.0).contains(&args.eta)) {
        return Err(CliError::usage(format!(
            "--eta: must be in 0..=1, got {} (η > 1 gives a noise variance above 1 − ᾱ_t′, \
             erratum E004-4)",
            args.eta
        )));
    }
    let mut config = ToyLabConfig {
        dataset: args.dataset.clone(),
        seed: args.seed,
        eta: args.eta,
        ..ToyLabConfig::default()
    };
    let sampler = ToySampler::from_name(&args.sampler, args.eta).ok_or_else(|| {
        CliError::usage(format!(
            "--sampler: unknown sampler '{}' (expected {})",
            args.sampler,
            ToySampler::NAMES.join(", ")
        ))
    })?;
    let sampler = match (sampler, args.steps) {
        (ToySampler::Ddim { eta, .. }, None) => ToySampler::Ddim {
            steps: config.ddim_steps,
            eta,
        },
        (s @ (ToySampler::Ddim { .. } | ToySampler::Karras { .. }), Some(n)) => {
            if !(1..=config.schedule.steps).contains(&n) {
                return Err(CliError::usage(format!(
                    "--steps: must be 1..={} (the lab's T), got {n}",
                    config.schedule.steps
                )));
            }
            s.with_steps(n)
        }
        (_, Some(n)) => {
            return Err(CliError::usage(format!(
                "--steps {n}: only ddim and the Karras samplers take a step count, not '{}'",
                args.sampler
            )));
        }
        (s, _) => s,
    };
    if !(2..=MAX_TOY_POINTS).contains(&args.n) {
        return Err(CliError::usage(format!(
            "--n: must be 2..={MAX_TOY_POINTS} points, got {}",
            args.n
        )));
    }
    if let Some(steps) = args.train_steps {
        config.train_steps = steps;
    }
    let table = config.schedule.table().map_err(CliError::usage)?;
    let mut model: Box<dyn EpsModel> = if args.true_score {
        let Some(mixture) = dataset.mixture() else {
            return Err(CliError::usage(format!(
                "--true-score: the closed-form score exists only for Gaussian mixtures (gmm, two-gaussians), not '{}'",
                args.dataset
            )));
        };
        Box::new(TrueScore {
            mixture: mixture.clone(),
            table: table.clone(),
        })
    } else {
        let pick = pick_device(DeviceChoice::Cpu);
        let mut trainer = ToyTrainer::new(config.clone(), &dataset, pick)
            .map_err(|e| CliError::usage(e.to_string()))?;
        let total = config.train_steps;
        let start = Instant::now();
        let mut smoothed = f64::NAN;
        for _ in 0..total {
            let loss = trainer
                .step(None)
                .map_err(|e| CliError::failure(e.to_string()))?;
            smoothed = if smoothed.is_nan() {
                f64::from(loss)
            } else {
                0.98 * smoothed + 0.02 * f64::from(loss)
            };
            if trainer.step.is_multiple_of(250) || trainer.step == total {
                eprintln!(
                    "train {}/{total}  loss {smoothed:.4}  {:.1} s",
                    trainer.step,
                    start.elapsed().as_secs_f64()
                );
            }
        }
        eprintln!(
            "trained {total} steps in {:.1} s on {} ({} parameters)",
            start.elapsed().as_secs_f64(),
            trainer.pick.label,
            trainer.num_params()
        );
        Box::new(trainer.snapshot())
    };
    let start = Instant::now();
    eprintln!("sampling {} points with {}…", args.n, sampler.label());
    let frames = sample_frames(
        &sampler,
        model.as_mut(),
        &table,
        args.n,
        args.seed ^ 0x5A3B1E,
        if args.gif.is_some() { 60 } else { 2 },
        &|| true,
    )
    .map_err(|e| CliError::usage(e.to_string()))?;
    let Some(last) = frames.last() else {
        return Err(CliError::failure("the sampler produced no points"));
    };
    let points = &last.points;
    eprintln!("sampled in {:.1} s", start.elapsed().as_secs_f64());
    // Outputs are written only on success: a diverged chain leaves no CSV of NaN (#18 item 8).
    let bad = points
        .chunks(2)
        .filter(|p| !p.iter().all(|v| v.is_finite()))
        .count();
    if bad > 0 {
        return Err(CliError::failure(format!(
            "{bad} of {} sampled points are NaN or infinite (the chain diverged); nothing was \
             written",
            args.n
        )));
    }
    csv::save_points(&args.out, points).map_err(|e| {
        CliError::failure(format!(
            "could not write the points: {e}: {}",
            args.out.display()
        ))
    })?;
    let data = dataset.sample(args.n, &mut Rng::stream(args.seed, 77));
    if let Some(p) = &args.data_out {
        csv::save_points(p, &data).map_err(|e| {
            CliError::failure(format!("could not write the data: {e}: {}", p.display()))
        })?;
    }
    if let Some(p) = &args.gif {
        save_gif(p, &frames, &data, &GifStyle::default()).map_err(|e| {
            CliError::failure(format!("could not write the GIF: {e}: {}", p.display()))
        })?;
    }
    let ed = energy_distance(points, &data, 2).map_err(|e| CliError::failure(e.to_string()))?;
    writeln!(
        out,
        "{} points ({}, {} score) written to {}",
        args.n,
        sampler.label(),
        if args.true_score { "true" } else { "learned" },
        args.out.display()
    )
    .map_err(io_err)?;
    writeln!(out, "energy distance to fresh data: {ed:.5}").map_err(io_err)
}
