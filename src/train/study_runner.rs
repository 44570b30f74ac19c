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
        if self.strip_columns < 2 {
            return Err("the strips need at least 2 columns".into());
        }
        for s in &self.schedules {
            s.table()
                .map_err(|e| format!("study schedule '{}': {e}", s.label()))?;
        }
        self.base.train.validate()
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
    /// The strip PNGs written.
    pub strips: Vec<PathBuf>,
    /// Whether the user cancelled before the end.
    pub cancelled: bool,
    /// What went wrong without stopping the study (e.g. the cancelled run's checkpoint could
    /// not be saved); the caller reports these.
    pub warnings: Vec<String>,
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

/// One strip row: the reverse chain of one sample of `trainer`'s EMA weights from x_T(seed), at
/// `cols` evenly spaced frames. Returns (timesteps, frames as u8 [C, H, W] each).
fn strip_row(
    trainer: &Trainer,
    seed: u64,
    cols: usize,
    steps: Option<usize>,
) -> Result<(Vec<usize>, Vec<Vec<u8>>), String> {
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
    let (_, rec) = record_chain(&den, &ChainSpec::new(plan, 1, seed, true));
    let idx = strip_indices(rec.frames.len(), cols);
    Ok((
        idx.iter().map(|&i| rec.frames[i].t).collect(),
        idx.iter().map(|&i| rec.frames[i].xt.display_u8()).collect(),
    ))
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
                let run_total = per_epoch * plan.epochs;
                let mut last_report = Instant::now();
                for epoch in 1..=plan.epochs {
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
                let (ts, row) = strip_row(&trainer, seed, plan.strip_columns, plan.strip_steps)?;
                strip_rows.push(row);
                strip_ts.push((seed, ts));
                index += 1;
            }
            let stem = format!("{}__{}", schedule_name(schedule), prep_name(data));
            let scale = (64 / shape[1].max(1)).max(1);
            let png = strips_dir.join(format!("{stem}.png"));
            write_png(&rows_image(&strip_rows, shape, scale), &png)?;
            let mut txt = format!(
                "Reverse-chain strips of {} on {}: one row per seed, x_t at these t (0 = x0)\n",
                schedule.label(),
                data.label()
            );
            for (seed, ts) in &strip_ts {
                let t: Vec<String> = ts.iter().map(usize::to_string).collect();
                txt.push_str(&format!("seed {seed}: t = {}\n", t.join(" ")));
            }
            write_text(&strips_dir.join(format!("{stem}.txt")), &txt)?;
            outcome.strips.push(png.clone());
            on_event(StudyEvent::Strip { path: png });
        }
    }
    write_text(&out_dir.join("epochs.csv"), &epochs_csv(&outcome.records))?;
    write_text(&out_dir.join("summary.csv"), &summary_csv(&outcome.summary))?;
    Ok(outcome)
}

// ---------------------------------------------------------------------------------------------
// Study presets: a tolerant mirror of the preset schema (the `[study]` and `[grid]` tables of a
// preset; the run settings are the preset's usual tables).

/// Reads a preset's `[study]` table into a plan. `epochs` / `steps_per_epoch` override the
/// preset. Errors name the preset and the field.
pub fn study_from_preset(
    text: &str,
    epochs: Option<usize>,
    steps_per_epoch: Option<usize>,
) -> Result<StudyPlan, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let base = base_config(&doc)?;
    let Some(study) = doc.get("study").and_then(toml::Value::as_table) else {
        return Err("this preset has no [study] table".into());
    };
    let schedules = match study.get("schedules") {
        Some(v) => v
            .clone()
            .try_into::<Vec<ScheduleSpec>>()
            .map_err(|e| format!("study.schedules: {e}"))?,
        None => vec![base.schedule.clone()],
    };
    let data = match study.get("preps").or_else(|| study.get("data")) {
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| data_item(v, &base.data))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("study.preps must be a list".into()),
        None => vec![base.data.clone()],
    };
    let seeds = match study.get("seeds") {
        Some(toml::Value::Integer(n)) if *n > 0 => (0..*n as u64).collect(),
        Some(v @ toml::Value::Array(_)) => v
            .clone()
            .try_into::<Vec<u64>>()
            .map_err(|e| format!("study.seeds: {e}"))?,
        Some(_) => return Err("study.seeds must be a count or a list of seeds".into()),
        None => (0..5).collect(),
    };
    let int = |key: &str| -> Result<Option<usize>, String> {
        match study.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n >= 0 => Ok(Some(*n as usize)),
            Some(_) => Err(format!("study.{key} must be a whole number ≥ 0")),
        }
    };
    let plan = StudyPlan {
        name: base.name.clone(),
        schedules,
        data,
        seeds,
        epochs: epochs.or(int("epochs")?).unwrap_or(10),
        steps_per_epoch: steps_per_epoch.or(int("steps_per_epoch")?.filter(|&n| n > 0)),
        strip_columns: int("strip_columns")?.unwrap_or(10),
        strip_steps: int("strip_steps")?.filter(|&n| n > 0),
        base,
    };
    plan.validate()?;
    Ok(plan)
}

/// The run settings of a preset: its `name`, `data`, `schedule`, `model_size`, `model` and
/// `train` (other tables belong to other parts of the app).
fn base_config(doc: &toml::Table) -> Result<RunConfig, String> {
    let keep = ["name", "data", "schedule", "model_size", "model", "train"];
    let mut t = toml::Table::new();
    for k in keep {
        if let Some(v) = doc.get(k) {
            t.insert(k.to_owned(), v.clone());
        }
    }
    toml::Value::Table(t)
        .try_into::<RunConfig>()
        .map_err(|e| e.to_string())
}

/// One entry of `study.preps`: a triangle preparation name, a bundled dataset name, or a full
/// data table.
fn data_item(v: &toml::Value, base: &DataSpec) -> Result<DataSpec, String> {
    match v {
        toml::Value::String(s) if ["direct", "downsampled", "binary"].contains(&s.as_str()) => {
            Ok(match base {
                DataSpec::Triangles {
                    count, size, seed, ..
                } => DataSpec::Triangles {
                    prep: s.clone(),
                    count: *count,
                    size: *size,
                    seed: *seed,
                },
                _ => DataSpec::Triangles {
                    prep: s.clone(),
                    count: 10_000,
                    size: 32,
                    seed: 3,
                },
            })
        }
        toml::Value::String(s) => Ok(DataSpec::Bundled {
            name: s.clone(),
            limit: 0,
        }),
        other => other
            .clone()
            .try_into::<DataSpec>()
            .map_err(|e| format!("study.preps: {e}")),
    }
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
[grid]
etas = [0, 0.5, 1]
steps = [10, 20]
[lesson]
steps = []
"#;
        let plan = study_from_preset(text, None, Some(4)).expect("plan");
        assert_eq!(plan.run_count(), 8);
        assert_eq!(plan.seeds, vec![0, 1]);
        assert_eq!(plan.steps_per_epoch, Some(4));
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
