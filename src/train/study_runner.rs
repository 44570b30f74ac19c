//! Study runners behind the study presets.
//!
//! - [`run_study`]: seed 003's experiments. Every schedule × data preparation × seed is trained
//!   in turn for a number of epochs; each run is written into the study folder as a normal run
//!   folder, and the study writes
//!   - `epochs.csv`: per run and epoch, the train loss mean/min/max over the epoch's batches and
//!     the held-out loss mean/min/max over the validation batches;
//!   - `summary.csv`: the same per schedule × preparation × epoch, pooled over the seeds (mean of
//!     the seeds' means, min of their minima, max of their maxima), as in seed 003 Fig. 6.7;
//!   - `strips/<schedule>__<prep>.png`: five-seed reverse-chain strips, x_t at evenly spaced
//!     steps of the chain, one row per seed (Figs. 6.1–6.6), with the timesteps in
//!     `strips/<…>.txt`.
//! - [`eta_steps_grid`]: the DDIM η × S table of seed 001's FID table, on a checkpoint, with a
//!   quality number the app computes itself: the energy distance between the samples and a
//!   held-out draw of the training data, on 2×-pooled pixels ([`quality_features`]).
//!
//! Both take plain arguments ([`StudyPlan`], [`GridPlan`]) and report through a callback, so the
//! CLI prints progress and the GUI forwards it over a channel. Both can be cancelled.

use super::checkpoint::save_checkpoint;
use super::trainer::Trainer;
use crate::config::{DataSpec, RunConfig};

use crate::diffusion::{DdpmVariance, SamplerKind, SamplerPlan, ScheduleSpec, Spacing};
use crate::model::{DevicePick, pick_device};
use crate::sampling::{ChainSpec, Denoiser, record_chain};
use crate::store::ValPoint;
use crate::store::runs::{STUDY_MARKER, sanitize};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A study: every schedule × data × seed, trained for `epochs` epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyPlan {
    /// The study's name.
    pub name: String,
    /// Model and training settings shared by every run (its schedule and data are replaced).
    pub base: RunConfig,
    /// The schedules compared.
    pub schedules: Vec<ScheduleSpec>,
    /// The data preparations compared.
    pub data: Vec<DataSpec>,
    /// The training seeds (one strip row each).
    pub seeds: Vec<u64>,
    /// Epochs per run.
    pub epochs: usize,
    /// Steps per epoch; `None`: one pass over the training split (⌈n / batch⌉ steps).
    pub steps_per_epoch: Option<usize>,
    /// Columns of the reverse-chain strips (x_T … x₀).
    pub strip_columns: usize,
    /// Steps of the strips' sampler: `None` runs ancestral DDPM over all T (as seed 003);
    /// `Some(S)` runs DDIM with η = 1 over S steps (faster).
    pub strip_steps: Option<usize>,
    /// Linear-schedule runs train `epochs` × this (seed 003 trains linear for 190 epochs and
    /// the others for 100: 1.9); a quick class run with fewer epochs keeps the proportion.
    #[serde(default = "one")]
    pub linear_epoch_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl StudyPlan {
    /// Checks sizes; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.schedules.is_empty() {
            return Err("study.schedules must list at least one schedule".into());
        }
        if self.data.is_empty() {
            return Err("study.preps must list at least one data preparation".into());
        }
        if self.seeds.is_empty() {
            return Err("study.seeds must list at least one seed".into());
        }
        if self.epochs == 0 {
            return Err("study.epochs must be at least 1".into());
        }
        if self.steps_per_epoch == Some(0) {
            return Err("study.steps_per_epoch must be at least 1".into());
        }
        if !(self.linear_epoch_scale.is_finite() && self.linear_epoch_scale > 0.0) {
            return Err(format!(
                "study.linear_epoch_scale must be > 0, got {}",
                self.linear_epoch_scale
            ));
        }
        if self.strip_columns < 2 {
            return Err("the strips need at least 2 columns".into());
        }
        for s in &self.schedules {
            s.table()
                .map_err(|e| format!("study schedule '{}': {e}", s.label()))?;
        }
        self.base.train.validate()
    }

    /// The epochs of the runs with `schedule`: `epochs`, scaled for linear.
    pub fn epochs_for(&self, schedule: &ScheduleSpec) -> usize {
        if schedule.kind == crate::diffusion::ScheduleKind::Linear {
            ((self.epochs as f64 * self.linear_epoch_scale).round() as usize).max(1)
        } else {
            self.epochs
        }
    }

    /// The number of runs.
    pub fn run_count(&self) -> usize {
        self.schedules.len() * self.data.len() * self.seeds.len()
    }
}

/// A short, file-safe name of a data preparation ("direct", "binary", "mnist", …).
pub fn prep_name(data: &DataSpec) -> String {
    match data {
        DataSpec::Triangles { prep, .. } => prep.clone(),
        DataSpec::Bundled { name, .. } => name.clone(),
        other => sanitize(&other.label()),
    }
}

/// A short, file-safe name of a schedule ("linear", "power-1.5", "sine-1", "cosine").
pub fn schedule_name(s: &ScheduleSpec) -> String {
    use crate::diffusion::ScheduleKind;
    match s.kind {
        ScheduleKind::Power => format!("power-{}", s.power),
        ScheduleKind::Sine => format!("sine-{}", s.waves),
        k => sanitize(&k.to_string()),
    }
}

/// One run's losses over one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// [`schedule_name`] of the run.
    pub schedule: String,
    /// [`prep_name`] of the run.
    pub prep: String,
    /// The training seed.
    pub seed: u64,
    /// 1-based epoch.
    pub epoch: usize,
    /// The step at the end of the epoch.
    pub step: usize,
    /// Train loss: mean, min and max over the epoch's batches.
    pub train: [f64; 3],
    /// Held-out loss: mean, min and max over the validation batches.
    pub val: [f64; 3],
}

/// One row of `summary.csv`: a schedule × preparation × epoch, pooled over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// [`schedule_name`].
    pub schedule: String,
    /// [`prep_name`].
    pub prep: String,
    /// 1-based epoch.
    pub epoch: usize,
    /// Train loss: mean of the seeds' means, min of their minima, max of their maxima.
    pub train: [f64; 3],
    /// Held-out loss, pooled the same way.
    pub val: [f64; 3],
    /// How many seeds contributed.
    pub seeds: usize,
}

/// What a running study reports.
#[derive(Clone, Debug)]
pub enum StudyEvent {
    /// A run starts.
    RunStarted {
        /// 0-based index of the run.
        index: usize,
        /// Number of runs.
        total: usize,
        /// "schedule / prep / seed".
        label: String,
        /// Its folder.
        dir: PathBuf,
    },
    /// Training progress of the current run (throttled).
    Step {
        /// 0-based index of the run.
        index: usize,
        /// Steps done in this run.
        step: usize,
        /// Steps this run will do.
        total: usize,
        /// Last loss.
        loss: f32,
    },
    /// An epoch finished.
    Epoch(EpochRecord),
    /// A strip was written.
    Strip {
        /// The PNG.
        path: PathBuf,
    },
    /// Loaded/summarised rows so far (after every epoch).
    Summary(Vec<SummaryRow>),
}

/// What a finished (or cancelled) study produced.
#[derive(Clone, Debug)]
pub struct StudyOutcome {
    /// The study folder.
    pub dir: PathBuf,
    /// Every epoch of every run.
    pub records: Vec<EpochRecord>,
    /// The pooled rows.
    pub summary: Vec<SummaryRow>,
    /// Per schedule × preparation: ᾱ_T, L_T and the grey pixels of data and samples.
    pub report: Vec<ReportRow>,
    /// The strip PNGs written.
    pub strips: Vec<PathBuf>,
    /// Whether the user cancelled before the end.
    pub cancelled: bool,
    /// What went wrong without stopping the study (e.g. the cancelled run's checkpoint could
    /// not be saved); the caller reports these.
    pub warnings: Vec<String>,
}

/// Rows of the five-x_T strip (seed 003 Fig. 6.2).
pub const STRIP_ROWS: usize = 5;
/// Samples of the first seed's model behind the report's grey fractions (the strip's first
/// [`STRIP_ROWS`] among them).
pub const REPORT_SAMPLES: usize = 16;
/// The file-name suffix of the per-training-seed strips.
pub const SEEDS_SUFFIX: &str = "__seeds";

/// One schedule × preparation of a study's report (#15 §3).
#[derive(Clone, Debug, PartialEq)]
pub struct ReportRow {
    /// [`schedule_name`].
    pub schedule: String,
    /// [`prep_name`].
    pub prep: String,
    /// ᾱ_T of the schedule: how much signal x_T keeps (√ᾱ_T of it).
    pub alpha_bar_t: f64,
    /// L_T = KL(q(x_T | x₀) ‖ N(0, I)) in bits/dim, mean over the training images: the prior
    /// mismatch the sampler starts from.
    pub prior_bits: f64,
    /// Fraction of grey pixels in the training images.
    pub data_grey: f64,
    /// Fraction of grey pixels in [`REPORT_SAMPLES`] samples of the first seed's model.
    pub sample_grey: f64,
    /// Fraction of stray grey pixels (no edge in their 3×3 neighbourhood) in those samples.
    pub sample_stray: f64,
}

/// The report as CSV.
pub fn report_csv(rows: &[ReportRow]) -> String {
    let mut s = String::from(
        "schedule,prep,alpha_bar_T,prior_L_T_bits_per_dim,data_grey,sample_grey,sample_stray_grey\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{:e},{:e},{:.5},{:.5},{:.5}\n",
            r.schedule,
            r.prep,
            r.alpha_bar_t,
            r.prior_bits,
            r.data_grey,
            r.sample_grey,
            r.sample_stray
        ));
    }
    s
}

/// Reads a `report.csv` written by [`report_csv`] (the study folder's report).
pub fn read_report_csv(path: &Path) -> Result<Vec<ReportRow>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let num = |i: usize| -> Result<f64, String> {
                f.get(i)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{}: bad report row {l:?}", path.display()))
            };
            Ok(ReportRow {
                schedule: f.first().copied().unwrap_or_default().to_owned(),
                prep: f.get(1).copied().unwrap_or_default().to_owned(),
                alpha_bar_t: num(2)?,
                prior_bits: num(3)?,
                data_grey: num(4)?,
                sample_grey: num(5)?,
                sample_stray: num(6)?,
            })
        })
        .collect()
}

/// The report as an aligned text table (printed by `study`).
pub fn report_table(rows: &[ReportRow]) -> String {
    let mut s = format!(
        "{:<14} {:<12} {:>10} {:>12} {:>10} {:>12} {:>12}\n",
        "schedule", "prep", "ᾱ_T", "L_T bits/dim", "data grey", "sample grey", "stray grey"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<14} {:<12} {:>10.3e} {:>12.3e} {:>10.4} {:>12.4} {:>12.4}\n",
            r.schedule,
            r.prep,
            r.alpha_bar_t,
            r.prior_bits,
            r.data_grey,
            r.sample_grey,
            r.sample_stray
        ));
    }
    s
}

/// (grey fraction, mean L_T in bits/dim) of `trainer`'s training images.
fn data_report(trainer: &Trainer) -> (f64, f64) {
    let data = trainer.train_data.data();
    let n = data.len().max(1) as f64;
    let [_, h, w] = trainer.image_shape();
    let grey = data
        .chunks_exact((h * w).max(1))
        .map(|img| crate::data::grey_pixel_count(img) as f64)
        .sum::<f64>()
        / n;
    let prior = data
        .iter()
        .map(|&x| crate::diffusion::process::prior_kl(&trainer.table, f64::from(x)))
        .sum::<f64>()
        / n
        / std::f64::consts::LN_2;
    (grey, prior)
}

/// Pools per-run epoch records over the seeds, in the order schedules and preps first appear.
pub fn summarize(records: &[EpochRecord]) -> Vec<SummaryRow> {
    let mut rows: Vec<SummaryRow> = Vec::new();
    for r in records {
        let found = rows
            .iter_mut()
            .find(|s| s.schedule == r.schedule && s.prep == r.prep && s.epoch == r.epoch);
        match found {
            Some(s) => {
                let k = s.seeds as f64;
                s.train[0] = (s.train[0] * k + r.train[0]) / (k + 1.0);
                s.val[0] = (s.val[0] * k + r.val[0]) / (k + 1.0);
                s.train[1] = s.train[1].min(r.train[1]);
                s.val[1] = s.val[1].min(r.val[1]);
                s.train[2] = s.train[2].max(r.train[2]);
                s.val[2] = s.val[2].max(r.val[2]);
                s.seeds += 1;
            }
            None => rows.push(SummaryRow {
                schedule: r.schedule.clone(),
                prep: r.prep.clone(),
                epoch: r.epoch,
                train: r.train,
                val: r.val,
                seeds: 1,
            }),
        }
    }
    rows
}

/// The header of `summary.csv`.
pub const SUMMARY_HEADER: &str =
    "schedule,prep,epoch,train_mean,train_min,train_max,val_mean,val_min,val_max,seeds";

/// The header of `epochs.csv`.
pub const EPOCHS_HEADER: &str =
    "schedule,prep,seed,epoch,step,train_mean,train_min,train_max,val_mean,val_min,val_max";

/// `summary.csv` as text.
pub fn summary_csv(rows: &[SummaryRow]) -> String {
    let mut s = format!("{SUMMARY_HEADER}\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{:?},{:?},{:?},{:?},{:?},{:?},{}\n",
            r.schedule,
            r.prep,
            r.epoch,
            r.train[0],
            r.train[1],
            r.train[2],
            r.val[0],
            r.val[1],
            r.val[2],
            r.seeds
        ));
    }
    s
}

/// `epochs.csv` as text.
pub fn epochs_csv(records: &[EpochRecord]) -> String {
    let mut s = format!("{EPOCHS_HEADER}\n");
    for r in records {
        s.push_str(&format!(
            "{},{},{},{},{},{:?},{:?},{:?},{:?},{:?},{:?}\n",
            r.schedule,
            r.prep,
            r.seed,
            r.epoch,
            r.step,
            r.train[0],
            r.train[1],
            r.train[2],
            r.val[0],
            r.val[1],
            r.val[2]
        ));
    }
    s
}

/// Reads a `summary.csv` back (for the Runs view); the error names the line.
pub fn read_summary_csv(path: &Path) -> Result<Vec<SummaryRow>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(SUMMARY_HEADER) {
        return Err(format!(
            "{}: line 1 is not the summary header",
            path.display()
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || format!("{}: line {} is malformed", path.display(), i + 2);
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 10 {
            return Err(bad());
        }
        let num = |k: usize| f[k].trim().parse::<f64>().map_err(|_| bad());
        rows.push(SummaryRow {
            schedule: f[0].to_owned(),
            prep: f[1].to_owned(),
            epoch: f[2].trim().parse().map_err(|_| bad())?,
            train: [num(3)?, num(4)?, num(5)?],
            val: [num(6)?, num(7)?, num(8)?],
            seeds: f[9].trim().parse().map_err(|_| bad())?,
        });
    }
    Ok(rows)
}

fn write_text(path: &Path, text: &str) -> Result<(), String> {
    crate::fs::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn write_png(img: &image::RgbImage, path: &Path) -> Result<(), String> {
    crate::fs::write_atomic(path, |f| {
        img.write_to(f, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| format!("cannot write PNG {}: {e}", path.display()))
}

/// The data of one run: the plan's data spec, with the base data's triangle count/size/seed kept
/// when only the preparation differs.
fn run_config(plan: &StudyPlan, schedule: &ScheduleSpec, data: &DataSpec, seed: u64) -> RunConfig {
    let mut cfg = plan.base.clone();
    cfg.name = format!(
        "{}-{}-{}-s{seed}",
        plan.name,
        schedule_name(schedule),
        prep_name(data)
    );
    cfg.schedule = schedule.clone();
    cfg.data = data.clone();
    cfg.train.seed = seed;
    cfg.train.val_every = 0;
    cfg.train.preview_every = 0;
    cfg.train.checkpoint_every = 0;
    cfg
}

/// Evenly spaced frame indices: `cols` of `0..frames`, both ends included.
pub fn strip_indices(frames: usize, cols: usize) -> Vec<usize> {
    if frames == 0 {
        return Vec::new();
    }
    let cols = cols.clamp(1, frames);
    if cols == 1 {
        return vec![frames - 1];
    }
    (0..cols)
        .map(|k| ((k * (frames - 1)) as f64 / (cols - 1) as f64).round() as usize)
        .collect()
}

/// Strip rows: the reverse chains of `n` samples of `trainer`'s EMA weights from the x_T of
/// `seed` (one chain of n images), at `cols` evenly spaced frames.
fn sample_strips(
    trainer: &Trainer,
    seed: u64,
    n: usize,
    cols: usize,
    steps: Option<usize>,
) -> Result<StripRows, String> {
    let table = &trainer.table;
    let kind = match steps {
        None => SamplerKind::Ddpm {
            variance: DdpmVariance::Beta,
        },
        Some(s) => SamplerKind::Ddim {
            steps: s.clamp(1, table.steps()),
            eta: 1.0,
            spacing: Spacing::Trailing,
        },
    };
    let plan = SamplerPlan::new(table, kind).map_err(|e| e.to_string())?;
    let ema = trainer.ema_snapshot();
    let device = trainer.inference_device();
    let den = Denoiser::new(
        &ema,
        &device,
        table,
        trainer.config.train.target,
        trainer.image_shape(),
    );
    // As seed 003 samples: no clipping of x̂₀ (#15 §3).
    let (_, rec) = record_chain(&den, &ChainSpec::new(plan, n, seed, false));
    let idx = strip_indices(rec.frames.len(), cols);
    let per: usize = trainer.image_shape().iter().product();
    let rows = (0..n)
        .map(|k| {
            idx.iter()
                .map(|&i| {
                    let v = rec.frames[i].xt.values(k * per..(k + 1) * per);
                    v.into_iter().map(crate::data::unit_to_u8).collect()
                })
                .collect()
        })
        .collect();
    let last = rec.frames.last().map(|f| f.xt.values(0..n * per));
    Ok(StripRows {
        ts: idx.iter().map(|&i| rec.frames[i].t).collect(),
        rows,
        samples: last.unwrap_or_default(),
    })
}

/// [`sample_strips`]' result.
struct StripRows {
    /// The timesteps of the columns.
    ts: Vec<usize>,
    /// Per x_T, the frames as u8 [C, H, W].
    rows: Vec<Vec<Vec<u8>>>,
    /// The final samples x₀, [n, C, H, W] in [−1, 1] (unclipped).
    samples: Vec<f32>,
}

/// Lays out rows of equally sized u8 images [C, H, W] as one RGB image, each pixel scaled up
/// by `scale`, with 2-px gaps.
pub fn rows_image(rows: &[Vec<Vec<u8>>], shape: [usize; 3], scale: usize) -> image::RgbImage {
    let [c, h, w] = shape;
    let scale = scale.max(1);
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let gap = 2;
    let (tw, th) = (w * scale, h * scale);
    let mut img = image::RgbImage::from_pixel(
        (cols * (tw + gap) + gap) as u32,
        (rows.len().max(1) * (th + gap) + gap) as u32,
        image::Rgb([40, 40, 40]),
    );
    for (r, row) in rows.iter().enumerate() {
        for (k, px) in row.iter().enumerate() {
            let (x0, y0) = (gap + k * (tw + gap), gap + r * (th + gap));
            for y in 0..th {
                for x in 0..tw {
                    let p = |ch: usize| {
                        px.get(ch * h * w + (y / scale) * w + x / scale)
                            .copied()
                            .unwrap_or(0)
                    };
                    let rgb = if c == 3 {
                        [p(0), p(1), p(2)]
                    } else {
                        [p(0); 3]
                    };
                    img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb));
                }
            }
        }
    }
    img
}

fn stats(v: &[f32]) -> [f64; 3] {
    if v.is_empty() {
        return [f64::NAN; 3];
    }
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    [mean, f64::from(lo), f64::from(hi)]
}

fn val_stats(v: ValPoint) -> [f64; 3] {
    [f64::from(v.mean), f64::from(v.min), f64::from(v.max)]
}

/// Trains every run of `plan` in turn into `out_dir` (created; it gets a `study.json` marker so
/// the runs folder lists its runs), writing the CSVs after every epoch and the strips after every
/// schedule × preparation. `cancel` stops it between steps (what is done so far is kept).
/// `pick` is the device; `None` picks from the base config.
pub fn run_study(
    plan: &StudyPlan,
    out_dir: &Path,
    pick: Option<DevicePick>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(StudyEvent),
) -> Result<StudyOutcome, String> {
    plan.validate()?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| format!("cannot create the study folder {}: {e}", out_dir.display()))?;
    let plan_json = serde_json::to_string_pretty(plan).map_err(|e| e.to_string())?;
    write_text(&out_dir.join(STUDY_MARKER), &plan_json)?;
    let strips_dir = out_dir.join("strips");
    std::fs::create_dir_all(&strips_dir)
        .map_err(|e| format!("cannot create {}: {e}", strips_dir.display()))?;
    let pick = pick.unwrap_or_else(|| pick_device(plan.base.train.device));
    let mut outcome = StudyOutcome {
        dir: out_dir.to_path_buf(),
        records: Vec::new(),
        summary: Vec::new(),
        report: Vec::new(),
        strips: Vec::new(),
        cancelled: false,
        warnings: Vec::new(),
    };
    let total_runs = plan.run_count();
    let mut index = 0;
    'all: for schedule in &plan.schedules {
        for data in &plan.data {
            let mut strip_rows: Vec<Vec<Vec<u8>>> = Vec::new();
            let mut strip_ts: Vec<(u64, Vec<usize>)> = Vec::new();
            let mut shape = [1, 1, 1];
            let epochs = plan.epochs_for(schedule);
            // The first seed's model, for the five-x_T strip and the report.
            let mut first: Option<StripRows> = None;
            let mut data_grey = f64::NAN;
            let mut prior_bits = f64::NAN;
            for &seed in &plan.seeds {
                let cfg = run_config(plan, schedule, data, seed);
                let (sname, pname) = (schedule_name(schedule), prep_name(data));
                let dir = out_dir.join(format!("{sname}__{pname}__seed{seed}"));
                on_event(StudyEvent::RunStarted {
                    index,
                    total: total_runs,
                    label: format!("{sname} / {pname} / seed {seed}"),
                    dir: dir.clone(),
                });
                let mut trainer = Trainer::new(cfg, pick.clone())
                    .map_err(|e| format!("run {sname} / {pname} / seed {seed}: {e}"))?;
                shape = trainer.image_shape();
                let n_train = trainer.train_data.len();
                let per_epoch = plan
                    .steps_per_epoch
                    .unwrap_or_else(|| n_train.div_ceil(trainer.config.train.batch))
                    .max(1);
                let run_total = per_epoch * epochs;
                let mut last_report = Instant::now();
                for epoch in 1..=epochs {
                    let mut losses = Vec::with_capacity(per_epoch);
                    for _ in 0..per_epoch {
                        if cancel.load(Ordering::SeqCst) {
                            outcome.cancelled = true;
                            if let Err(e) = save_checkpoint(&trainer, &dir) {
                                outcome.warnings.push(format!(
                                    "run {sname} / {pname} / seed {seed} was cancelled and its \
                                     checkpoint was not saved: {e}"
                                ));
                            }
                            break 'all;
                        }
                        let s = trainer
                            .step()
                            .map_err(|e| format!("run {sname} / {pname} / seed {seed}: {e}"))?;
                        losses.push(s.loss);
                        if last_report.elapsed().as_millis() >= 100 || trainer.step == run_total {
                            on_event(StudyEvent::Step {
                                index,
                                step: trainer.step,
                                total: run_total,
                                loss: s.loss,
                            });
                            last_report = Instant::now();
                        }
                    }
                    let val = trainer.validate();
                    let rec = EpochRecord {
                        schedule: sname.clone(),
                        prep: pname.clone(),
                        seed,
                        epoch,
                        step: trainer.step,
                        train: stats(&losses),
                        val: val_stats(val),
                    };
                    outcome.records.push(rec.clone());
                    on_event(StudyEvent::Epoch(rec));
                    outcome.summary = summarize(&outcome.records);
                    write_text(&out_dir.join("epochs.csv"), &epochs_csv(&outcome.records))?;
                    write_text(&out_dir.join("summary.csv"), &summary_csv(&outcome.summary))?;
                    on_event(StudyEvent::Summary(outcome.summary.clone()));
                    // Early stopping (train.patience) counts this run's epochs.
                    if let Some(why) = trainer.early_stop() {
                        outcome
                            .warnings
                            .push(format!("run {sname} / {pname} / seed {seed}: {why}"));
                        break;
                    }
                }
                save_checkpoint(&trainer, &dir).map_err(|e| e.to_string())?;
                if first.is_none() {
                    // Seed 003 Fig. 6.2: five x_T through one trained model; the report's
                    // sample statistics use REPORT_SAMPLES of that chain.
                    first = Some(sample_strips(
                        &trainer,
                        0,
                        REPORT_SAMPLES,
                        plan.strip_columns,
                        plan.strip_steps,
                    )?);
                    (data_grey, prior_bits) = data_report(&trainer);
                }
                let one = sample_strips(&trainer, seed, 1, plan.strip_columns, plan.strip_steps)?;
                strip_rows.extend(one.rows);
                strip_ts.push((seed, one.ts));
                index += 1;
            }
            let stem = format!("{}__{}", schedule_name(schedule), prep_name(data));
            let scale = (64 / shape[1].max(1)).max(1);
            let seeds_png = strips_dir.join(format!("{stem}{SEEDS_SUFFIX}.png"));
            write_png(&rows_image(&strip_rows, shape, scale), &seeds_png)?;
            let mut txt = format!(
                "Reverse-chain strips of {} on {}, x_t at these t (0 = x0)\n\
                 {stem}.png: five x_T through the model trained with seed {}\n\
                 {stem}{SEEDS_SUFFIX}.png: one row per training seed, each from its own x_T\n",
                schedule.label(),
                data.label(),
                plan.seeds.first().copied().unwrap_or(0),
            );
            for (seed, ts) in &strip_ts {
                let t: Vec<String> = ts.iter().map(usize::to_string).collect();
                txt.push_str(&format!("seed {seed}: t = {}\n", t.join(" ")));
            }
            write_text(&strips_dir.join(format!("{stem}.txt")), &txt)?;
            if let Some(f) = &first {
                let png = strips_dir.join(format!("{stem}.png"));
                let rows = &f.rows[..f.rows.len().min(STRIP_ROWS)];
                write_png(&rows_image(rows, shape, scale), &png)?;
                outcome.strips.push(png.clone());
                on_event(StudyEvent::Strip { path: png });
                let table = schedule.table().map_err(|e| e.to_string())?;
                let (grey, stray) =
                    crate::data::sample_grey_fractions(&f.samples, REPORT_SAMPLES, shape[2]);
                outcome.report.push(ReportRow {
                    schedule: schedule_name(schedule),
                    prep: prep_name(data),
                    alpha_bar_t: table.alpha_bar_at(table.steps()),
                    prior_bits,
                    data_grey,
                    sample_grey: grey,
                    sample_stray: stray,
                });
                write_text(&out_dir.join("report.csv"), &report_csv(&outcome.report))?;
            }
            outcome.strips.push(seeds_png.clone());
            on_event(StudyEvent::Strip { path: seeds_png });
        }
    }
    write_text(&out_dir.join("epochs.csv"), &epochs_csv(&outcome.records))?;
    write_text(&out_dir.join("summary.csv"), &summary_csv(&outcome.summary))?;
    Ok(outcome)
}

// ---------------------------------------------------------------------------------------------
// Study presets: the `[study]` table of a preset, read by the preset schema (the only parser).

/// Reads a preset's `[study]` table into a plan. `epochs` / `steps_per_epoch` override the
/// preset. The whole preset is checked as `Preset::from_toml` checks it; errors name the
/// field.
pub fn study_from_preset(
    text: &str,
    epochs: Option<usize>,
    steps_per_epoch: Option<usize>,
) -> Result<StudyPlan, String> {
    let preset = crate::config::Preset::from_toml(text)?;
    let Some(study) = preset.study.clone() else {
        return Err("this preset has no [study] table".into());
    };
    let base = preset.into_run_config();
    let schedules = if study.schedules.is_empty() {
        vec![base.schedule.clone()]
    } else {
        study.schedules
    };
    let data = if study.preps.is_empty() {
        vec![base.data.clone()]
    } else {
        study.preps.iter().map(|p| p.resolve(&base.data)).collect()
    };
    let plan = StudyPlan {
        name: base.name.clone(),
        schedules,
        data,
        seeds: study.seeds,
        epochs: epochs.unwrap_or(study.epochs),
        steps_per_epoch: steps_per_epoch.or(study.steps_per_epoch.filter(|&n| n > 0)),
        strip_columns: study.strip_columns.unwrap_or(10),
        strip_steps: study.strip_steps.filter(|&n| n > 0),
        linear_epoch_scale: study.linear_epoch_scale.unwrap_or(1.0),
        base,
    };
    plan.validate()?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_indices_cover_both_ends() {
        assert_eq!(strip_indices(11, 3), vec![0, 5, 10]);
        assert_eq!(strip_indices(3, 10), vec![0, 1, 2]);
        assert_eq!(strip_indices(0, 4), Vec::<usize>::new());
    }

    fn rec(s: &str, seed: u64, epoch: usize, t: [f64; 3]) -> EpochRecord {
        EpochRecord {
            schedule: s.into(),
            prep: "binary".into(),
            seed,
            epoch,
            step: epoch * 10,
            train: t,
            val: t,
        }
    }

    #[test]
    fn summary_pools_seeds() {
        let rows = summarize(&[
            rec("linear", 0, 1, [1.0, 0.5, 2.0]),
            rec("linear", 1, 1, [3.0, 0.2, 2.5]),
            rec("cosine", 0, 1, [1.0, 1.0, 1.0]),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].train, [2.0, 0.2, 2.5]);
        assert_eq!(rows[0].seeds, 2);
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("summary.csv");
        std::fs::write(&p, summary_csv(&rows)).expect("write");
        assert_eq!(read_summary_csv(&p).expect("read"), rows);
    }

    #[test]
    fn presets_parse_with_extra_tables() {
        let text = r#"
name = "schedule-study"
model_size = "tiny"
view = "runs"
[data]
source = "triangles"
prep = "direct"
count = 500
size = 16
[train]
batch = 8
[study]
schedules = [{ kind = "linear" }, { kind = "power", power = 1.5 }]
preps = ["direct", "binary"]
seeds = 2
epochs = 3
linear_epoch_scale = 1.9
[grid]
etas = [0, 0.5, 1]
steps = [10, 20]
"#;
        let plan = study_from_preset(text, None, Some(4)).expect("plan");
        assert_eq!(plan.run_count(), 8);
        assert_eq!(plan.seeds, vec![0, 1]);
        assert_eq!(plan.steps_per_epoch, Some(4));
        // Linear trains 3 × 1.9 = 5.7 → 6 epochs, the power schedule 3.
        assert_eq!(plan.epochs_for(&plan.schedules[0]), 6);
        assert_eq!(plan.epochs_for(&plan.schedules[1]), 3);
        assert_eq!(
            plan.data[1],
            DataSpec::Triangles {
                prep: "binary".into(),
                count: 500,
                size: 16,
                seed: 0
            }
        );
        let grid = crate::train::grid_runner::grid_from_preset(text).expect("grid");
        assert_eq!(grid.etas, vec![0.0, 0.5, 1.0]);
        assert_eq!(grid.steps, vec![10, 20]);
        assert!(grid.clip && !grid.sigma_hat, "the defaults");
        assert!(study_from_preset("name = \"x\"", None, None).is_err());
    }
}
