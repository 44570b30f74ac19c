//! The headless training commands: `train`, `bench train` and `sample`.

use crate::cli::CliError;
use crate::data::unit_to_u8;
use crate::diffusion::{DdpmVariance, SamplerKind, SamplerPlan, Spacing};
use crate::model::{DeviceChoice, pick_device};
use crate::train::{
    DataSpec, ModelSize, RunConfig, Trainer, load_checkpoint, load_for_inference, sample_chain,
    save_checkpoint,
};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Device names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// A hardware GPU if present, else the CPU.
    Auto,
    /// wgpu (even a software adapter).
    Gpu,
    /// burn's Flex CPU backend.
    Cpu,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Gpu => DeviceChoice::Gpu,
            DeviceArg::Cpu => DeviceChoice::Cpu,
        }
    }
}

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
    /// The checkpoint folder to write (default: a new run folder runs/<timestamp>-<name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
    /// The seed (overrides the preset).
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
}

/// `diffusion-lab bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Training throughput of the canonical UNet (and the PyTorch reference when available).
    Train(BenchTrainArgs),
    /// UI-thread frame times (build + tessellate) of the training view while a run trains.
    Ui(BenchUiArgs),
}

/// `diffusion-lab bench ui`.
#[derive(Debug, Args)]
pub struct BenchUiArgs {
    /// Frames to measure.
    #[arg(long, default_value_t = 600)]
    pub frames: usize,
    /// The window size in points.
    #[arg(long, default_value = "1280x800", value_parser = crate::cli::parse_size)]
    pub size: [u32; 2],
}

/// `diffusion-lab bench train`.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128")]
    pub batch: Vec<usize>,
    /// Image side: 28 (28×28×1, MNIST) or 32 (32×32×3, Twemoji).
    #[arg(long, default_value_t = 28)]
    pub size: usize,
    /// Timed steps per batch size (after 2 warm-up steps).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// The PyTorch reference script; run when python3 with torch is present.
    #[arg(long, default_value = "../shared/bench/ddpm_ref_bench.py")]
    pub reference: PathBuf,
    /// Skip the PyTorch reference.
    #[arg(long)]
    pub no_reference: bool,
}

/// Sampler names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    /// DDPM with σ² = β.
    Ddpm,
    /// DDPM with σ² = β̃.
    DdpmTilde,
    /// DDIM with η.
    Ddim,
    /// Improved-DDPM strided respacing.
    Iddpm,
}

/// `diffusion-lab sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The checkpoint folder.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The sampler.
    #[arg(long, value_enum, default_value_t = SamplerArg::Ddim)]
    pub sampler: SamplerArg,
    /// Sampling steps S (DDIM) or K (iDDPM); DDPM always runs all T.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub steps: usize,
    /// DDIM's η.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub eta: f64,
    /// DDIM's timestep spacing.
    #[arg(long, value_enum, default_value_t = crate::cli::SpacingArg::Trailing)]
    pub spacing: crate::cli::SpacingArg,
    /// Number of samples (1..=256).
    #[arg(long, default_value_t = 16, allow_negative_numbers = true)]
    pub n: usize,
    /// Seed of x_T and of the sampler's noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample with the raw weights instead of the EMA.
    #[arg(long)]
    pub raw: bool,
    /// Don't clip x̂₀ to [−1, 1].
    #[arg(long)]
    pub no_clip: bool,
    /// Write a grid of the samples as PNG.
    #[arg(long, value_name = "out.png")]
    pub grid: Option<PathBuf>,
    /// Write the chain as an animated GIF (x_t row over x̂₀ row).
    #[arg(long, value_name = "chain.gif")]
    pub gif: Option<PathBuf>,
    /// Write the chain as numbered PNG frames into this folder.
    #[arg(long, value_name = "DIR")]
    pub frames: Option<PathBuf>,
    /// Write x₀ as .npy (N×C×H×W, float32).
    #[arg(long, value_name = "x0.npy")]
    pub npy: Option<PathBuf>,
}

fn progress(done: usize, total: usize, loss: f32, rate: f64) {
    let width = 30;
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    let eta = if rate > 0.0 {
        (total - done) as f64 / rate
    } else {
        f64::NAN
    };
    eprint!(
        "\r[{}{}] {done}/{total}  loss {loss:.4}  {rate:.1} steps/s  ETA {eta:.0} s   ",
        "#".repeat(filled),
        "-".repeat(width - filled)
    );
    let _ = std::io::stderr().flush();
}

/// Runs `diffusion-lab train`.
pub fn run_train(args: &TrainArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let device_choice = args.device.map(DeviceChoice::from);
    let (mut trainer, out_dir) = if let Some(dir) = &args.resume {
        let (config, _) = crate::train::read_info(dir).map_err(CliError::usage)?;
        let pick = pick_device(device_choice.unwrap_or(config.train.device));
        let t = load_checkpoint(dir, pick).map_err(CliError::failure)?;
        (t, args.out.clone().unwrap_or_else(|| dir.clone()))
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
        let out_dir = args
            .out
            .clone()
            .unwrap_or_else(|| crate::train::new_run_dir(Path::new("runs"), &config.name));
        let pick = pick_device(config.train.device);
        let t = Trainer::new(config, pick).map_err(|e| match e {
            crate::train::TrainError::Config(_) => CliError::usage(e),
            _ => CliError::failure(e),
        })?;
        (t, out_dir)
    };
    let total = args.steps.unwrap_or(trainer.config.train.steps);
    eprintln!(
        "training '{}' on {} ({}): {} parameters, {} steps, checkpoints in {}",
        trainer.config.name,
        trainer.pick.label,
        trainer.pick.reason,
        trainer.num_params(),
        total,
        out_dir.display()
    );
    let cfg = trainer.config.train.clone();
    let start = Instant::now();
    let start_step = trainer.step;
    let mut last_loss = f32::NAN;
    while trainer.step < total {
        match trainer.step() {
            Ok(s) => last_loss = s.loss,
            Err(e) => {
                eprintln!();
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
        if cfg.val_every > 0 && trainer.step.is_multiple_of(cfg.val_every) {
            trainer.validate();
        }
        if cfg.checkpoint_every > 0 && trainer.step.is_multiple_of(cfg.checkpoint_every) {
            save_checkpoint(&trainer, &out_dir).map_err(CliError::failure)?;
        }
        let rate = (trainer.step - start_step) as f64 / start.elapsed().as_secs_f64().max(1e-9);
        if trainer.step.is_multiple_of(5) || trainer.step == total {
            progress(trainer.step, total, last_loss, rate);
        }
    }
    eprintln!();
    save_checkpoint(&trainer, &out_dir).map_err(CliError::failure)?;
    writeln!(
        out,
        "done: step {} loss {:.5}; checkpoint and losses.csv in {}",
        trainer.step,
        last_loss,
        out_dir.display()
    )
    .map_err(|e| CliError::failure(e.to_string()))
}

/// Runs `diffusion-lab bench …`.
pub fn run_bench(cmd: &BenchCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        BenchCommand::Train(a) => bench_train(a, out),
        BenchCommand::Ui(a) => bench_ui(a, out),
    }
}

fn bench_train(a: &BenchTrainArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (data, channels) = match a.size {
        28 => ("mnist", 1),
        32 => ("twemoji-32", 3),
        s => return Err(CliError::usage(format!("--size must be 28 or 32, got {s}"))),
    };
    if a.batch.is_empty() || a.batch.contains(&0) {
        return Err(CliError::usage("--batch needs positive batch sizes"));
    }
    let pick = pick_device(a.device.into());
    let w = |out: &mut dyn Write, s: String| {
        writeln!(out, "{s}").map_err(|e| CliError::failure(e.to_string()))
    };
    w(out, format!("device: {} ({})", pick.label, pick.reason))?;
    w(
        out,
        format!(
            "model: canonical UNet {0}x{0}x{channels}, T = 1000 linear, Adam lr 2e-4",
            a.size
        ),
    )?;
    let mut rows = Vec::new();
    for &b in &a.batch {
        let mut config = RunConfig {
            name: "bench".into(),
            data: DataSpec::Bundled {
                name: data.into(),
                limit: 2048,
            },
            model_size: ModelSize::Canonical,
            ..RunConfig::default()
        };
        config.train.batch = b;
        config.train.warmup_steps = 0;
        config.train.grad_clip = 0.0;
        let mut t = Trainer::new(config, pick.clone()).map_err(CliError::failure)?;
        for _ in 0..2 {
            t.step().map_err(CliError::failure)?;
        }
        let start = Instant::now();
        for _ in 0..a.steps.max(1) {
            t.step().map_err(CliError::failure)?;
        }
        let secs = start.elapsed().as_secs_f64() / a.steps.max(1) as f64;
        w(
            out,
            format!(
                "burn   B={b:<4} {:8.1} ms/step {:7.2} steps/s {:8.1} img/s",
                secs * 1e3,
                1.0 / secs,
                b as f64 / secs
            ),
        )?;
        rows.push((b, 1.0 / secs));
    }
    if a.no_reference {
        return Ok(());
    }
    let Some(reference) = torch_reference(&a.reference, a.size, channels, &a.batch) else {
        return w(
            out,
            "PyTorch reference: skipped (python3 with torch not found, or the script is missing)"
                .into(),
        );
    };
    for (b, steps) in rows {
        if let Some(ref_steps) = reference.iter().find(|r| r.0 == b).map(|r| r.1) {
            w(
                out,
                format!(
                    "torch  B={b:<4} {ref_steps:7.2} steps/s   ratio burn/torch = {:.2}",
                    steps / ref_steps
                ),
            )?;
        }
    }
    Ok(())
}

/// Runs the PyTorch reference on the same sizes; returns (batch, steps/s).
fn torch_reference(
    script: &Path,
    size: usize,
    channels: usize,
    batches: &[usize],
) -> Option<Vec<(usize, f64)>> {
    if !script.exists() {
        return None;
    }
    let has_torch = std::process::Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .ok()?
        .status
        .success();
    if !has_torch {
        return None;
    }
    let json = std::env::temp_dir().join(format!("diffusion-lab-ref-{}.json", std::process::id()));
    let batch_list: Vec<String> = batches.iter().map(|b| b.to_string()).collect();
    let status = std::process::Command::new("python3")
        .arg(script)
        .args([
            "--only",
            "train",
            "--size",
            &format!("{size}x{channels}"),
            "--batch",
        ])
        .arg(batch_list.join(","))
        .arg("--json")
        .arg(&json)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let text = std::fs::read_to_string(&json).ok()?;
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(
        v.get("train")?
            .as_array()?
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("batch")?.as_u64()? as usize,
                    r.get("steps_s")?.as_f64()?,
                ))
            })
            .collect(),
    )
}

/// Lays out `n` images [C, H, W] (u8) as a near-square RGB grid with 2-px gaps.
pub fn grid_rgb(images: &[u8], n: usize, shape: [usize; 3]) -> image::RgbImage {
    let [c, h, w] = shape;
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    let rows = n.div_ceil(cols).max(1);
    let gap = 2;
    let mut img = image::RgbImage::from_pixel(
        (cols * (w + gap) + gap) as u32,
        (rows * (h + gap) + gap) as u32,
        image::Rgb([40, 40, 40]),
    );
    for i in 0..n {
        let (x0, y0) = (gap + (i % cols) * (w + gap), gap + (i / cols) * (h + gap));
        let base = i * c * h * w;
        for y in 0..h {
            for x in 0..w {
                let px = |ch: usize| {
                    images
                        .get(base + ch * h * w + y * w + x)
                        .copied()
                        .unwrap_or(0)
                };
                let rgb = if c == 3 {
                    [px(0), px(1), px(2)]
                } else {
                    [px(0); 3]
                };
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb));
            }
        }
    }
    img
}

fn save_png(img: &image::RgbImage, path: &Path) -> Result<(), CliError> {
    crate::io::write_atomic(path, |f| {
        img.write_to(f, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| CliError::failure(format!("cannot write PNG: {e}: {}", path.display())))
}

/// Runs `diffusion-lab sample`.
pub fn run_sample(a: &SampleArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if !(1..=256).contains(&a.n) {
        return Err(CliError::usage(format!("--n must be 1..=256, got {}", a.n)));
    }
    let pick = pick_device(DeviceChoice::Auto);
    let (config, info, raw, ema) =
        load_for_inference(&a.checkpoint, &pick.device).map_err(CliError::usage)?;
    let table = config.schedule.table().map_err(CliError::usage)?;
    let kind = match a.sampler {
        SamplerArg::Ddpm => SamplerKind::Ddpm {
            variance: DdpmVariance::Beta,
        },
        SamplerArg::DdpmTilde => SamplerKind::Ddpm {
            variance: DdpmVariance::BetaTilde,
        },
        SamplerArg::Ddim => SamplerKind::Ddim {
            steps: a.steps,
            eta: a.eta,
            spacing: Spacing::from(a.spacing),
        },
        SamplerArg::Iddpm => SamplerKind::Iddpm {
            steps: a.steps,
            variance: DdpmVariance::BetaTilde,
        },
    };
    let plan = SamplerPlan::new(&table, kind).map_err(CliError::usage)?;
    let model = if a.raw { &raw } else { &ema };
    let shape = info.image_shape;
    let stride = (plan.steps.len() / 50).max(1);
    let start = Instant::now();
    let (x0, chain) = sample_chain(
        model,
        &pick.device,
        &table,
        config.train.target,
        &plan,
        a.n,
        shape,
        a.seed,
        !a.no_clip,
        stride,
    );
    let secs = start.elapsed().as_secs_f64();
    let final_u8: Vec<u8> = x0.iter().map(|&v| unit_to_u8(v)).collect();
    if let Some(p) = &a.grid {
        save_png(&grid_rgb(&final_u8, a.n, shape), p)?;
    }
    if let Some(p) = &a.npy {
        let [c, h, w] = shape;
        crate::data::write_npy(p, &[a.n, c, h, w], &x0).map_err(CliError::failure)?;
    }
    let frames: Vec<image::RgbImage> = if a.gif.is_some() || a.frames.is_some() {
        chain
            .xt
            .iter()
            .zip(&chain.x0)
            .map(|(xt, x0)| {
                let top = grid_rgb(xt, a.n, shape);
                let bottom = grid_rgb(x0, a.n, shape);
                let mut f = image::RgbImage::new(top.width(), top.height() * 2);
                image::imageops::replace(&mut f, &top, 0, 0);
                image::imageops::replace(&mut f, &bottom, 0, i64::from(top.height()));
                f
            })
            .collect()
    } else {
        Vec::new()
    };
    if let Some(dir) = &a.frames {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::failure(format!("cannot create folder: {e}: {}", dir.display()))
        })?;
        for (i, f) in frames.iter().enumerate() {
            save_png(f, &dir.join(format!("frame_{i:04}.png")))?;
        }
    }
    if let Some(p) = &a.gif {
        crate::io::write_atomic(p, |file| {
            let mut enc = image::codecs::gif::GifEncoder::new(file);
            enc.set_repeat(image::codecs::gif::Repeat::Infinite)
                .map_err(std::io::Error::other)?;
            for f in &frames {
                let rgba = image::DynamicImage::ImageRgb8(f.clone()).to_rgba8();
                let frame =
                    image::Frame::from_parts(rgba, 0, 0, image::Delay::from_numer_denom_ms(80, 1));
                enc.encode_frame(frame).map_err(std::io::Error::other)?;
            }
            Ok(())
        })
        .map_err(|e| CliError::failure(format!("cannot write GIF: {e}: {}", p.display())))?;
    }
    writeln!(
        out,
        "{} samples, {} steps, {:.2} s ({:.1} steps/s, {:.1} images/s) on {}",
        a.n,
        plan.steps.len(),
        secs,
        plan.steps.len() as f64 / secs,
        a.n as f64 / secs,
        pick.label
    )
    .map_err(|e| CliError::failure(e.to_string()))
}

/// Frame-time statistics in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct FrameStats {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Worst frame.
    pub max: f64,
}

impl FrameStats {
    /// Statistics of `ms` (not empty).
    pub fn of(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Self {
            p50: at(0.5),
            p95: at(0.95),
            max: at(1.0),
        }
    }
}

fn bench_ui(a: &BenchUiArgs, out: &mut dyn Write) -> Result<(), CliError> {
    use crate::app::{DiffusionApp, RunStatus};
    let ctx = egui::Context::default();
    let mut app = DiffusionApp::new(crate::cli::ViewName::Training);
    app.training.config.train.device = DeviceChoice::Cpu;
    app.training.config.train.preview_every = 50;
    app.training.runs_dir =
        std::env::temp_dir().join(format!("diffusion-lab-bench-ui-{}", std::process::id()));
    let wake: std::sync::Arc<dyn Fn() + Send + Sync> = std::sync::Arc::new(|| {});
    app.training.start(None, None, wake);
    let screen = egui::Rect::from_min_size(
        egui::Pos2::ZERO,
        egui::vec2(a.size[0] as f32, a.size[1] as f32),
    );
    let frame = |app: &mut DiffusionApp| {
        let input = egui::RawInput {
            screen_rect: Some(screen),
            ..Default::default()
        };
        let t0 = Instant::now();
        app.training.logic(&ctx);
        let full = ctx.run_ui(input, |ui| app.shell_ui(ui));
        let _ = ctx.tessellate(full.shapes, full.pixels_per_point);
        t0.elapsed().as_secs_f64() * 1e3
    };
    let start = Instant::now();
    while app.training.status != RunStatus::Training && start.elapsed().as_secs() < 120 {
        frame(&mut app);
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    let mut times = Vec::with_capacity(a.frames);
    for _ in 0..a.frames.max(1) {
        times.push(frame(&mut app));
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    let steps = app.training.step.0;
    app.training.shutdown();
    let _ = std::fs::remove_dir_all(&app.training.runs_dir);
    let s = FrameStats::of(times);
    writeln!(
        out,
        "training view while training ({steps} steps done): UI frame p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms over {} frames",
        s.p50, s.p95, s.max, a.frames
    )
    .map_err(|e| CliError::failure(e.to_string()))
}
