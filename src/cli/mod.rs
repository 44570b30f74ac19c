//! The command line: argument definitions and the headless subcommands, one file each.
//!
//! Every subcommand runs on the same core as the GUI. Bad arguments print a message that names
//! the parameter to stderr and exit with code 2; nothing here panics on user input.

pub mod args;
pub mod bench;
pub mod bench_guidance;
pub mod bench_iddpm;
pub mod bench_layers;
pub mod bench_quality;
pub mod classifier;
pub mod forward;
pub mod grid;
pub mod half;
pub mod help;
pub mod nll;
pub mod progress;
pub mod sample;
pub mod schedule;
pub mod score;
pub mod seed000;
pub mod study;
pub mod timesteps;
pub mod toy;
pub mod train;

use crate::app::RendererArg;
use crate::config::View;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// Exit code for bad arguments or invalid parameters.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for failures while doing the work (I/O, rendering).
pub const EXIT_FAILURE: u8 = 1;

/// Diffusion Lab: explore denoising diffusion models (DDPM) by watching them work.
///
/// With no subcommand, opens the app window.
#[derive(Debug, Parser)]
#[command(name = "diffusion-lab", version, about, long_about = None, after_help = help::TOP)]
pub struct Cli {
    /// A headless subcommand; without one the app window opens.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Render a view after its first frames settle, write it as a PNG here, and exit.
    #[arg(long, value_name = "OUT.png")]
    pub screenshot: Option<PathBuf>,

    /// The view to open (or to screenshot); default: the last view, or the schedule lab.
    #[arg(long, value_enum)]
    pub view: Option<View>,

    /// Open the app on a shipped preset (the Presets menu's names, e.g. mnist-cond-cpu).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The window size in logical pixels, e.g. 1280x720.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<[u32; 2]>,

    /// How the window is drawn: auto (wgpu on a hardware GPU, OpenGL when only software
    /// renderers exist: measured 2.4–3.7× faster there, see BENCHMARKS.md), wgpu (the forward
    /// explorer's tiles then run in a WGSL shader) or glow (OpenGL; tiles on the CPU).
    #[arg(long, value_enum, default_value_t = RendererArg::Auto)]
    pub renderer: RendererArg,
    /// Start training the opened preset at once, in the Training view (with --preset). Closing
    /// the window, Ctrl+C, `kill` or logging out stops it and saves its checkpoint.
    #[arg(long)]
    pub train: bool,
    /// Open the presenter at this step (1-based) of the lesson of --preset, e.g. to show a
    /// class's third slide at once or to screenshot it.
    #[arg(long, value_name = "N", requires = "preset")]
    pub lesson_step: Option<usize>,
    /// Where training runs are written and the Runs view looks [default: the per-user data
    /// folder, ~/.local/share/diffusion-lab/runs on Linux].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<std::path::PathBuf>,
}

/// Parses "WxH" window sizes such as 1280x720.
pub fn parse_size(s: &str) -> Result<[u32; 2], String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WxH such as 1280x720, got '{s}'"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (200..=8192).contains(n))
            .ok_or_else(|| {
                format!("each side must be a whole number of pixels in 200..=8192, got '{v}'")
            })
    };
    Ok([parse(w)?, parse(h)?])
}

/// The headless subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the table of a noise schedule for t = 1..T (β, α, ᾱ, β̃, SNR, log-SNR).
    #[command(after_help = help::SCHEDULE)]
    Schedule(schedule::ScheduleArgs),
    /// Print the timesteps a DDIM sampler visits, 1-indexed, in descending order.
    #[command(after_help = help::TIMESTEPS)]
    Timesteps(timesteps::TimestepsArgs),
    /// Train a UNet from a preset (or resume a checkpoint), with a progress bar.
    #[command(after_help = help::TRAIN)]
    Train(train::TrainArgs),
    /// Benchmarks (training throughput against the PyTorch reference).
    #[command(subcommand, after_help = help::BENCH)]
    Bench(bench::BenchCommand),
    /// Sample from a checkpoint and export a grid, a GIF, PNG frames or .npy.
    #[command(after_help = help::SAMPLE)]
    Sample(sample::SampleArgs),
    /// Noise an image with the forward process; write the strip of x_t as PNG (and .npy).
    #[command(after_help = help::FORWARD)]
    Forward(forward::ForwardArgs),
    /// 2-D lab headless: train the toy MLP (or use the true score) and write sampled points.
    #[command(after_help = help::TOY)]
    Toy(toy::ToyArgs),
    /// Train a study preset's runs in turn (schedules × data × seeds); write its summary.
    #[command(after_help = help::STUDY)]
    Study(study::StudyArgs),
    /// The DDIM η × steps table on a checkpoint, with a sample-quality number per cell.
    #[command(after_help = help::GRID)]
    Grid(grid::GridArgs),
    /// Sample quality: FID, IS, KID, precision/recall and classes against held-out images,
    /// on the app's classifier features (a checkpoint's samples or a .npy file).
    #[command(after_help = help::SCORE)]
    Score(score::ScoreArgs),
    /// The variational bound of a checkpoint in bits/dim on its held-out images.
    #[command(after_help = help::NLL)]
    Nll(nll::NllArgs),
    /// Rewrite a checkpoint's EMA weights (ema.bpk) in half precision (f16): half the file,
    /// the same samples. The bundled models ship this way.
    #[command(after_help = help::HALF)]
    Half(half::HalfArgs),
    /// Seed 000's additional layer: train it on a frozen unconditional v-objective UNet
    /// (Folder_3), with a preset's `[seed000]` settings.
    #[command(after_help = help::ADD_LAYER)]
    AddLayer(seed000::AddLayerArgs),
    /// The feature network of `score`: train it, or check its accuracy.
    #[command(subcommand, after_help = help::CLASSIFIER)]
    Classifier(classifier::ClassifierCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) to stdout.
    #[command(after_help = help::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// A failure of a subcommand, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    /// The process exit code.
    pub code: u8,
    /// The message for stderr.
    pub message: String,
}

impl CliError {
    /// A usage error (exit code 2).
    pub fn usage(message: impl ToString) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.to_string(),
        }
    }

    /// A failure while doing the work (exit code 1).
    pub fn failure(message: impl ToString) -> Self {
        Self {
            code: EXIT_FAILURE,
            message: message.to_string(),
        }
    }
}

/// Runs a headless subcommand, writing its output to `out`.
pub fn run_command(command: &Command, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        Command::Schedule(args) => schedule::run_schedule(args, out),
        Command::Timesteps(args) => timesteps::run_timesteps(args, out),
        Command::Train(args) => train::run_train(args, out),
        Command::Bench(cmd) => bench::run_bench(cmd, out),
        Command::Sample(args) => sample::run_sample(args, out),
        Command::Forward(args) => forward::run_forward(args, out),
        Command::Toy(args) => toy::run_toy(args, out),
        Command::Study(args) => study::run_study(args, out),
        Command::Grid(args) => grid::run_grid(args, out),
        Command::Score(args) => score::run_score(args, out),
        Command::Nll(args) => nll::run_nll(args, out),
        Command::Half(args) => half::run_half(args, out),
        Command::Classifier(cmd) => classifier::run_classifier(cmd, out),
        Command::AddLayer(args) => seed000::run_add_layer(args, out),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "diffusion-lab", out);
            Ok(())
        }
    }
}

/// The failure of writing a command's output.
pub(crate) fn io_err(e: std::io::Error) -> CliError {
    CliError::failure(format!("could not write the output: {e}"))
}
