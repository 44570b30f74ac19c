//! The headless study commands: `study` (train a study preset's runs in turn and write its
//! summary) and `grid` (the DDIM η × steps table on a checkpoint).

use crate::cli::CliError;
use crate::model::{DeviceChoice, pick_device};
use crate::train::runs::{RUNS_DIR, new_run_dir};
use crate::train::study_runner::{
    GridPlan, StudyEvent, eta_steps_grid, grid_from_preset, study_from_preset,
};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// `diffusion-lab study`.
#[derive(Debug, Args)]
pub struct StudyArgs {
    /// A study preset (a preset with a `[study]` table).
    #[arg(long, value_name = "presets/NAME.toml")]
    pub preset: PathBuf,
    /// Epochs per run (overrides the preset).
    #[arg(long, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Steps per epoch (overrides the preset; default one pass over the training split).
    #[arg(long, allow_negative_numbers = true)]
    pub steps_per_epoch: Option<usize>,
    /// The study folder (default: runs/<timestamp>-<study name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where to compute (overrides the preset).
    #[arg(long, value_enum)]
    pub device: Option<crate::train_cli::DeviceArg>,
    /// Steps of the strips' sampler: 0 = ancestral DDPM over all T (seed 003), S = DDIM η = 1.
    #[arg(long, allow_negative_numbers = true)]
    pub strip_steps: Option<usize>,
}

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
    #[arg(long, value_enum, default_value_t = crate::train_cli::DeviceArg::Cpu)]
    pub device: crate::train_cli::DeviceArg,
}

fn io(e: std::io::Error) -> CliError {
    CliError::failure(format!("could not write the output: {e}"))
}

/// Runs `diffusion-lab study`.
pub fn run_study(a: &StudyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&a.preset)
        .map_err(|e| CliError::usage(format!("cannot read preset: {e}: {}", a.preset.display())))?;
    if a.epochs == Some(0) {
        return Err(CliError::usage("--epochs must be at least 1"));
    }
    if a.steps_per_epoch == Some(0) {
        return Err(CliError::usage("--steps-per-epoch must be at least 1"));
    }
    let mut plan = study_from_preset(&text, a.epochs, a.steps_per_epoch)
        .map_err(|e| CliError::usage(format!("preset {}: {e}", a.preset.display())))?;
    if let Some(d) = a.device {
        plan.base.train.device = DeviceChoice::from(d);
    }
    if let Some(s) = a.strip_steps {
        plan.strip_steps = (s > 0).then_some(s);
    }
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| new_run_dir(Path::new(RUNS_DIR), &format!("study-{}", plan.name)));
    let pick = pick_device(plan.base.train.device);
    eprintln!(
        "study '{}': {} schedules × {} preps × {} seeds = {} runs of {} epochs on {} ({}); into {}",
        plan.name,
        plan.schedules.len(),
        plan.data.len(),
        plan.seeds.len(),
        plan.run_count(),
        plan.epochs,
        pick.label,
        pick.reason,
        dir.display()
    );
    let cancel = AtomicBool::new(false);
    let mut on_event = |ev: StudyEvent| match ev {
        StudyEvent::RunStarted {
            index,
            total,
            label,
            ..
        } => eprintln!("\nrun {}/{total}: {label}", index + 1),
        StudyEvent::Step {
            step, total, loss, ..
        } => {
            eprint!("\r  step {step}/{total}  loss {loss:.4}   ");
            let _ = std::io::stderr().flush();
        }
        StudyEvent::Epoch(r) => eprint!(
            "\r  epoch {}: train {:.4} (min {:.4}, max {:.4})  held-out {:.4} (min {:.4}, max {:.4})\n",
            r.epoch, r.train[0], r.train[1], r.train[2], r.val[0], r.val[1], r.val[2]
        ),
        StudyEvent::Strip { path } => eprintln!("  strip: {}", path.display()),
        StudyEvent::Summary(_) => {}
    };
    let outcome =
        crate::train::study_runner::run_study(&plan, &dir, Some(pick), &cancel, &mut on_event)
            .map_err(CliError::failure)?;
    writeln!(
        out,
        "done: {} runs; summary.csv, epochs.csv and {} strips in {}",
        plan.run_count(),
        outcome.strips.len(),
        dir.display()
    )
    .map_err(io)
}

/// Runs `diffusion-lab grid`.
pub fn run_grid(a: &GridArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (mut etas, mut steps) = (vec![0.0, 0.5, 1.0], vec![10, 20, 50]);
    if let Some(p) = &a.preset {
        let text = std::fs::read_to_string(p)
            .map_err(|e| CliError::usage(format!("cannot read preset: {e}: {}", p.display())))?;
        (etas, steps) = grid_from_preset(&text)
            .map_err(|e| CliError::usage(format!("preset {}: {e}", p.display())))?;
    }
    if let Some(e) = &a.etas {
        etas.clone_from(e);
    }
    if let Some(s) = &a.steps {
        steps.clone_from(s);
    }
    let checkpoint = match &a.checkpoint {
        Some(c) => c.clone(),
        None => crate::app::bundled_model_dir().ok_or_else(|| {
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
        etas,
        steps,
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
    let result = eta_steps_grid(&plan, Some(pick), &cancel, &mut |done, total| {
        eprint!("\rgrid: {done}/{total} cells   ");
        let _ = std::io::stderr().flush();
    })
    .map_err(|e| {
        if e.contains("must be") {
            CliError::usage(e)
        } else {
            CliError::failure(e)
        }
    })?;
    eprintln!();
    write!(out, "{}", result.table_text()).map_err(io)?;
    let secs: f64 = result.cells.iter().map(|c| c.secs).sum();
    writeln!(
        out,
        "sampling took {secs:.1} s in all on {} ({:.1} s with scoring)",
        result.device,
        start.elapsed().as_secs_f64()
    )
    .map_err(io)?;
    if let Some(p) = &a.out {
        crate::io::write_atomic(p, |w| w.write_all(result.csv().as_bytes()))
            .map_err(|e| CliError::failure(format!("cannot write CSV: {e}: {}", p.display())))?;
    }
    if let Some(p) = &a.png {
        let img = result.mosaic();
        crate::io::write_atomic(p, |f| {
            img.write_to(f, image::ImageFormat::Png)
                .map_err(std::io::Error::other)
        })
        .map_err(|e| CliError::failure(format!("cannot write PNG: {e}: {}", p.display())))?;
    }
    Ok(())
}
