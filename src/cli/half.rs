//! `diffusion-lab half`: a checkpoint's EMA weights in half precision, as the bundled models
//! ship them.

use super::CliError;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// `diffusion-lab half`.
#[derive(Debug, Args)]
pub struct HalfArgs {
    /// The checkpoint folder whose `ema.bpk` to rewrite (in place, atomically). Its raw weights
    /// and optimiser state, which a resume needs, stay in f32.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
}

/// Runs `diffusion-lab half`.
pub fn run_half(a: &HalfArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (before, after) = crate::store::checkpoint::write_ema_half(&a.checkpoint)
        .map_err(|e| CliError::usage(e.to_string()))?;
    writeln!(
        out,
        "{}: ema.bpk in f16, {} (was {})",
        a.checkpoint.display(),
        mb(after),
        mb(before)
    )
    .map_err(super::io_err)
}

/// A file size in megabytes, to a tenth.
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
