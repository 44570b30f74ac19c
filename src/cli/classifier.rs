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

/// Runs `diffusion-lab classifier …`.
pub fn run_classifier(cmd: &ClassifierCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
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
