//! `diffusion-lab study`: trains a study preset's runs in turn and writes its summary.

use super::{CliError, io_err};
use crate::cli::progress::Progress;
use crate::model::{DeviceChoice, pick_device};
use crate::store::{default_runs_dir, new_run_dir};
use crate::train::study_runner::{StudyEvent, study_from_preset};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
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
    /// The study folder (default: <timestamp>-<study name> in the per-user runs folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where to compute (overrides the preset).
    #[arg(long, value_enum)]
    pub device: Option<super::args::DeviceArg>,
    /// Which code trains: `native`, `burn` or `auto` (native on the CPU); overrides the preset.
    #[arg(long, value_enum)]
    pub engine: Option<crate::model::TrainEngine>,
    /// Steps of the strips' sampler: 0 = ancestral DDPM over all T (seed 003), S = DDIM η = 1.
    #[arg(long, allow_negative_numbers = true)]
    pub strip_steps: Option<usize>,
    /// Seeds per cell of seed 000's table (a preset with `[seed000]`; overrides the preset).
    #[arg(long)]
    pub seeds: Option<usize>,
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
    // Seed 000's table samples three trained models; it trains nothing.
    if crate::config::Preset::from_toml(&text).is_ok_and(|p| p.seed000.is_some()) {
        let name = a
            .preset
            .file_stem()
            .map_or("seed000".into(), |s| s.to_string_lossy().into_owned());
        let dir = a
            .out
            .clone()
            .unwrap_or_else(|| new_run_dir(&default_runs_dir(), &format!("study-{name}")));
        return super::seed000::run_table(&a.preset, a.seeds, &dir, out);
    }
    if a.seeds.is_some() {
        return Err(CliError::usage(
            "--seeds is for seed 000's table (a preset with [seed000]); a training study sets \
             its seeds in [study]",
        ));
    }
    let mut plan = study_from_preset(&text, a.epochs, a.steps_per_epoch)
        .map_err(|e| CliError::usage(format!("preset {}: {e}", a.preset.display())))?;
    if let Some(d) = a.device {
        plan.base.train.device = DeviceChoice::from(d);
    }
    if let Some(e) = a.engine {
        plan.base.train.engine = e;
    }
    if let Some(s) = a.strip_steps {
        plan.strip_steps = (s > 0).then_some(s);
    }
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| new_run_dir(&default_runs_dir(), &format!("study-{}", plan.name)));
    let pick = pick_device(plan.base.train.device);
    eprintln!(
        "study '{}': {} schedules × {} preps × {} seeds = {} runs of {} epochs (linear ×{}) on {} ({}); into {}",
        plan.name,
        plan.schedules.len(),
        plan.data.len(),
        plan.seeds.len(),
        plan.run_count(),
        plan.epochs,
        plan.linear_epoch_scale,
        pick.label,
        pick.reason,
        dir.display()
    );
    let cancel = AtomicBool::new(false);
    crate::signals::install();
    let mut bar: Option<Progress> = None;
    let mut on_event = |ev: StudyEvent| {
        // Ctrl+C, kill or logout: the study stops between steps and keeps what it did.
        if crate::signals::requested().is_some() {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        print_event(ev, &mut bar);
    };
    let outcome =
        crate::train::study_runner::run_study(&plan, &dir, Some(pick), &cancel, &mut on_event)
            .map_err(CliError::failure)?;
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(sig) = crate::signals::requested().filter(|_| outcome.cancelled) {
        return Err(CliError {
            code: crate::signals::exit_code(sig),
            message: format!(
                "stopped by {}; what the study did so far is kept in {}",
                crate::signals::name(sig),
                dir.display()
            ),
        });
    }
    if !outcome.report.is_empty() {
        write!(
            out,
            "{}",
            crate::train::study_runner::report_table(&outcome.report)
        )
        .map_err(io_err)?;
    }
    writeln!(
        out,
        "done: {} runs; summary.csv, epochs.csv, report.csv and {} strips in {}",
        plan.run_count(),
        outcome.strips.len(),
        dir.display()
    )
    .map_err(io_err)
}

/// Prints one study event on stderr.
fn print_event(ev: StudyEvent, bar: &mut Option<Progress>) {
    match ev {
        StudyEvent::RunStarted {
            index,
            total,
            label,
            ..
        } => {
            *bar = None;
            eprintln!("run {}/{total}: {label}", index + 1);
        }
        StudyEvent::Step {
            step, total, loss, ..
        } => bar
            .get_or_insert_with(|| Progress::new("  train", "steps"))
            .update(step, total, &format!("loss {loss:.4}")),
        StudyEvent::Epoch(r) => {
            if let Some(b) = bar {
                b.finish();
            }
            eprintln!(
                "  epoch {}: train {:.4} (min {:.4}, max {:.4})  held-out {:.4} (min {:.4}, max {:.4})",
                r.epoch, r.train[0], r.train[1], r.train[2], r.val[0], r.val[1], r.val[2]
            );
        }
        StudyEvent::Strip { path } => eprintln!("  strip: {}", path.display()),
        StudyEvent::Summary(_) => {}
    }
}
