//! `diffusion-lab train`: trains a preset (or resumes a checkpoint) with a progress bar.

use super::CliError;
use super::args::{DeviceArg, LossArg, TSamplingArg, TargetArg, TimeInputArg, WeightingArg};
use crate::config::RunConfig;
use crate::fs::RunLock;
use crate::model::{DeviceChoice, TrainEngine, pick_device};
use crate::store::checkpoint::{OutDir, check_out_dir};
use crate::train::{Trainer, load_checkpoint_with, save_checkpoint};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `diffusion-lab train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The preset (TOML) describing data, schedule, model and training.
    #[arg(long, value_name = "presets/NAME.toml")]
    pub preset: Option<PathBuf>,
    /// Resume from this checkpoint folder instead of a preset.
    #[arg(long, value_name = "DIR", conflicts_with = "preset")]
    pub resume: Option<PathBuf>,
    /// Train until this many steps (overrides the preset).
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// The checkpoint folder to write (default: a new run folder <timestamp>-<name> in the
    /// per-user runs folder, ~/.local/share/diffusion-lab/runs on Linux).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the checkpoint folder given by --out although it holds another run (only a
    /// checkpoint folder is ever replaced; --resume replaces its own folder without this).
    #[arg(long)]
    pub overwrite: bool,
    /// Where to compute.
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
    /// Which code trains: `native` (the app's own CPU engine), `burn` (burn's autodiff on the
    /// picked device), or `auto` (native on the CPU, burn on a GPU). Overrides the preset.
    #[arg(long, value_enum)]
    pub engine: Option<TrainEngine>,
    /// The loss (overrides the preset): `simple` (L_simple, fixed Σ), `hybrid`
    /// (L_simple + 0.001·L_vlb with a learned Σ: improved DDPM) or `vlb` (the bound alone).
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub loss: Option<LossArg>,
    /// How t is drawn (overrides the preset): `uniform`, or `importance` (p_t ∝ √E[L_t²];
    /// hybrid and vlb losses).
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub t_sampling: Option<TSamplingArg>,
    /// What the network predicts (overrides the preset): `eps`, `v` or `x0`.
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub target: Option<TargetArg>,
    /// The loss weighting across noise levels (overrides the preset): `target` (the plain MSE
    /// of the target), `snr-plus-one` (the v-objective's weighting, for any target) or
    /// `truncated-snr` (max(SNR, 1)) or `min-snr-5` (min(SNR, 5)).
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub loss_weighting: Option<WeightingArg>,
    /// What the UNet's time embedding reads (overrides the preset): `step` or `log-snr`
    /// (seed 000's conditioning on λ(t)).
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub time_input: Option<TimeInputArg>,
    /// Draw a continuous t ∈ (0, T] per image (seed 000's continuous time; needs
    /// `--time-input log-snr` and the simple loss).
    #[arg(long, conflicts_with = "resume")]
    pub continuous_time: bool,
    /// The seed (overrides the preset).
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Train at this learning rate from now on (kept in the checkpoint, so a later --resume
    /// goes on with it).
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Anneal the learning rate (cosine) from its current value, or --lr, down to this one
    /// by the last step of this command; for the final stretch of a long run.
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub lr_final: Option<f64>,
}

/// Checks a learning rate given on the command line.
fn check_lr(flag: &str, lr: Option<f64>) -> Result<(), CliError> {
    match lr {
        Some(v) if !(v.is_finite() && v > 0.0) => Err(CliError::usage(format!(
            "{flag} must be a positive number, not {v}"
        ))),
        _ => Ok(()),
    }
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Checks that training may write its checkpoints to `out_dir` (a new path, an empty folder,
/// or a checkpoint folder when `may_replace`), then takes the folder's lock. Nothing is
/// touched when this fails (exit 2).
fn claim_out_dir(out_dir: &Path, may_replace: bool) -> Result<RunLock, CliError> {
    let check = || match check_out_dir(out_dir).map_err(CliError::usage)? {
        OutDir::Free => Ok(()),
        OutDir::Checkpoint if may_replace => Ok(()),
        OutDir::Checkpoint => Err(CliError::usage(format!(
            "{} already holds a checkpoint; pass --overwrite to replace it (or --resume it)",
            out_dir.display()
        ))),
    };
    check()?;
    let lock = RunLock::acquire(out_dir).map_err(CliError::usage)?;
    check()?;
    Ok(lock)
}

/// Runs `diffusion-lab train`.
pub fn run_train(args: &TrainArgs, out: &mut dyn Write) -> Result<(), CliError> {
    // First, so a signal during the setup also ends in a saved checkpoint, not a kill.
    crate::signals::install();
    check_lr("--lr", args.lr)?;
    check_lr("--lr-final", args.lr_final)?;
    let device_choice = args.device.map(DeviceChoice::from);
    let (mut trainer, out_dir, _lock) = if let Some(dir) = &args.resume {
        let (config, _) = crate::store::read_info(dir).map_err(CliError::usage)?;
        let out_dir = args.out.clone().unwrap_or_else(|| dir.clone());
        let lock = claim_out_dir(&out_dir, args.overwrite || same_folder(dir, &out_dir))?;
        let pick = pick_device(device_choice.unwrap_or(config.train.device));
        let t = load_checkpoint_with(dir, pick, args.engine).map_err(CliError::failure)?;
        (t, out_dir, lock)
    } else {
        let Some(preset) = &args.preset else {
            return Err(CliError::usage("--preset (or --resume) is required"));
        };
        let mut config = RunConfig::load_preset(preset).map_err(CliError::usage)?;
        if let Some(s) = args.seed {
            config.train.seed = s;
        }
        if let Some(d) = device_choice {
            config.train.device = d;
        }
        if let Some(e) = args.engine {
            config.train.engine = e;
        }
        if let Some(l) = args.loss {
            config.train.loss = l.into();
        }
        if let Some(t) = args.t_sampling {
            config.train.t_sampling = t.into();
        }
        if let Some(t) = args.target {
            config.train.target = t.into();
        }
        if let Some(w) = args.loss_weighting {
            config.train.loss_weighting = w.into();
        }
        if let Some(t) = args.time_input {
            config.time_input = t.into();
        }
        if args.continuous_time {
            config.train.continuous_time = true;
        }
        let out_dir = args.out.clone().unwrap_or_else(|| {
            crate::store::new_run_dir(&crate::store::default_runs_dir(), &config.name)
        });
        let lock = claim_out_dir(&out_dir, args.overwrite)?;
        let pick = pick_device(config.train.device);
        let t = Trainer::new(config, pick).map_err(|e| match e {
            crate::train::TrainError::Config(_) => CliError::usage(e),
            _ => CliError::failure(e),
        })?;
        (t, out_dir, lock)
    };
    let total = args.steps.unwrap_or(trainer.config.train.steps);
    if let Some(lr) = args.lr {
        trainer.set_lr(lr);
    }
    // (from, start step) of the anneal: it ends at `total`.
    let anneal = args.lr_final.map(|_| (trainer.current_lr(), trainer.step));
    eprintln!(
        "training '{}' on {} ({}): {} parameters, {} steps, checkpoints in {}",
        trainer.config.name,
        trainer.pick.label,
        trainer.pick.reason,
        trainer.num_params(),
        total,
        out_dir.display()
    );
    if let (Some(to), Some((from, start))) = (args.lr_final, anneal) {
        eprintln!(
            "learning rate: cosine anneal from {from:.3e} at step {start} to {to:.3e} at step {total}"
        );
    }
    if trainer.config.train.loss.learns_sigma() {
        eprintln!(
            "loss: {} with {} t; the UNet outputs ε̂ and v",
            trainer.config.train.loss.label(),
            trainer.config.train.t_sampling.name()
        );
    }
    for w in trainer.data_warnings() {
        eprintln!("warning: data: {w}");
    }
    let cfg = trainer.config.train.clone();
    let mut bar = crate::cli::progress::Progress::new("train", "steps");
    // A finished run resumed with nothing left to do reports its last recorded loss.
    let mut last_loss = trainer.history.train.last().map_or(f32::NAN, |&(_, l)| l);
    let mut stopped_by = None;
    while trainer.step < total {
        if let Some(sig) = crate::signals::requested() {
            stopped_by = Some(sig);
            break;
        }
        if let (Some(to), Some((from, start))) = (args.lr_final, anneal) {
            let step = trainer.step;
            trainer.set_lr(crate::train::cosine_anneal(from, to, start, total, step));
        }
        match trainer.step() {
            Ok(s) => last_loss = s.loss,
            Err(e) => {
                bar.finish();
                let kept = if out_dir.join("state.json").exists() {
                    format!(
                        " The last good checkpoint is kept in {}.",
                        out_dir.display()
                    )
                } else {
                    String::new()
                };
                return Err(CliError::failure(format!("{e}.{kept}")));
            }
        }
        let mut early = None;
        if cfg.val_every > 0 && trainer.step.is_multiple_of(cfg.val_every) {
            trainer.validate();
            early = trainer.early_stop();
        }
        if cfg.checkpoint_every > 0 && trainer.step.is_multiple_of(cfg.checkpoint_every) {
            save_checkpoint(&trainer, &out_dir).map_err(CliError::failure)?;
        }
        bar.update(trainer.step, total, &format!("loss {last_loss:.4}"));
        if let Some(why) = early {
            bar.finish();
            eprintln!("{why}");
            break;
        }
    }
    bar.finish();
    save_checkpoint(&trainer, &out_dir).map_err(CliError::failure)?;
    if let Some(sig) = stopped_by {
        // Ctrl+C, kill or logout: the checkpoint is saved; the exit code says why it ended.
        return Err(CliError {
            code: crate::signals::exit_code(sig),
            message: format!(
                "stopped by {} at step {}; checkpoint saved in {} (continue with --resume)",
                crate::signals::name(sig),
                trainer.step,
                out_dir.display()
            ),
        });
    }
    writeln!(
        out,
        "done: step {} loss {:.5}; checkpoint and losses.csv in {}",
        trainer.step,
        last_loss,
        out_dir.display()
    )
    .map_err(|e| CliError::failure(e.to_string()))
}
