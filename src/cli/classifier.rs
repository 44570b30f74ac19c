//! `diffusion-lab classifier`: train (or check) the feature network of the quality metrics.

use super::{CliError, io_err};
use crate::metrics::{ClassifierTrainConfig, FeatureNet, train_classifier};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// `diffusion-lab classifier …`.
#[derive(Debug, Subcommand)]
pub enum ClassifierCommand {
    /// Train the classifier of a bundled labelled data set on its fixed split and report its
    /// held-out accuracy (re-creates assets/classifiers/NAME).
    Train(ClassifierTrainArgs),
    /// Train the noisy classifier p_φ(y | x_t, t) of classifier guidance (seed 001 Alg. 4) on
    /// a preset's data and schedule (its `[noisy_classifier]` section; defaults otherwise),
    /// and print its held-out accuracy at several noise levels.
    TrainNoisy(NoisyTrainArgs),
    /// Print the bundled classifier's accuracy on its held-out images.
    Check {
        /// The data set.
        #[arg(long, default_value = "mnist")]
        data: String,
    },
}

/// `diffusion-lab classifier train`.
#[derive(Debug, Args)]
pub struct ClassifierTrainArgs {
    /// The bundled data set (mnist or fashion-mnist).
    #[arg(long, default_value = "mnist")]
    pub data: String,
    /// Where to write weights.bpk and info.json (default: assets/classifiers/NAME).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Passes over the training images.
    #[arg(long, default_value_t = ClassifierTrainConfig::default().epochs)]
    pub epochs: usize,
    /// Seed of the weights, the batch order and the augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `diffusion-lab classifier train-noisy`.
#[derive(Debug, Args)]
pub struct NoisyTrainArgs {
    /// The preset: its data, schedule and `[noisy_classifier]` settings.
    #[arg(long, value_name = "presets/NAME.toml")]
    pub preset: PathBuf,
    /// Where to write weights.bpk and info.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Optimiser steps (overrides the preset).
    #[arg(long)]
    pub steps: Option<usize>,
}

fn train_noisy(a: &NoisyTrainArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let preset = crate::config::Preset::load(&a.preset).map_err(CliError::usage)?;
    let mut cfg = preset.noisy_classifier.clone().unwrap_or_default();
    if let Some(s) = a.steps {
        cfg.steps = s;
    }
    cfg.validate().map_err(CliError::usage)?;
    let data = preset.data.load().map_err(CliError::usage)?;
    let table = preset
        .schedule
        .table()
        .map_err(|e| CliError::usage(format!("schedule: {e}")))?;
    let mut bar = crate::cli::progress::Progress::new("train-noisy", "steps");
    let model = crate::train::noisy_classifier::train_noisy_classifier(
        &data,
        &table,
        &preset.schedule.label(),
        &cfg,
        &mut |step, total, loss| {
            bar.update(step, total, &format!("loss {loss:.4}"));
            true
        },
    )
    .map_err(CliError::usage)?;
    bar.finish();
    model.save(&a.out).map_err(CliError::failure)?;
    let acc: Vec<String> = model
        .info
        .accuracy_by_t
        .iter()
        .map(|(t, a)| format!("t={t}: {:.1}%", 100.0 * a))
        .collect();
    writeln!(
        out,
        "noisy classifier on {} ({} steps): held-out accuracy {}; written to {}",
        model.info.data,
        cfg.steps,
        acc.join(", "),
        a.out.display()
    )
    .map_err(io_err)
}

/// Runs `diffusion-lab classifier …`.
pub fn run_classifier(cmd: &ClassifierCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        ClassifierCommand::TrainNoisy(a) => train_noisy(a, out),
        ClassifierCommand::Check { data } => {
            let net = FeatureNet::bundled(data).map_err(CliError::usage)?;
            let held = net.held_out().map_err(CliError::failure)?;
            let acc = net.accuracy(&held).map_err(CliError::failure)?;
            writeln!(
                out,
                "{data} classifier: held-out accuracy {:.2}% on {} images (recorded {:.2}%)",
                100.0 * acc,
                held.len(),
                100.0 * net.info.held_out_accuracy
            )
            .map_err(io_err)
        }
        ClassifierCommand::Train(a) => {
            if a.epochs == 0 {
                return Err(CliError::usage("--epochs must be at least 1"));
            }
            let data = crate::data::bundled(&a.data).map_err(CliError::usage)?;
            let cfg = ClassifierTrainConfig {
                epochs: a.epochs,
                seed: a.seed,
                ..ClassifierTrainConfig::default()
            };
            let start = std::time::Instant::now();
            let net = train_classifier(&data, &cfg, &mut |e, total, acc| {
                eprintln!(
                    "epoch {e}/{total}: held-out accuracy {:.2}% ({:.0} s)",
                    100.0 * acc,
                    start.elapsed().as_secs_f64()
                );
                true
            })
            .map_err(CliError::usage)?;
            let dir = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("assets/classifiers").join(&a.data));
            net.save(&dir).map_err(CliError::failure)?;
            writeln!(
                out,
                "{} classifier: held-out accuracy {:.2}% ({} train / {} held-out images), \
                 written to {}",
                a.data,
                100.0 * net.info.held_out_accuracy,
                net.info.train_images,
                net.info.held_out_images,
                dir.display()
            )
            .map_err(io_err)
        }
    }
}
