//! `diffusion-lab timesteps`: the timesteps a DDIM sampler visits.

use super::args::DdimSpacingArg;
use super::{CliError, io_err};
use crate::diffusion::ddim_timesteps;
use clap::Args;
use std::io::Write;

/// `diffusion-lab timesteps`.
#[derive(Debug, Args)]
pub struct TimestepsArgs {
    /// T, the number of training steps.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub train_steps: usize,
    /// S, the number of sampling steps (1..=T).
    #[arg(long, allow_negative_numbers = true)]
    pub steps: usize,
    /// How the S steps are spread over 1..T (diffusers' semantics, 1-indexed).
    #[arg(long, value_enum, default_value_t = DdimSpacingArg::Linspace)]
    pub spacing: DdimSpacingArg,
}

pub(crate) fn run_timesteps(args: &TimestepsArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.train_steps == 0 || args.train_steps > crate::diffusion::MAX_STEPS {
        return Err(CliError::usage(format!(
            "--train-steps must be between 1 and {}, got {}",
            crate::diffusion::MAX_STEPS,
            args.train_steps
        )));
    }
    let ts = ddim_timesteps(args.train_steps, args.steps, args.spacing.into())
        .map_err(CliError::usage)?;
    let mut w = std::io::BufWriter::new(out);
    for t in ts {
        writeln!(w, "{t}").map_err(io_err)?;
    }
    w.flush().map_err(io_err)
}
