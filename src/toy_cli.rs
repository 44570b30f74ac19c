//! `diffusion-lab toy`: the 2-D lab without a window.

use crate::cli::CliError;
use clap::Args;
use std::io::Write;

/// Arguments of `diffusion-lab toy`.
#[derive(Debug, Clone, Args)]
pub struct ToyArgs {
    /// The dataset.
    #[arg(long, default_value = "gmm")]
    pub dataset: String,
}

/// Runs `diffusion-lab toy`.
pub fn run_toy(args: &ToyArgs, _out: &mut dyn Write) -> Result<(), CliError> {
    Err(CliError::failure(format!(
        "toy: not built yet (dataset {})",
        args.dataset
    )))
}
