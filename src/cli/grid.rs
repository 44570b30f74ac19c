//! `diffusion-lab grid`: the DDIM η × steps table on a checkpoint.

use super::{CliError, io_err};
use crate::config::Grid;
use crate::model::{DeviceChoice, pick_device};
use crate::train::grid_runner::{GridPlan, eta_steps_grid, grid_from_preset};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// `diffusion-lab grid`.
#[derive(Debug, Args)]
pub struct GridArgs {
    /// The checkpoint folder (default: the bundled MNIST model).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// A preset with a `[grid]` table giving η and S (the flags override it).
    #[arg(long, value_name = "presets/NAME.toml")]
    pub preset: Option<PathBuf>,
    /// DDIM η values, comma-separated (rows).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub etas: Option<Vec<f64>>,
    /// Sampling steps S, comma-separated (columns).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub steps: Option<Vec<usize>>,
    /// Add seed 001's σ̂ row: strided DDPM with σ̂ = √(1 − ᾱ_t/ᾱ_t′), larger than η = 1.
    #[arg(long)]
    pub sigma_hat: bool,
    /// How the S timesteps are spread over 1..T (default: the preset's, else trailing).
    #[arg(long, value_enum)]
    pub spacing: Option<super::args::DdimSpacingArg>,
    /// Do not clip x̂₀ to [−1, 1] (seed 001's table does not clip).
    #[arg(long)]
    pub no_clip: bool,
    /// Samples per cell.
    #[arg(long, default_value_t = 128, allow_negative_numbers = true)]
    pub n: usize,
    /// Seed of x_T (the same for every cell).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Held-out images to compare against (at most).
    #[arg(long, default_value_t = 500)]
    pub reference: usize,
    /// Write the table as CSV (one row per cell).
    #[arg(long, value_name = "grid.csv")]
    pub out: Option<PathBuf>,
    /// Write a mosaic of the samples (rows η, columns S) as PNG.
    #[arg(long, value_name = "grid.png")]
    pub png: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = super::args::DeviceArg::Cpu)]
    pub device: super::args::DeviceArg,
}

/// Runs `diffusion-lab grid`.
pub fn run_grid(a: &GridArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut grid = Grid {
        etas: vec![0.0, 0.5, 1.0],
        steps: vec![10, 20, 50],
        ..Grid::default()
    };
    if let Some(p) = &a.preset {
        let text = std::fs::read_to_string(p)
            .map_err(|e| CliError::usage(format!("cannot read preset: {e}: {}", p.display())))?;
        grid = grid_from_preset(&text)
            .map_err(|e| CliError::usage(format!("preset {}: {e}", p.display())))?;
    }
    if let Some(e) = &a.etas {
        grid.etas.clone_from(e);
    }
    if let Some(s) = &a.steps {
        grid.steps.clone_from(s);
    }
    grid.sigma_hat |= a.sigma_hat;
    grid.clip &= !a.no_clip;
    if let Some(s) = a.spacing {
        grid.spacing = crate::diffusion::Spacing::from(s);
    }
    let checkpoint = match &a.checkpoint {
        Some(c) => c.clone(),
        None => crate::store::bundled_model_dir().ok_or_else(|| {
            CliError::usage("--checkpoint is required (the bundled model was not found)")
        })?,
    };
    if !checkpoint.join("state.json").is_file() {
        return Err(CliError::usage(format!(
            "--checkpoint: not a checkpoint folder (no state.json): {}",
            checkpoint.display()
        )));
    }
    let plan = GridPlan {
        checkpoint,
        etas: grid.etas,
        sigma_hat: grid.sigma_hat,
        spacing: grid.spacing,
        clip: grid.clip,
        steps: grid.steps,
        n: a.n,
        seed: a.seed,
        reference: a.reference,
    };
    if plan.etas.iter().any(|e| !(e.is_finite() && *e >= 0.0)) {
        return Err(CliError::usage("--etas must be finite and ≥ 0"));
    }
    if !(2..=1024).contains(&plan.n) {
        return Err(CliError::usage(format!(
            "--n must be between 2 and 1024, got {}",
            plan.n
        )));
    }
    let pick = pick_device(DeviceChoice::from(a.device));
    let cancel = AtomicBool::new(false);
    let start = std::time::Instant::now();
    let mut bar = crate::cli::progress::Progress::new("grid", "cells");
    let result = eta_steps_grid(&plan, Some(pick), &cancel, &mut |done, total| {
        bar.update(done, total, "");
    })
    .map_err(|e| {
        if e.contains("must be") {
            CliError::usage(e)
        } else {
            CliError::failure(e)
        }
    })?;
    eprintln!();
    write!(out, "{}", result.table_text()).map_err(io_err)?;
    let secs: f64 = result.cells.iter().map(|c| c.secs).sum();
    writeln!(
        out,
        "sampling took {secs:.1} s in all on {} ({:.1} s with scoring)",
        result.device,
        start.elapsed().as_secs_f64()
    )
    .map_err(io_err)?;
    if let Some(p) = &a.out {
        crate::fs::write_atomic(p, |w| w.write_all(result.csv().as_bytes()))
            .map_err(|e| CliError::failure(format!("cannot write CSV: {e}: {}", p.display())))?;
    }
    if let Some(p) = &a.png {
        let img = result.mosaic();
        crate::fs::write_atomic(p, |f| {
            img.write_to(f, image::ImageFormat::Png)
                .map_err(std::io::Error::other)
        })
        .map_err(|e| CliError::failure(format!("cannot write PNG: {e}: {}", p.display())))?;
    }
    Ok(())
}
