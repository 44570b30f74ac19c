//! The command line: argument definitions and the headless subcommands.
//!
//! Every subcommand runs on the same core as the GUI. Bad arguments print a message that names
//! the parameter to stderr and exit with code 2; nothing here panics on user input.

use crate::diffusion::{ScheduleKind, ScheduleSpec, ScheduleTable, Spacing, ddim_timesteps};
use clap::{Args, Parser, Subcommand, ValueEnum};
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
#[command(name = "diffusion-lab", version, about, long_about = None)]
pub struct Cli {
    /// A headless subcommand; without one the app window opens.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Render a view after its first frames settle, write it as a PNG here, and exit.
    #[arg(long, value_name = "OUT.png")]
    pub screenshot: Option<PathBuf>,

    /// The view to open (or to screenshot); default: the last view, or the schedule lab.
    #[arg(long, value_enum)]
    pub view: Option<ViewName>,

    /// The window size in logical pixels, e.g. 1280x720.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<[u32; 2]>,

    /// How the window is drawn: auto (wgpu on a hardware GPU, OpenGL when only software
    /// renderers exist: measured 2.4–3.7× faster there, see BENCHMARKS.md), wgpu (the forward
    /// explorer's tiles then run in a WGSL shader) or glow (OpenGL; tiles on the CPU).
    #[arg(long, value_enum, default_value_t = RendererArg::Auto)]
    pub renderer: RendererArg,
}

/// The window renderers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum RendererArg {
    /// wgpu on a hardware GPU, glow when only software adapters exist.
    #[default]
    Auto,
    /// wgpu: Vulkan, Metal or DX12.
    Wgpu,
    /// glow: OpenGL.
    Glow,
}

impl RendererArg {
    /// Resolves `Auto` by probing the adapters (about a tenth of a second).
    pub fn resolve(self) -> RendererArg {
        match self {
            RendererArg::Auto if crate::model::has_hardware_adapter() => RendererArg::Wgpu,
            RendererArg::Auto => RendererArg::Glow,
            r => r,
        }
    }
}

impl From<RendererArg> for eframe::Renderer {
    fn from(r: RendererArg) -> Self {
        match r {
            RendererArg::Wgpu => eframe::Renderer::Wgpu,
            RendererArg::Glow => eframe::Renderer::Glow,
            RendererArg::Auto => r.resolve().into(),
        }
    }
}

/// The views that can be opened by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ViewName {
    /// The schedule lab: β, ᾱ and SNR of any number of schedules.
    Schedule,
    /// Training: live loss plots, loss by timestep, throughput and previews.
    Training,
    /// The forward-process explorer: x_t of one image under up to four schedules.
    Forward,
    /// The reverse-chain player: denoising step by step, A/B comparison, exports.
    Player,
    /// The 2-D lab: whole distributions, score fields and trajectories.
    Toy2d,
    /// The runs folder: every training run, overlaid curves, samples from the same noise.
    Runs,
    /// Classroom presenter layout: large fonts, high contrast, controls hidden.
    Presenter,
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
    Schedule(ScheduleArgs),
    /// Print the timesteps a DDIM sampler visits, 1-indexed, in descending order.
    Timesteps(TimestepsArgs),
    /// Train a UNet from a preset (or resume a checkpoint), with a progress bar.
    Train(crate::train_cli::TrainArgs),
    /// Benchmarks (training throughput against the PyTorch reference).
    #[command(subcommand)]
    Bench(crate::train_cli::BenchCommand),
    /// Sample from a checkpoint and export a grid, a GIF, PNG frames or .npy.
    Sample(crate::train_cli::SampleArgs),
    /// Noise an image with the forward process; write the strip of x_t as PNG (and .npy).
    Forward(crate::explore::ForwardArgs),
    /// 2-D lab headless: train the toy MLP (or use the true score) and write sampled points.
    Toy(crate::toy_cli::ToyArgs),
    /// Train a study preset's runs in turn (schedules × data × seeds); write its summary.
    Study(crate::study_cli::StudyArgs),
    /// The DDIM η × steps table on a checkpoint, with a sample-quality number per cell.
    Grid(crate::study_cli::GridArgs),
}

/// The schedule kinds, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// β linear in t.
    Linear,
    /// √β linear in t (diffusers' scaled_linear).
    ScaledLinear,
    /// Nichol & Dhariwal's cosine ᾱ.
    Cosine,
    /// sigmoid(linspace(−6, 6, T)) on β (diffusers' sigmoid).
    Sigmoid,
    /// β₁ + (β_T − β₁)·u^p.
    Power,
    /// β₁ + (β_T − β₁)·(½ − ½cos(πku)).
    Sine,
    /// β(u) from --expr.
    Custom,
}

impl From<KindArg> for ScheduleKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Linear => ScheduleKind::Linear,
            KindArg::ScaledLinear => ScheduleKind::ScaledLinear,
            KindArg::Cosine => ScheduleKind::Cosine,
            KindArg::Sigmoid => ScheduleKind::Sigmoid,
            KindArg::Power => ScheduleKind::Power,
            KindArg::Sine => ScheduleKind::Sine,
            KindArg::Custom => ScheduleKind::Custom,
        }
    }
}

/// The flags that describe a schedule; shared by every subcommand that needs one.
#[derive(Debug, Clone, Args)]
pub struct ScheduleFlags {
    /// The schedule family.
    #[arg(long, value_enum, default_value_t = KindArg::Linear)]
    pub kind: KindArg,
    /// T, the number of diffusion steps (1..=100000).
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub steps: usize,
    /// β₁ (linear, scaled-linear, sigmoid, power, sine).
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
    pub beta_start: f64,
    /// β_T (linear, scaled-linear, sigmoid, power, sine).
    #[arg(long, default_value_t = 0.02, allow_negative_numbers = true)]
    pub beta_end: f64,
    /// The cosine offset s.
    #[arg(long, default_value_t = 0.008, allow_negative_numbers = true)]
    pub cosine_s: f64,
    /// The clip on cosine β.
    #[arg(long, default_value_t = 0.999, allow_negative_numbers = true)]
    pub max_beta: f64,
    /// The exponent p of the power schedule (any p > 0; seed 003 uses 1.5, 2 and 10).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub power: f64,
    /// The number of half-waves k ≥ 1 of the sine schedule (1: a smooth ramp).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub waves: u32,
    /// β(u) for the custom schedule, an expression in u ∈ [0, 1], e.g. "1e-4 + 0.02*u^2".
    #[arg(long, allow_hyphen_values = true)]
    pub expr: Option<String>,
}

impl ScheduleFlags {
    /// The schedule these flags describe (not yet validated).
    pub fn spec(&self) -> ScheduleSpec {
        let defaults = ScheduleSpec::default();
        ScheduleSpec {
            kind: self.kind.into(),
            steps: self.steps,
            beta_start: self.beta_start,
            beta_end: self.beta_end,
            cosine_s: self.cosine_s,
            max_beta: self.max_beta,
            power: self.power,
            waves: self.waves,
            expr: self.expr.clone().unwrap_or(defaults.expr),
        }
    }
}

/// Output formats for tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object with the parameters, the badges and the rows.
    Json,
}

/// `diffusion-lab schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The schedule.
    #[command(flatten)]
    pub schedule: ScheduleFlags,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
}

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
    #[arg(long, value_enum, default_value_t = SpacingArg::Linspace)]
    pub spacing: SpacingArg,
}

/// DDIM timestep spacings, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpacingArg {
    /// round(linspace(0, T−1, S)) + 1.
    Linspace,
    /// k·⌊T/S⌋ + 1.
    Leading,
    /// round(T − k·T/S).
    Trailing,
}

impl From<SpacingArg> for Spacing {
    fn from(s: SpacingArg) -> Self {
        match s {
            SpacingArg::Linspace => Spacing::Linspace,
            SpacingArg::Leading => Spacing::Leading,
            SpacingArg::Trailing => Spacing::Trailing,
        }
    }
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
        Command::Schedule(args) => run_schedule(args, out),
        Command::Timesteps(args) => run_timesteps(args, out),
        Command::Train(args) => crate::train_cli::run_train(args, out),
        Command::Bench(cmd) => crate::train_cli::run_bench(cmd, out),
        Command::Sample(args) => crate::train_cli::run_sample(args, out),
        Command::Forward(args) => crate::explore::run_forward(args, out),
        Command::Toy(args) => crate::toy_cli::run_toy(args, out),
        Command::Study(args) => crate::study_cli::run_study(args, out),
        Command::Grid(args) => crate::study_cli::run_grid(args, out),
    }
}

fn io_err(e: std::io::Error) -> CliError {
    CliError::failure(format!("could not write the output: {e}"))
}

fn run_schedule(args: &ScheduleArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let spec = args.schedule.spec();
    let table = spec.table().map_err(CliError::usage)?;
    match args.format {
        Format::Csv => write_csv(&table, out).map_err(io_err),
        Format::Json => {
            let doc = schedule_json(&spec, &table);
            serde_json::to_writer_pretty(&mut *out, &doc)
                .map_err(|e| CliError::failure(format!("could not write JSON: {e}")))?;
            writeln!(out).map_err(io_err)
        }
    }
}

/// The CSV header of `diffusion-lab schedule`.
pub const CSV_HEADER: &str = "t,beta,alpha,alpha_bar,beta_tilde,snr,log_snr";

/// Writes the schedule table as CSV, every number in shortest round-trip form.
pub fn write_csv(table: &ScheduleTable, out: &mut dyn Write) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(out);
    writeln!(w, "{CSV_HEADER}")?;
    for i in 0..table.steps() {
        // `{:?}` prints the shortest string that parses back to the same f64.
        writeln!(
            w,
            "{},{:?},{:?},{:?},{:?},{:?},{:?}",
            i + 1,
            table.beta[i],
            table.alpha[i],
            table.alpha_bar[i],
            table.beta_tilde[i],
            table.snr[i],
            table.log_snr[i]
        )?;
    }
    w.flush()
}

/// The JSON document of `diffusion-lab schedule --format json`.
pub fn schedule_json(spec: &ScheduleSpec, table: &ScheduleTable) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = (0..table.steps())
        .map(|i| {
            serde_json::json!({
                "t": i + 1,
                "beta": table.beta[i],
                "alpha": table.alpha[i],
                "alpha_bar": table.alpha_bar[i],
                "beta_tilde": table.beta_tilde[i],
                "snr": table.snr[i],
                "log_snr": table.log_snr[i],
            })
        })
        .collect();
    serde_json::json!({
        "schedule": spec,
        "badges": table.badges(),
        "rows": rows,
    })
}

fn run_timesteps(args: &TimestepsArgs, out: &mut dyn Write) -> Result<(), CliError> {
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
