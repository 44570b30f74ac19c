//! `diffusion-lab bench`: training throughput against the PyTorch reference, UI-thread frame
//! times while a run trains, and the frame times of a real window.

use super::CliError;
use super::args::DeviceArg;
use crate::config::{DataSpec, ModelSize, RunConfig};
use crate::model::{DeviceChoice, TrainEngine, pick_device};
use crate::train::Trainer;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `diffusion-lab bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Training throughput of the canonical UNet (and the PyTorch reference when available).
    Train(BenchTrainArgs),
    /// UI-thread frame times (build + tessellate) of the training view while a run trains.
    Ui(BenchUiArgs),
    /// End-to-end frame times of a real window (renderer included) while a view animates.
    Window(BenchWindowArgs),
    /// Time to quality: FID and IS at fixed points of training wall time, from scratch
    /// (beside the PyTorch anchor's samples with --anchor).
    Quality(super::bench_quality::BenchQualityArgs),
    /// Classifier-free guidance's trade-off (seed 004): accuracy on the class asked for and
    /// per-class FID for each weight w, of a class-conditional checkpoint.
    Guidance(super::bench_guidance::BenchGuidanceArgs),
    /// Improved DDPM (#15 §1): one preset trained with L_simple and with L_hybrid, then the
    /// NLL bound of each and the FID of strided sampling at several K, fixed vs learned Σ.
    Iddpm(super::bench_iddpm::BenchIddpmArgs),
    /// The canonical UNet's layers one at a time, forward and backward, on burn's Flex backend
    /// and on the native engine, with GFLOP/s: where a training step's time goes.
    Layers(super::bench_layers::BenchLayersArgs),
}

/// `diffusion-lab bench window`.
#[derive(Debug, Args)]
pub struct BenchWindowArgs {
    /// The view: forward (64×64 RGB under four schedules, t moving), presenter (the forward
    /// lesson's linear-vs-cosine step in the presenter layout, t moving), player (the chain
    /// playing) or any other view (redrawn continuously)
    #[arg(long, value_enum, default_value_t = crate::config::View::Forward)]
    pub view: crate::config::View,
    /// The renderer.
    #[arg(long, value_enum, default_value_t = crate::app::RendererArg::Wgpu)]
    pub renderer: crate::app::RendererArg,
    /// Frames to time (after 30 warm-up frames).
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// The window size in points.
    #[arg(long, default_value = "1280x800", value_parser = crate::cli::parse_size)]
    pub size: [u32; 2],
}

/// `diffusion-lab bench ui`.
#[derive(Debug, Args)]
pub struct BenchUiArgs {
    /// Frames to measure in each phase (without, then with the live chain; about 60 per second).
    #[arg(long, default_value_t = 3600)]
    pub frames: usize,
    /// The window size in points.
    #[arg(long, default_value = "1280x800", value_parser = crate::cli::parse_size)]
    pub size: [u32; 2],
    /// Also measure the Training view's live FID (256 DDIM-25 samples of the EMA weights in
    /// the background) every this many steps: a third phase with it on and the live chain off,
    /// reported as its cost in the trainer's steps/s.
    #[arg(long, value_name = "STEPS")]
    pub quality_every: Option<usize>,
}

/// `diffusion-lab bench train`.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// The training engines to time, comma-separated (each batch size runs every engine, then
    /// PyTorch, before the next batch size: interleaved, so load changes hit all alike).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "native,burn")]
    pub engine: Vec<TrainEngine>,
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
    /// The Python interpreter that has torch (e.g. a virtual environment's).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
}

/// Runs `diffusion-lab bench …`.
pub fn run_bench(cmd: &BenchCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        BenchCommand::Train(a) => bench_train(a, out),
        BenchCommand::Ui(a) => bench_ui(a, out),
        BenchCommand::Window(a) => bench_window(a, out),
        BenchCommand::Quality(a) => super::bench_quality::bench_quality(a, out),
        BenchCommand::Guidance(a) => super::bench_guidance::bench_guidance(a, out),
        BenchCommand::Iddpm(a) => super::bench_iddpm::bench_iddpm(a, out),
        BenchCommand::Layers(a) => super::bench_layers::bench_layers(a, out),
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
    if a.engine.is_empty() {
        return Err(CliError::usage("--engine needs at least one engine"));
    }
    let torch = !a.no_reference && has_torch(&a.python) && a.reference.exists();
    if !a.no_reference && !torch {
        w(
            out,
            "PyTorch reference: skipped (python3 with torch not found, or the script is missing)"
                .into(),
        )?;
    }
    for &b in &a.batch {
        let mut rates: Vec<(String, f64)> = Vec::new();
        for &engine in &a.engine {
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
            config.train.engine = engine;
            let mut t = Trainer::new(config, pick.clone()).map_err(CliError::failure)?;
            let name = TrainEngine::label(t.is_native());
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
                    "{name:<6} B={b:<4} {:8.1} ms/step {:7.2} steps/s {:8.1} img/s",
                    secs * 1e3,
                    1.0 / secs,
                    b as f64 / secs
                ),
            )?;
            rates.push((name.to_string(), 1.0 / secs));
        }
        if torch
            && let Some(ref_steps) =
                torch_reference(&a.python, &a.reference, a.size, channels, &[b])
                    .and_then(|r| r.iter().find(|r| r.0 == b).map(|r| r.1))
        {
            let ratios: Vec<String> = rates
                .iter()
                .map(|(name, r)| format!("{name}/torch = {:.2}", r / ref_steps))
                .collect();
            w(
                out,
                format!(
                    "torch  B={b:<4} {:8.1} ms/step {ref_steps:7.2} steps/s {:8.1} img/s   {}",
                    1e3 / ref_steps,
                    b as f64 * ref_steps,
                    ratios.join(", ")
                ),
            )?;
        }
        if let [(n1, r1), (n2, r2), ..] = rates.as_slice() {
            w(out, format!("       B={b:<4} {n1}/{n2} = {:.2}", r1 / r2))?;
        }
    }
    Ok(())
}

/// Whether `python` can import torch.
fn has_torch(python: &Path) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the PyTorch reference on the same sizes; returns (batch, steps/s).
fn torch_reference(
    python: &Path,
    script: &Path,
    size: usize,
    channels: usize,
    batches: &[usize],
) -> Option<Vec<(usize, f64)>> {
    if !script.exists() || !has_torch(python) {
        return None;
    }
    let json = std::env::temp_dir().join(format!("diffusion-lab-ref-{}.json", std::process::id()));
    let batch_list: Vec<String> = batches.iter().map(|b| b.to_string()).collect();
    let status = std::process::Command::new(python)
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

fn bench_ui(a: &BenchUiArgs, out: &mut dyn Write) -> Result<(), CliError> {
    // Twice: without the live chain, then with it at its default cadence (#19), so the cost of
    // re-sampling beside training shows as UI frame times and as the trainer's steps/s.
    let mut rates = Vec::new();
    for live in [false, true] {
        let (s, steps, rate, chains, _) = bench_ui_phase(a, live, 0)?;
        writeln!(
            out,
            "training view, live chain {}: UI frame p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms over \
             {} frames; trainer {rate:.2} steps/s ({steps} steps){}",
            if live { "on " } else { "off" },
            s.p50_ms,
            s.p95_ms,
            s.max_ms,
            a.frames,
            if live {
                format!(", {chains} live chains")
            } else {
                String::new()
            }
        )
        .map_err(|e| CliError::failure(e.to_string()))?;
        rates.push(rate);
    }
    writeln!(
        out,
        "the live chain costs the trainer {:.1}% of its steps/s",
        100.0 * (1.0 - rates[1] / rates[0].max(1e-9))
    )
    .map_err(|e| CliError::failure(e.to_string()))?;
    let Some(every) = a.quality_every.filter(|&k| k > 0) else {
        return Ok(());
    };
    let (s, steps, rate, _, points) = bench_ui_phase(a, false, every)?;
    writeln!(
        out,
        "training view, live FID every {every} steps: UI frame p50 {:.2} ms, p95 {:.2} ms; \
         trainer {rate:.2} steps/s ({steps} steps, {points} FID measurements); it costs the \
         trainer {:.1}% of its steps/s",
        s.p50_ms,
        s.p95_ms,
        100.0 * (1.0 - rate / rates[0].max(1e-9))
    )
    .map_err(|e| CliError::failure(e.to_string()))
}

/// One phase of `bench ui`: (frame stats, steps done while measuring, steps/s, live chains).
fn bench_ui_phase(
    a: &BenchUiArgs,
    live: bool,
    quality_every: usize,
) -> Result<(crate::app::FrameStats, usize, f64, usize, usize), CliError> {
    use crate::app::{DiffusionApp, RunStatus};
    let ctx = egui::Context::default();
    let mut app = DiffusionApp::new(crate::config::View::Training);
    let train = &mut app.training.config.train;
    train.device = DeviceChoice::Cpu;
    train.preview_every = 0;
    train.live_secs = if live { None } else { Some(0.0) };
    train.quality_every = quality_every;
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
        app.tick(&ctx);
        let full = ctx.run_ui(input, |ui| app.shell_ui(ui));
        let _ = ctx.tessellate(full.shapes, full.pixels_per_point);
        t0.elapsed().as_secs_f64() * 1e3
    };
    let start = Instant::now();
    while app.training.status != RunStatus::Training && start.elapsed().as_secs() < 120 {
        frame(&mut app);
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    if app.training.status != RunStatus::Training {
        app.training.shutdown();
        return Err(CliError::failure(format!(
            "the run did not start within 120 s ({:?})",
            app.training.error
        )));
    }
    let (step0, t0) = (app.training.step.0, Instant::now());
    let mut times = Vec::with_capacity(a.frames);
    for _ in 0..a.frames.max(1) {
        times.push(frame(&mut app));
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    let steps = app.training.step.0 - step0;
    let rate = steps as f64 / t0.elapsed().as_secs_f64();
    let chains = app.player.live_chains();
    let points = app.training.quality.len();
    app.training.shutdown();
    let _ = std::fs::remove_dir_all(&app.training.runs_dir);
    Ok((
        crate::app::FrameStats::of(times, String::new()),
        steps,
        rate,
        chains,
        points,
    ))
}

fn bench_window(a: &BenchWindowArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let times = crate::app::run_window_bench(crate::app::WindowBench {
        view: a.view,
        renderer: a.renderer,
        frames: a.frames,
        size: a.size,
    })
    .map_err(|e| CliError::failure(format!("{e:#}")))?;
    if times.is_empty() {
        return Err(CliError::failure(
            "the window closed before any frame was timed",
        ));
    }
    let s = crate::app::FrameStats::of(times, format!("{:?}", a.renderer).to_lowercase());
    writeln!(
        out,
        "{:?} view, {}x{}, renderer {}: {} frames, mean {:.1} ms, median {:.1} ms, p95 {:.1} ms ({:.0} fps at the mean)",
        a.view,
        a.size[0],
        a.size[1],
        s.tiles_on,
        s.frames,
        s.mean_ms,
        s.p50_ms,
        s.p95_ms,
        1000.0 / s.mean_ms.max(1e-9)
    )
    .map_err(|e| CliError::failure(e.to_string()))
}
