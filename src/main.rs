//! The `diffusion-lab` binary: parses the command line and hands over to the library.

use clap::Parser;
use diffusion_lab::app::{self, AppOptions};
use diffusion_lab::cli::{Cli, EXIT_FAILURE, run_command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        return match run_command(command, &mut out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", e.message);
                ExitCode::from(e.code)
            }
        };
    }
    let options = AppOptions {
        view: cli.view,
        size: cli.size.unwrap_or(AppOptions::default().size),
        screenshot: cli.screenshot,
        renderer: cli.renderer,
    };
    match app::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
