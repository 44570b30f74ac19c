//! `diffusion-lab bench quality`: time to quality. Trains a preset from scratch and measures
//! FID and IS of the EMA weights (DDIM-50) at fixed points of training wall time; the
//! evaluations are not counted as training time, as in `../shared/bench/ddpm_mnist_anchor.py`,
//! whose sample files `--anchor` rates with the same metric.

use super::score::progress_line;
use super::{CliError, io_err};
use crate::config::RunConfig;
use crate::diffusion::{SamplerKind, SamplerPlan, Spacing};
use crate::metrics::{FeatureNet, ScoreRow, classifier_for, finite_images, score_sets};
use crate::model::pick_device;
use crate::sampling::{ChainSpec, Denoiser, sample_batched};
use crate::train::Trainer;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// `diffusion-lab bench quality`.
#[derive(Debug, Args)]
pub struct BenchQualityArgs {
    /// The preset to train from scratch.
    #[arg(long, value_name = "presets/NAME.toml")]
    pub preset: PathBuf,
    /// Training wall time in minutes (evaluations not counted).
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Evaluate every this many minutes of training.
    #[arg(long, default_value_t = 2.0)]
    pub every: f64,
    /// Samples per evaluation (DDIM-50, η = 0, EMA weights).
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Write each evaluation's samples as DIR/samples_<minute>.npy and the curve as
    /// DIR/curve.csv.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also rate the PyTorch anchor's samples (DIR/samples_<minute>.npy from
    /// ddpm_mnist_anchor.py --out DIR) at the same minutes.
    #[arg(long, value_name = "DIR")]
    pub anchor: Option<PathBuf>,
}

/// One evaluation.
struct Point {
    minute: f64,
    step: usize,
    row: ScoreRow,
    floor: f64,
}

/// Scores one set of samples: its row and the real-vs-real floor's FID.
pub(super) fn score_images(
    net: &FeatureNet,
    x: &[f32],
    shape: [usize; 3],
) -> Result<(ScoreRow, f64), CliError> {
    let pixels: usize = shape.iter().product();
    let (kept, bad) = finite_images(x, pixels);
    let report = score_sets(net, &[kept], shape, bad, 0, String::new(), &mut |_, _| true)
        .map_err(CliError::failure)?;
    let floor = report.rows.get(1).map_or(f64::NAN, |r| r.fid.mean);
    let row = report.rows.into_iter().next().unwrap_or_default();
    Ok((row, floor))
}

fn minute_name(m: f64) -> String {
    if m.fract() == 0.0 {
        format!("{m:.0}")
    } else {
        format!("{m}")
    }
}

/// Runs `diffusion-lab bench quality`.
pub fn bench_quality(a: &BenchQualityArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if !(a.minutes > 0.0 && a.every > 0.0 && a.every <= a.minutes) {
        return Err(CliError::usage(format!(
            "--minutes and --every must be positive with --every ≤ --minutes, got {} and {}",
            a.minutes, a.every
        )));
    }
    if !(2..=10_000).contains(&a.n) {
        return Err(CliError::usage(format!(
            "--n must be 2..=10000, got {}",
            a.n
        )));
    }
    let config = RunConfig::load_preset(&a.preset).map_err(CliError::usage)?;
    let net = classifier_for(&config.data).map_err(CliError::usage)?;
    let pick = pick_device(config.train.device);
    let mut trainer = Trainer::new(config, pick).map_err(CliError::usage)?;
    let shape = trainer.image_shape();
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
    }
    writeln!(
        out,
        "time to quality: '{}' on {}, {} samples of DDIM-50 (EMA) every {} min of training; {}",
        trainer.config.name,
        trainer.pick.label,
        a.n,
        a.every,
        crate::metrics::feature_note(&net.info.data)
    )
    .map_err(io_err)?;
    writeln!(
        out,
        "{:>7} {:>7} {:>9} {:>7} {:>7} {:>7} {:>9}",
        "minute", "step", "FID", "IS", "prec", "recall", "floor"
    )
    .map_err(io_err)?;
    let kind = SamplerKind::Ddim {
        steps: 50.min(trainer.table.steps()),
        eta: 0.0,
        spacing: Spacing::Trailing,
    };
    let plan = SamplerPlan::new(&trainer.table, kind).map_err(CliError::usage)?;
    let never = AtomicBool::new(false);
    let mut trained = 0.0f64;
    let mut next = a.every;
    let mut points = Vec::new();
    while next <= a.minutes + 1e-9 {
        let t0 = Instant::now();
        trainer.step().map_err(CliError::failure)?;
        trained += t0.elapsed().as_secs_f64() / 60.0;
        if trained + 1e-12 < next {
            continue;
        }
        let ema = trainer.ema_snapshot();
        let device = trainer.inference_device();
        let den = Denoiser::new(
            &ema,
            &device,
            &trainer.table,
            trainer.config.train.target,
            shape,
        );
        let what = format!("sampling at minute {}", minute_name(next));
        let spec = ChainSpec::new(plan.clone(), a.n, 0, true);
        let x =
            sample_batched(&den, &spec, 250, &never, &mut progress_line(&what)).unwrap_or_default();
        if let Some(dir) = &a.out {
            let p = dir.join(format!("samples_{}.npy", minute_name(next)));
            crate::data::write_npy(&p, &[a.n, shape[0], shape[1], shape[2]], &x)
                .map_err(CliError::failure)?;
        }
        let (row, floor) = score_images(&net, &x, shape)?;
        writeln!(
            out,
            "{:>7} {:>7} {:>9.2} {:>7.2} {:>7.3} {:>7.3} {:>9.2}",
            minute_name(next),
            trainer.step,
            row.fid.mean,
            row.is.mean,
            row.precision.mean,
            row.recall.mean,
            floor
        )
        .map_err(io_err)?;
        points.push(Point {
            minute: next,
            step: trainer.step,
            row,
            floor,
        });
        next += a.every;
    }
    if let Some(dir) = &a.out {
        let mut csv = String::from("minute,step,fid,is,precision,recall,fid_floor\n");
        for p in &points {
            csv += &format!(
                "{},{},{},{},{},{},{}\n",
                p.minute,
                p.step,
                p.row.fid.mean,
                p.row.is.mean,
                p.row.precision.mean,
                p.row.recall.mean,
                p.floor
            );
        }
        let path = dir.join("curve.csv");
        crate::fs::write_atomic(&path, |w| w.write_all(csv.as_bytes()))
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(anchor) = &a.anchor {
        rate_anchor(anchor, &points, &net, shape, out)?;
    }
    Ok(())
}

/// Rates the anchor's samples at the same minutes and prints them beside ours.
fn rate_anchor(
    dir: &Path,
    points: &[Point],
    net: &FeatureNet,
    shape: [usize; 3],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(out, "PyTorch anchor ({}):", dir.display()).map_err(io_err)?;
    let anchor_steps = anchor_log_steps(dir);
    for p in points {
        // ddpm_mnist_anchor.py names its files samples_<m>min.npy; `--out` of this command
        // writes samples_<m>.npy. Either is accepted.
        let m = minute_name(p.minute);
        let names = [format!("samples_{m}min.npy"), format!("samples_{m}.npy")];
        let Some(file) = names.iter().map(|n| dir.join(n)).find(|f| f.is_file()) else {
            writeln!(out, "{m:>7} (no {} in {})", names[0], dir.display()).map_err(io_err)?;
            continue;
        };
        let step = anchor_steps
            .get(&format!("{m}min"))
            .map_or_else(|| "torch".to_string(), |s| s.to_string());
        let (x, [_, c, h, w]) = crate::data::read_npy_samples(&file).map_err(CliError::usage)?;
        if [c, h, w] != shape {
            return Err(CliError::usage(format!(
                "{} holds {c}×{h}×{w} images, the preset trains {}×{}×{}",
                file.display(),
                shape[0],
                shape[1],
                shape[2]
            )));
        }
        let (row, _) = score_images(net, &x, shape)?;
        writeln!(
            out,
            "{:>7} {:>7} {:>9.2} {:>7.2} {:>7.3} {:>7.3}   (ours: FID {:.2} at step {})",
            m,
            step,
            row.fid.mean,
            row.is.mean,
            row.precision.mean,
            row.recall.mean,
            p.row.fid.mean,
            p.step
        )
        .map_err(io_err)?;
    }
    Ok(())
}

/// The anchor's training steps at each of its points, from DIR/log.json
/// (`{"points": [{"label": "2min", "step": 812, ...}, ...]}`); empty when it is missing or
/// unreadable, since the steps are shown for information only.
fn anchor_log_steps(dir: &Path) -> std::collections::HashMap<String, u64> {
    #[derive(serde::Deserialize)]
    struct Log {
        points: Vec<LogPoint>,
    }
    #[derive(serde::Deserialize)]
    struct LogPoint {
        label: String,
        step: u64,
    }
    std::fs::read_to_string(dir.join("log.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Log>(&s).ok())
        .map(|l| l.points.into_iter().map(|p| (p.label, p.step)).collect())
        .unwrap_or_default()
}
