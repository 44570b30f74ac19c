//! The Runs view: every run in the runs folder, their loss curves overlaid, samples of the picked
//! runs drawn from the same noise, studies (start, cancel, per-epoch curves, strips) and the
//! DDIM η × steps table of the bundled model. All slow work runs on background threads that
//! report over channels; the view drains them every frame and never blocks.

use crate::diffusion::{SamplerKind, SamplerPlan, Spacing};
use crate::jobs::BgJob;
use crate::model::{DeviceChoice, pick_device};
use crate::sampling::sample_images;
use crate::store::load_for_inference;
use crate::store::runs::{RUNS_DIR, RunEntry, RunList, STUDY_MARKER, list_runs, new_run_dir};
use crate::train::study_runner::{
    GridPlan, GridResult, StudyEvent, StudyPlan, SummaryRow, eta_steps_grid, grid_from_preset,
    read_summary_csv, run_study, study_from_preset,
};
use egui::{Color32, RichText};
use egui_plot::{ColorConflictHandling, Corner, FilledArea, Legend, Line, LineStyle, PlotPoints};
use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::PALETTE;

fn colour(i: usize) -> Color32 {
    PALETTE[i % PALETTE.len()]
}

/// The file the last η × steps table of the bundled model is kept in, inside the runs folder.
pub const GRID_CACHE: &str = "eta-steps-grid.csv";

/// Samples of one run, drawn for the comparison.
#[derive(Clone, Debug)]
pub struct SampleSet {
    /// The run's label.
    pub label: String,
    /// Number of samples.
    pub n: usize,
    /// [C, H, W].
    pub shape: [usize; 3],
    /// u8 pixels [n, C, H, W].
    pub pixels: Vec<u8>,
    /// FID / IS / precision / recall of these samples with the real-image floor at the same
    /// n (None when the run's data set has no bundled classifier).
    pub quality: Option<crate::metrics::ScoreReport>,
}

/// One picked run's EMA weights, loaded for a background comparison.
struct PickedRun {
    config: crate::config::RunConfig,
    shape: [usize; 3],
    ema: crate::model::UNet,
    table: crate::diffusion::ScheduleTable,
    device: burn::tensor::Device,
}

/// The NLL bound of one picked run.
#[derive(Clone, Debug)]
pub struct RunNll {
    /// The run's label.
    pub label: String,
    /// The bound, or why it could not be computed.
    pub report: Result<crate::metrics::NllReport, String>,
}

/// What the background jobs report.
enum Msg {
    Progress(usize, usize, String),
    Samples(SampleSet),
    Nll(RunNll),
    Study(StudyEvent),
    StudyDone(Result<PathBuf, String>),
    Grid(Box<GridResult>),
    Listed(Box<RunList>),
    Error(String),
    Done,
}

/// Messages a job may queue before its thread waits for the view to drain them.
const JOB_QUEUE: usize = 64;

/// A background job ([`BgJob`]) that reports over a bounded channel. Progress messages are
/// dropped when the queue is full; the others wait for room. Dropping it closes the channel
/// (so a waiting send returns), cancels the job and joins its thread.
struct Job {
    // Declared before `job`, so it is dropped first.
    rx: Receiver<Msg>,
    job: BgJob<()>,
    cancelling: bool,
    progress: (usize, usize, String),
}

impl Job {
    fn spawn(
        name: &str,
        ctx: &egui::Context,
        body: impl FnOnce(&dyn Fn(Msg), &AtomicBool) + Send + 'static,
    ) -> Result<Self, String> {
        let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) = sync_channel(JOB_QUEUE);
        let repaint = ctx.clone();
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || repaint.request_repaint());
        let ctx = ctx.clone();
        let job = BgJob::spawn(name, wake, move |job| {
            let send = |m: Msg| {
                if matches!(m, Msg::Progress(..)) {
                    let _ = tx.try_send(m);
                } else {
                    let _ = tx.send(m);
                }
                ctx.request_repaint();
            };
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| body(&send, job.cancel_flag())));
            if r.is_err() {
                send(Msg::Error("the background job panicked".into()));
            }
            send(Msg::Done);
        })
        .map_err(|e| format!("could not start a thread: {e}"))?;
        Ok(Self {
            rx,
            job,
            cancelling: false,
            progress: (0, 0, String::new()),
        })
    }

    /// Asks the job to stop; it still reports `Done`.
    fn cancel(&mut self) {
        self.cancelling = true;
        self.job.cancel();
    }
}

/// A study found in the runs folder (or running).
#[derive(Clone, Debug, PartialEq)]
pub struct StudyResult {
    /// Its folder.
    pub dir: PathBuf,
    /// The pooled per-epoch rows.
    pub rows: Vec<SummaryRow>,
}

/// The runs view's state.
pub struct RunsView {
    /// The runs folder.
    pub runs_dir: PathBuf,
    /// The runs found (and the folders skipped).
    pub list: RunList,
    loaded: bool,
    /// Pick this many newest runs when the list is first read (0: none); runs outside studies
    /// first.
    pub auto_pick: usize,
    /// Compare the auto-picked runs' samples as soon as the list is first read.
    pub auto_compare: bool,
    pending_compare: bool,
    /// The picked runs' folders.
    pub picked: BTreeSet<PathBuf>,
    /// Loss curves on a log axis.
    pub log_axis: bool,
    /// EMA smoothing of the train loss.
    pub smoothing: f64,
    /// The last error, shown inline.
    pub error: Option<String>,
    /// Samples per run for "compare samples".
    pub compare_n: usize,
    /// Seed of the shared x_T.
    pub compare_seed: u64,
    /// DDIM steps of the comparison.
    pub compare_steps: usize,
    compare_job: Option<Job>,
    /// The last compared samples.
    pub samples: Vec<SampleSet>,
    sample_tex: Vec<egui::TextureHandle>,
    /// Study presets found in `presets/`: (name, path).
    pub study_presets: Vec<(String, PathBuf)>,
    /// The preset the next study starts from.
    pub study_preset: Option<PathBuf>,
    /// Epochs per run of the next study.
    pub study_epochs: usize,
    /// Steps per epoch of the next study (0: one pass over the data).
    pub study_steps_per_epoch: usize,
    study_job: Option<Job>,
    /// The studies in the runs folder.
    pub studies: Vec<PathBuf>,
    /// The study shown (its folder and rows; live while one runs).
    pub study: Option<StudyResult>,
    strips: Vec<(String, egui::TextureHandle)>,
    strips_of: Option<PathBuf>,
    /// The η values of the grid, comma-separated (from a preset's `[grid]` when one is found).
    pub grid_etas: String,
    /// The step counts of the grid, comma-separated.
    pub grid_steps: String,
    /// Samples per grid cell.
    pub grid_n: usize,
    grid_job: Option<Job>,
    grid_from_preset: bool,
    list_job: Option<Job>,
    requested: bool,
    last_pass: u64,
    refresh_again: bool,
    /// The NLL bounds of the picked runs (the "NLL (bits/dim)" button).
    pub nll: Vec<RunNll>,
    /// The η × S table: (η, S, energy distance, FID on the classifier's features).
    pub grid_table: Vec<(f64, usize, f64, Option<f64>)>,
    /// What the table is.
    pub grid_note: String,
    drawn: Vec<String>,
}

impl Default for RunsView {
    fn default() -> Self {
        let mut v = Self::new(PathBuf::from(RUNS_DIR));
        v.auto_pick = 3;
        v.auto_compare = true;
        v
    }
}

impl RunsView {
    /// A view of the runs folder `runs_dir` (read on the first frame).
    pub fn new(runs_dir: PathBuf) -> Self {
        Self {
            runs_dir,
            list: RunList::default(),
            loaded: false,
            auto_pick: 0,
            auto_compare: false,
            pending_compare: false,
            picked: BTreeSet::new(),
            log_axis: true,
            smoothing: 0.95,
            error: None,
            compare_n: 16,
            compare_seed: 0,
            compare_steps: 25,
            compare_job: None,
            samples: Vec::new(),
            sample_tex: Vec::new(),
            study_presets: Vec::new(),
            study_preset: None,
            study_epochs: 3,
            study_steps_per_epoch: 50,
            study_job: None,
            studies: Vec::new(),
            study: None,
            strips: Vec::new(),
            strips_of: None,
            grid_etas: "0, 0.5, 1".into(),
            grid_steps: "10, 20, 50".into(),
            grid_n: 64,
            grid_job: None,
            grid_from_preset: false,
            list_job: None,
            requested: false,
            last_pass: 0,
            refresh_again: false,
            nll: Vec::new(),
            grid_table: Vec::new(),
            grid_note: String::new(),
            drawn: Vec::new(),
        }
    }

    /// Re-reads the runs folder (on a background thread: run histories can be large), then the
    /// studies in it, the study presets and the cached grid.
    pub fn refresh(&mut self, ctx: &egui::Context) {
        self.requested = true;
        if self.list_job.is_some() {
            self.refresh_again = true;
            return;
        }
        let dir = self.runs_dir.clone();
        let job = Job::spawn("list-runs", ctx, move |send, _| {
            send(Msg::Listed(Box::new(list_runs(&dir))));
        });
        match job {
            Ok(j) => self.list_job = Some(j),
            Err(e) => self.error = Some(e),
        }
    }

    /// Whether the runs folder is being read.
    pub fn listing(&self) -> bool {
        self.list_job.is_some()
    }

    /// Takes a fresh listing: keeps the picks that still exist, picks the newest runs the first
    /// time, and re-reads the studies, the presets and the cached grid (small files).
    fn apply_list(&mut self, list: RunList) {
        self.list = list;
        let known: BTreeSet<PathBuf> = self.list.runs.iter().map(|r| r.dir.clone()).collect();
        self.picked.retain(|p| known.contains(p));
        if !self.loaded {
            // The newest runs of their own first (a study has its own plot), then study runs.
            let (own, in_study): (Vec<&RunEntry>, Vec<&RunEntry>) =
                self.list.runs.iter().partition(|r| r.study.is_none());
            for r in own.into_iter().chain(in_study).take(self.auto_pick) {
                self.picked.insert(r.dir.clone());
            }
            self.pending_compare = self.auto_compare && !self.picked.is_empty();
        }
        self.loaded = true;
        self.studies = std::fs::read_dir(&self.runs_dir)
            .map(|rd| {
                let mut v: Vec<PathBuf> = rd
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join(STUDY_MARKER).is_file())
                    .collect();
                v.sort();
                v.reverse();
                v
            })
            .unwrap_or_default();
        if self.study_job.is_none() {
            let shown = self
                .study
                .as_ref()
                .map(|s| s.dir.clone())
                .or_else(|| self.studies.first().cloned());
            if let Some(dir) = shown {
                self.show_study(&dir);
            }
        }
        self.study_presets = find_study_presets();
        if !self.grid_from_preset
            && let Some((etas, steps)) = find_grid_preset()
        {
            let list = |v: Vec<String>| v.join(", ");
            self.grid_etas = list(etas.iter().map(f64::to_string).collect());
            self.grid_steps = list(steps.iter().map(usize::to_string).collect());
            self.grid_from_preset = true;
        }
        if self.study_preset.is_none() {
            self.study_preset = self.study_presets.first().map(|p| p.1.clone());
            self.preset_settings();
        }
        if self.grid_job.is_none()
            && let Ok(text) = std::fs::read_to_string(self.runs_dir.join(GRID_CACHE))
        {
            self.grid_table = parse_grid_csv(&text);
            if !self.grid_table.is_empty() && self.grid_note.is_empty() {
                self.grid_note = format!(
                    "bundled model, from {}",
                    self.runs_dir.join(GRID_CACHE).display()
                );
            }
        }
    }

    /// Takes the epochs and steps per epoch of the picked study preset into the controls.
    fn preset_settings(&mut self) {
        let Some(path) = &self.study_preset else {
            return;
        };
        if let Ok(plan) = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| study_from_preset(&t, None, None))
        {
            self.study_epochs = plan.epochs;
            self.study_steps_per_epoch = plan.steps_per_epoch.unwrap_or(0);
        }
    }

    /// Shows the study in `dir` (its summary.csv; the strips load on the next frame).
    pub fn show_study(&mut self, dir: &Path) {
        let rows = match read_summary_csv(&dir.join("summary.csv")) {
            Ok(r) => r,
            Err(e) => {
                if dir.join("summary.csv").exists() {
                    self.error = Some(e);
                }
                Vec::new()
            }
        };
        self.study = Some(StudyResult {
            dir: dir.to_path_buf(),
            rows,
        });
    }

    /// The names of the loss curves drawn in the last frame (one per picked run).
    pub fn drawn_curves(&self) -> &[String] {
        &self.drawn
    }

    /// Whether a background job (listing, samples, study, grid) is running.
    pub fn busy(&self) -> bool {
        self.compare_job.is_some()
            || self.study_job.is_some()
            || self.grid_job.is_some()
            || self.list_job.is_some()
    }

    /// Whether a study is running.
    pub fn study_running(&self) -> bool {
        self.study_job.is_some()
    }

    fn picked_runs(&self) -> Vec<&RunEntry> {
        self.list
            .runs
            .iter()
            .filter(|r| self.picked.contains(&r.dir))
            .collect()
    }

    /// Runs `work` on each picked run's EMA weights (loaded on the CPU) in turn, in the
    /// background job of the compare row: progress reads "`verb` LABEL", cancel stops between
    /// runs, and a run's error is reported with its label.
    fn for_each_picked_run(
        &mut self,
        ctx: &egui::Context,
        name: &str,
        none_picked: &str,
        verb: &'static str,
        work: impl Fn(&str, &PickedRun, &AtomicBool) -> Result<Msg, String> + Send + 'static,
    ) {
        let runs: Vec<(String, PathBuf)> = self
            .picked_runs()
            .iter()
            .map(|r| (r.label(), r.dir.clone()))
            .collect();
        if runs.is_empty() {
            self.error = Some(none_picked.into());
            return;
        }
        self.error = None;
        let job = Job::spawn(name, ctx, move |send, cancel| {
            let pick = pick_device(DeviceChoice::Cpu);
            let total = runs.len();
            for (i, (label, dir)) in runs.into_iter().enumerate() {
                if cancel.load(Ordering::SeqCst) {
                    return;
                }
                send(Msg::Progress(i, total, format!("{verb} {label}")));
                let result = load_for_inference(&dir, &pick.device)
                    .map_err(|e| e.to_string())
                    .and_then(|(config, info, _raw, ema)| {
                        let table = config.schedule.table().map_err(|e| e.to_string())?;
                        let run = PickedRun {
                            config,
                            shape: info.image_shape,
                            ema,
                            table,
                            device: pick.device.clone(),
                        };
                        work(&label, &run, cancel)
                    });
                send(result.unwrap_or_else(|e| Msg::Error(format!("{label}: {e}"))));
            }
            send(Msg::Progress(total, total, "done".into()));
        });
        match job {
            Ok(j) => self.compare_job = Some(j),
            Err(e) => self.error = Some(e),
        }
    }

    /// The NLL bound of every picked run on 64 of its held-out images (every t ≤ 50 and 100
    /// stratified t above), in the background.
    pub fn compute_nll(&mut self, ctx: &egui::Context) {
        self.nll.clear();
        let none = "pick at least one run to measure its likelihood";
        self.for_each_picked_run(ctx, "nll", none, "NLL of", |label, run, cancel| {
            let data = run.config.data.load()?;
            let (_, held) = data
                .split(run.config.train.val_fraction, run.config.train.seed)
                .map_err(|e| e.to_string())?;
            let pixels: usize = run.shape.iter().product();
            let n = held.len().min(64);
            let den = crate::sampling::Denoiser::new(
                &run.ema,
                &run.device,
                &run.table,
                run.config.train.target,
                run.shape,
            );
            let opts = crate::metrics::NllOptions {
                t_samples: Some(100),
                ..crate::metrics::NllOptions::default()
            };
            let report = crate::metrics::nll_bound(
                &run.table,
                &held.data()[..n * pixels],
                pixels,
                &opts,
                &mut |t, x, e| den.predict(t, x, e),
                &mut |_, _| !cancel.load(Ordering::SeqCst),
            )
            .ok_or_else(|| "cancelled".to_owned());
            Ok(Msg::Nll(RunNll {
                label: label.to_owned(),
                report,
            }))
        });
    }

    /// The NLL results and the per-term plot L_{t−1} against t.
    fn nll_ui(&mut self, ui: &mut egui::Ui) {
        if self.nll.is_empty() {
            return;
        }
        for (i, r) in self.nll.iter().enumerate() {
            match &r.report {
                Ok(rep) => ui.colored_label(
                    colour(i),
                    format!(
                        "{}: NLL ≤ {:.3} ± {:.3} bits/dim ({} images, {} timesteps)",
                        r.label, rep.bits_per_dim, rep.std_error, rep.n, rep.timesteps
                    ),
                ),
                Err(e) => ui.colored_label(Color32::LIGHT_RED, format!("{}: {e}", r.label)),
            };
        }
        crate::app::plot("runs_nll_terms")
            .height(140.0)
            .x_axis_label("t")
            .y_axis_label("L(t−1), bits/dim (log₁₀)")
            .show(ui, |p| {
                for (i, r) in self.nll.iter().enumerate() {
                    if let Ok(rep) = &r.report {
                        let pts: PlotPoints = rep
                            .terms
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| v.is_finite() && **v > 0.0)
                            .map(|(k, v)| [(k + 1) as f64, v.log10()])
                            .collect();
                        p.points(
                            egui_plot::Points::new(r.label.clone(), pts)
                                .color(colour(i))
                                .radius(2.0),
                        );
                    }
                }
            });
    }

    /// Starts drawing `compare_n` samples from every picked run's EMA weights, all from the same
    /// x_T (seed `compare_seed`), with DDIM (η = 0, `compare_steps` steps), in the background.
    pub fn compare_samples(&mut self, ctx: &egui::Context) {
        let (n, seed, steps) = (
            self.compare_n.clamp(1, 64),
            self.compare_seed,
            self.compare_steps,
        );
        self.samples.clear();
        self.sample_tex.clear();
        let none = "pick at least one run to compare its samples";
        self.for_each_picked_run(
            ctx,
            "compare-samples",
            none,
            "sampling",
            move |label, run, cancel| {
                let kind = SamplerKind::Ddim {
                    steps: steps.clamp(1, run.table.steps()),
                    eta: 0.0,
                    spacing: Spacing::Trailing,
                };
                let plan = SamplerPlan::new(&run.table, kind).map_err(|e| e.to_string())?;
                let x = sample_images(
                    &run.ema,
                    &run.device,
                    &run.table,
                    run.config.train.target,
                    &plan,
                    n,
                    run.shape,
                    seed,
                    true,
                );
                // The quality figures need a classifier for the run's data set.
                let quality = crate::metrics::classifier_for(&run.config.data)
                    .ok()
                    .filter(|_| n >= 2)
                    .and_then(|net| {
                        let pixels: usize = run.shape.iter().product();
                        let (kept, bad) = crate::metrics::finite_images(&x, pixels);
                        crate::metrics::score_sets(
                            &net,
                            &[kept],
                            run.shape,
                            bad,
                            seed,
                            label.to_owned(),
                            &mut |_, _| !cancel.load(Ordering::SeqCst),
                        )
                        .ok()
                    });
                Ok(Msg::Samples(SampleSet {
                    label: label.to_owned(),
                    n,
                    shape: run.shape,
                    pixels: x.into_iter().map(crate::data::unit_to_u8).collect(),
                    quality,
                }))
            },
        );
    }

    /// Starts the study preset `study_preset` in the background, into a new study folder.
    pub fn start_study(&mut self, ctx: &egui::Context) {
        let Some(path) = self.study_preset.clone() else {
            self.error = Some("no study preset picked".into());
            return;
        };
        let plan = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                study_from_preset(
                    &text,
                    Some(self.study_epochs.max(1)),
                    (self.study_steps_per_epoch > 0).then_some(self.study_steps_per_epoch),
                )
                .map_err(|e| format!("{}: {e}", path.display()))
            });
        match plan {
            Ok(plan) => self.start_study_plan(plan, ctx),
            Err(e) => self.error = Some(e),
        }
    }

    /// Starts `plan` in the background, into a new study folder in the runs folder.
    pub fn start_study_plan(&mut self, plan: StudyPlan, ctx: &egui::Context) {
        if self.study_job.is_some() {
            return;
        }
        let dir = new_run_dir(&self.runs_dir, &format!("study-{}", plan.name));
        self.study = Some(StudyResult {
            dir: dir.clone(),
            rows: Vec::new(),
        });
        self.error = None;
        let job = Job::spawn("study", ctx, move |send, cancel| {
            let result = run_study(&plan, &dir, None, cancel, &mut |ev| send(Msg::Study(ev)));
            if let Ok(o) = &result {
                for w in &o.warnings {
                    send(Msg::Error(w.clone()));
                }
            }
            send(Msg::StudyDone(result.map(|o| o.dir)));
        });
        match job {
            Ok(j) => self.study_job = Some(j),
            Err(e) => self.error = Some(e),
        }
    }

    /// Asks the running study to stop (what is done is kept).
    pub fn cancel_study(&mut self) {
        if let Some(j) = &mut self.study_job {
            j.cancel();
        }
    }

    /// Starts the η × S grid on the bundled model in the background.
    pub fn compute_grid(&mut self, ctx: &egui::Context) {
        let Some(checkpoint) = crate::store::bundled_model_dir() else {
            self.error = Some(
                "the bundled model could not be unpacked (is the cache folder writable?)".into(),
            );
            return;
        };
        let etas: Result<Vec<f64>, _> =
            split_list(&self.grid_etas).map(str::parse::<f64>).collect();
        let steps: Result<Vec<usize>, _> = split_list(&self.grid_steps)
            .map(str::parse::<usize>)
            .collect();
        let (Ok(etas), Ok(steps)) = (etas, steps) else {
            self.error = Some(
                "η × steps grid: η must be numbers and S whole numbers, comma-separated".into(),
            );
            return;
        };
        let plan = GridPlan {
            checkpoint,
            etas,
            steps,
            n: self.grid_n,
            seed: 0,
            reference: 500,
        };
        let cache = self.runs_dir.join(GRID_CACHE);
        self.error = None;
        let job = Job::spawn("eta-steps-grid", ctx, move |send, cancel| {
            let result = eta_steps_grid(&plan, None, cancel, &mut |d, t| {
                send(Msg::Progress(d, t, "sampling".into()));
            });
            match result {
                Ok(g) => {
                    let written = cache
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| {
                            crate::fs::write_atomic(&cache, |w| {
                                std::io::Write::write_all(w, g.csv().as_bytes())
                            })
                        });
                    send(Msg::Grid(Box::new(g)));
                    if let Err(e) = written {
                        send(Msg::Error(format!(
                            "the grid was not saved for next time ({e}): {}",
                            cache.display()
                        )));
                    }
                }
                Err(e) => send(Msg::Error(format!("η × steps grid: {e}"))),
            }
        });
        match job {
            Ok(j) => self.grid_job = Some(j),
            Err(e) => self.error = Some(e),
        }
    }

    /// Drains the background jobs' messages without blocking. Called by [`Self::ui`] every frame.
    pub fn logic(&mut self, ctx: &egui::Context) {
        for which in 0..4 {
            let slot = match which {
                0 => &mut self.compare_job,
                1 => &mut self.study_job,
                2 => &mut self.grid_job,
                _ => &mut self.list_job,
            };
            let Some(job) = slot else { continue };
            let mut msgs = Vec::new();
            while let Ok(m) = job.rx.try_recv() {
                if let Msg::Progress(d, t, s) = &m {
                    job.progress = (*d, *t, s.clone());
                }
                if let Msg::Study(StudyEvent::Step {
                    index, step, total, ..
                }) = &m
                {
                    job.progress.0 = *step;
                    job.progress.1 = *total;
                    let _ = index;
                }
                msgs.push(m);
            }
            let mut done = false;
            for m in msgs {
                match m {
                    Msg::Done => done = true,
                    other => self.apply(other, ctx),
                }
            }
            if done {
                match which {
                    0 => self.compare_job = None,
                    1 => {
                        self.study_job = None;
                        self.refresh(ctx);
                    }
                    2 => self.grid_job = None,
                    _ => {
                        self.list_job = None;
                        if std::mem::take(&mut self.refresh_again) {
                            self.refresh(ctx);
                        }
                    }
                }
            }
        }
    }

    fn apply(&mut self, m: Msg, ctx: &egui::Context) {
        match m {
            Msg::Progress(..) | Msg::Done => {}
            Msg::Samples(s) => {
                let img = super::grid_image(&s.pixels, s.n, s.shape);
                let tex = ctx.load_texture(
                    format!("runs_samples_{}", self.samples.len()),
                    img,
                    egui::TextureOptions::NEAREST,
                );
                self.sample_tex.push(tex);
                self.samples.push(s);
            }
            Msg::Nll(r) => self.nll.push(r),
            Msg::Study(ev) => match ev {
                StudyEvent::RunStarted {
                    index,
                    total,
                    label,
                    ..
                } => {
                    if let Some(j) = &mut self.study_job {
                        j.progress.2 = format!("run {}/{total}: {label}", index + 1);
                    }
                }
                StudyEvent::Summary(rows) => {
                    if let Some(s) = &mut self.study {
                        s.rows = rows;
                    }
                }
                StudyEvent::Strip { .. } => self.strips_of = None,
                StudyEvent::Step { .. } | StudyEvent::Epoch(_) => {}
            },
            Msg::StudyDone(r) => match r {
                Ok(dir) => {
                    self.strips_of = None;
                    self.show_study(&dir);
                }
                Err(e) => self.error = Some(format!("study: {e}")),
            },
            Msg::Grid(g) => {
                self.grid_table = g
                    .cells
                    .iter()
                    .map(|c| (c.eta, c.steps, c.quality, c.fid))
                    .collect();
                self.grid_note = format!(
                    "bundled model, {} samples per cell from one x_T. First FID ({}; real \
                     images score {}), then the energy distance ×1000 on pooled pixels (training \
                     data scores {:.1})",
                    g.plan.n,
                    crate::metrics::feature_note(&g.data),
                    g.fid_floor.map_or("–".into(), |f| format!("{f:.1}")),
                    g.data_floor * 1e3
                );
            }
            Msg::Listed(list) => self.apply_list(*list),
            Msg::Error(e) => self.error = Some(e),
        }
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        // Read the folder on the first frame, and again whenever the view comes back on screen
        // (a run may have finished in the Training view meanwhile).
        let pass = ctx.cumulative_pass_nr();
        if !self.requested || pass > self.last_pass + 2 {
            self.refresh(&ctx);
        }
        self.last_pass = pass;
        if std::mem::take(&mut self.pending_compare) {
            self.compare_samples(&ctx);
        }
        self.logic(&ctx);
        if self.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        self.load_strips(&ctx);
        egui::Panel::top("runs_top")
            .frame(super::panel_frame(ui))
            .resizable(true)
            .default_size(260.0)
            .show(ui, |ui| {
                let (w, h) = (ui.available_width(), ui.available_height());
                ui.horizontal_top(|ui| {
                    ui.allocate_ui(egui::vec2((w - 430.0).max(360.0), h), |ui| {
                        ui.vertical(|ui| self.table_ui(ui));
                    });
                    ui.separator();
                    ui.vertical(|ui| {
                        egui::ScrollArea::vertical()
                            .id_salt("runs_controls")
                            .show(ui, |ui| self.controls_ui(ui, &ctx));
                    });
                });
            });
        egui::CentralPanel::default()
            .frame(super::central_frame(ui))
            .show(ui, |ui| self.central_ui(ui, &ctx));
    }

    fn table_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Runs");
            if ui.button("Refresh").clicked() {
                self.refresh(&ui.ctx().clone());
            }
            if self.list_job.is_some() {
                ui.spinner();
            }
            ui.label(
                RichText::new(format!(
                    "{} runs in {} · tick runs to overlay and compare them",
                    self.list.runs.len(),
                    self.runs_dir.display()
                ))
                .small(),
            );
        });
        if let Some(e) = self.error.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, e);
                if ui.small_button("✕").on_hover_text("dismiss").clicked() {
                    self.error = None;
                }
            });
        }
        ui.separator();
        if self.list.runs.is_empty() {
            ui.label(if self.loaded {
                "No runs yet: start one in the Training view, or run `diffusion-lab train`."
            } else {
                "Reading the runs folder…"
            });
        }
        let mut toggled: Option<PathBuf> = None;
        egui::ScrollArea::vertical()
            .id_salt("runs_table")
            .max_height((ui.available_height() - 30.0).max(80.0))
            .show(ui, |ui| {
                egui::Grid::new("runs_grid")
                    .striped(true)
                    .num_columns(5)
                    .show(ui, |ui| {
                        ui.label(RichText::new("run").strong());
                        ui.label(RichText::new("schedule · data").strong());
                        ui.label(RichText::new("steps").strong());
                        ui.label(RichText::new("loss").strong());
                        ui.label(RichText::new("date (UTC)").strong());
                        ui.end_row();
                        for r in &self.list.runs {
                            let mut on = self.picked.contains(&r.dir);
                            if ui
                                .checkbox(&mut on, r.label())
                                .on_hover_text(r.dir.display().to_string())
                                .changed()
                            {
                                toggled = Some(r.dir.clone());
                            }
                            ui.label(
                                RichText::new(format!(
                                    "{} · {}",
                                    r.schedule_label(),
                                    r.data_label()
                                ))
                                .small(),
                            );
                            ui.label(r.steps().to_string());
                            ui.label(format!("{:.4}", r.final_loss()));
                            ui.label(RichText::new(r.date()).small());
                            ui.end_row();
                        }
                    });
            });
        if let Some(d) = toggled
            && !self.picked.remove(&d)
        {
            self.picked.insert(d);
        }
        if !self.list.skipped.is_empty() {
            egui::CollapsingHeader::new(format!("{} folders skipped", self.list.skipped.len()))
                .id_salt("skipped")
                .show(ui, |ui| {
                    for s in &self.list.skipped {
                        ui.label(
                            RichText::new(format!("{}: {}", s.dir.display(), s.reason))
                                .small()
                                .color(ui.visuals().warn_fg_color),
                        );
                    }
                });
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.log_axis, "log axis");
            let l = ui.label("smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.999))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let l = ui.label("samples");
            ui.add(egui::DragValue::new(&mut self.compare_n).range(1..=64))
                .labelled_by(l.id);
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.compare_seed))
                .labelled_by(l.id);
            let l = ui.label("DDIM steps");
            ui.add(egui::DragValue::new(&mut self.compare_steps).range(1..=1000))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let running = self.compare_job.is_some();
            if ui
                .add_enabled(
                    !running && !self.picked.is_empty(),
                    egui::Button::new("Compare samples"),
                )
                .on_hover_text("draw samples of every picked run's EMA weights from the same x_T")
                .clicked()
            {
                self.compare_samples(ctx);
            }
            if ui
                .add_enabled(
                    !running && !self.picked.is_empty(),
                    egui::Button::new("NLL (bits/dim)"),
                )
                .on_hover_text(
                    "the variational bound of every picked run on 64 of its held-out images, \
                     estimated from every t ≤ 50 and 100 stratified t above (diffusion-lab nll gives the full sum)",
                )
                .clicked()
            {
                self.compute_nll(ctx);
            }
            if let Some(j) = &self.compare_job {
                if j.progress.1 > 0 {
                    ui.add(
                        egui::ProgressBar::new(j.progress.0 as f32 / j.progress.1 as f32)
                            .text(j.progress.2.clone())
                            .desired_width(200.0),
                    );
                } else {
                    ui.spinner();
                }
            }
        });
        ui.separator();
        self.study_controls_ui(ui, ctx);
    }

    fn study_controls_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.label(RichText::new("Studies").strong());
        let running = self.study_job.is_some();
        let mut changed = false;
        ui.add_enabled_ui(!running, |ui| {
            let selected = self
                .study_presets
                .iter()
                .find(|p| Some(&p.1) == self.study_preset.as_ref())
                .map_or_else(|| "(none found in presets/)".to_owned(), |p| p.0.clone());
            ui.horizontal(|ui| {
                let l = ui.label("preset");
                egui::ComboBox::from_id_salt("study_preset")
                    .selected_text(selected)
                    .show_ui(ui, |ui| {
                        for (name, path) in &self.study_presets {
                            if ui
                                .selectable_value(&mut self.study_preset, Some(path.clone()), name)
                                .clicked()
                            {
                                changed = true;
                            }
                        }
                    })
                    .response
                    .labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                let l = ui.label("epochs");
                ui.add(egui::DragValue::new(&mut self.study_epochs).range(1..=1000))
                    .labelled_by(l.id);
                let l = ui.label("steps/epoch (0: one pass)");
                ui.add(egui::DragValue::new(&mut self.study_steps_per_epoch).range(0..=100_000))
                    .labelled_by(l.id);
            });
        });
        if changed {
            self.preset_settings();
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !running && self.study_preset.is_some(),
                    egui::Button::new("Start study"),
                )
                .clicked()
            {
                self.start_study(ctx);
            }
            if ui
                .add_enabled(running, egui::Button::new("Cancel study"))
                .clicked()
            {
                self.cancel_study();
            }
        });
        if let Some(j) = &self.study_job {
            ui.label(j.progress.2.clone());
            if j.progress.1 > 0 {
                ui.add(
                    egui::ProgressBar::new(j.progress.0 as f32 / j.progress.1 as f32)
                        .text(format!("step {} / {}", j.progress.0, j.progress.1)),
                );
            }
            if j.cancelling {
                ui.label("cancelling…");
            }
        }
        if !self.studies.is_empty() {
            let current = self.study.as_ref().map(|s| s.dir.clone());
            let name = |p: &Path| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let mut chosen = None;
            ui.add_enabled_ui(!running, |ui| {
                ui.horizontal(|ui| {
                    let l = ui.label("show");
                    egui::ComboBox::from_id_salt("study_shown")
                        .selected_text(current.as_deref().map(name).unwrap_or_default())
                        .show_ui(ui, |ui| {
                            for d in &self.studies {
                                if ui
                                    .selectable_label(current.as_ref() == Some(d), name(d))
                                    .clicked()
                                {
                                    chosen = Some(d.clone());
                                }
                            }
                        })
                        .response
                        .labelled_by(l.id);
                });
            });
            if let Some(d) = chosen {
                self.show_study(&d);
            }
        }
    }

    fn central_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        let h = ((ui.available_height() - 50.0) / 2.0).max(120.0);
        crate::app::columns(ui, 2, |cols| {
            cols[0].label(
                RichText::new(
                    "Loss of the picked runs: train solid, held-out dashed (min–max band)",
                )
                .strong(),
            );
            self.curves_ui(&mut cols[0], h - 4.0);
            cols[1].label(
                RichText::new("Samples from the same x_T (EMA weights, DDIM η = 0)").strong(),
            );
            self.samples_ui(&mut cols[1], h - 4.0);
            self.nll_ui(&mut cols[1]);
        });
        ui.separator();
        crate::app::columns(ui, 2, |cols| {
            self.study_ui(&mut cols[0], h);
            self.grid_ui(&mut cols[1], ctx);
        });
    }

    fn curves_ui(&mut self, ui: &mut egui::Ui, height: f32) {
        let log = self.log_axis;
        let f = move |v: f64| if log { v.max(1e-12).log10() } else { v };
        let runs: Vec<&RunEntry> = self.picked_runs();
        let smoothing = self.smoothing;
        let mut drawn = Vec::new();
        crate::app::plot("runs_loss")
            .height(height)
            .legend(
                Legend::default()
                    .position(Corner::LeftBottom)
                    .color_conflict_handling(ColorConflictHandling::PickFirst),
            )
            .x_axis_label("step")
            .y_axis_label(if log { "loss (log₁₀)" } else { "loss" })
            .show(ui, |p| {
                for (i, r) in runs.iter().enumerate() {
                    let c = colour(i);
                    let mut sm = Vec::with_capacity(r.info.history.train.len());
                    let mut prev: Option<f64> = None;
                    for &(s, l) in &r.info.history.train {
                        let l = f64::from(l);
                        let v = prev.map_or(l, |q| smoothing * q + (1.0 - smoothing) * l);
                        prev = Some(v);
                        sm.push([s as f64, f(v)]);
                    }
                    // The legend names the run by its config name (short), made unique.
                    let same = runs.iter().filter(|q| q.name == r.name).count();
                    let name = if same > 1 {
                        format!("{} ({})", r.name, r.date())
                    } else {
                        r.name.clone()
                    };
                    p.line(
                        Line::new(name.clone(), PlotPoints::from(sm))
                            .color(c)
                            .width(2.0),
                    );
                    let val = &r.info.history.val;
                    if !val.is_empty() {
                        let xs: Vec<f64> = val.iter().map(|v| v.step as f64).collect();
                        let lo: Vec<f64> = val.iter().map(|v| f(f64::from(v.min))).collect();
                        let hi: Vec<f64> = val.iter().map(|v| f(f64::from(v.max))).collect();
                        // The line first: the legend takes its colour from the first item, and
                        // one legend entry per run toggles all of its curves.
                        let mean: Vec<[f64; 2]> = val
                            .iter()
                            .map(|v| [v.step as f64, f(f64::from(v.mean))])
                            .collect();
                        p.line(
                            Line::new(name.clone(), PlotPoints::from(mean))
                                .color(c)
                                .style(LineStyle::dashed_loose())
                                .width(1.5),
                        );
                        p.add(
                            FilledArea::new(name.clone(), &xs, &lo, &hi)
                                .fill_color(c.gamma_multiply(0.25)),
                        );
                    }
                    drawn.push(r.label());
                }
            });
        self.drawn = drawn;
    }

    fn samples_ui(&mut self, ui: &mut egui::Ui, height: f32) {
        if self.samples.is_empty() {
            ui.label(if self.picked.is_empty() {
                "Pick runs on the left, then press Compare samples."
            } else {
                "Press Compare samples to draw from every picked run with the same noise."
            });
            ui.add_space(height - 20.0);
            return;
        }
        let k = self.sample_tex.len().max(1);
        let side = ((ui.available_width() - 8.0 * k as f32) / k as f32)
            .min(height - 30.0)
            .max(40.0);
        egui::ScrollArea::horizontal()
            .id_salt("samples_scroll")
            .max_height(height)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (s, tex) in self.samples.iter().zip(&self.sample_tex) {
                        ui.vertical(|ui| {
                            ui.set_max_width(side);
                            ui.add(egui::Label::new(RichText::new(&s.label).small()).truncate());
                            ui.add(egui::Image::new(tex).fit_to_exact_size(egui::vec2(side, side)));
                            if let Some(q) = &s.quality
                                && let [samples, floor, ..] = q.rows.as_slice()
                            {
                                ui.label(
                                    RichText::new(format!(
                                        "FID {:.1} (real {:.1}) · IS {:.2}\nprecision {:.2} · recall {:.2}",
                                        samples.fid.mean,
                                        floor.fid.mean,
                                        samples.is.mean,
                                        samples.precision.mean,
                                        samples.recall.mean
                                    ))
                                    .small()
                                    .monospace(),
                                )
                                .on_hover_text(format!(
                                    "{}; n = {}: FID at small n sits far above its value at \
                                     thousands of samples, so compare runs at the same n and \
                                     against the real-image floor",
                                    q.features, samples.n
                                ));
                            }
                        });
                    }
                });
            });
    }

    fn load_strips(&mut self, ctx: &egui::Context) {
        let dir = self.study.as_ref().map(|s| s.dir.clone());
        if dir == self.strips_of {
            return;
        }
        self.strips.clear();
        self.strips_of.clone_from(&dir);
        let Some(dir) = dir else { return };
        let Ok(rd) = std::fs::read_dir(dir.join("strips")) else {
            return;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        files.sort();
        for p in files {
            let Ok(img) = image::open(&p) else { continue };
            let img = img.to_rgb8();
            let ci = egui::ColorImage::from_rgb(
                [img.width() as usize, img.height() as usize],
                img.as_raw(),
            );
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().replace("__", " · "))
                .unwrap_or_default();
            let tex = ctx.load_texture(format!("strip_{name}"), ci, egui::TextureOptions::NEAREST);
            self.strips.push((name, tex));
        }
    }

    fn study_ui(&mut self, ui: &mut egui::Ui, height: f32) {
        let title = match &self.study {
            Some(s) => format!(
                "Study {}",
                s.dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            None => "Studies: start one above (seed 003's schedule and data studies)".into(),
        };
        ui.add(egui::Label::new(RichText::new(title).strong()).truncate());
        ui.add(
            egui::Label::new(
                RichText::new(
                    "loss per epoch: train solid, held-out dashed, bands min–max over seeds \
                     and batches; strips: one row per seed, x_T at the left, x₀ at the right",
                )
                .small(),
            )
            .truncate(),
        );
        let rows = self
            .study
            .as_ref()
            .map(|s| s.rows.clone())
            .unwrap_or_default();
        let log = self.log_axis;
        let f = move |v: f64| if log { v.max(1e-12).log10() } else { v };
        let width = ui.available_width();
        let plot_w = if self.strips.is_empty() {
            width
        } else {
            (width * 0.56).max(200.0)
        };
        let height = (height - 30.0).max(120.0);
        let strip_w = (width - plot_w - 16.0).max(60.0);
        ui.horizontal_top(|ui| {
            self.study_plot_ui(ui, &rows, plot_w, height, f);
            if !self.strips.is_empty() {
                egui::ScrollArea::vertical()
                    .id_salt("strips_scroll")
                    .max_height(height)
                    .max_width(strip_w)
                    .show(ui, |ui| {
                        ui.vertical(|ui| {
                            ui.set_max_width(strip_w);
                            let w = strip_w - 12.0;
                            for (name, tex) in &self.strips {
                                ui.label(RichText::new(name).small());
                                let size = tex.size_vec2();
                                let scale = (w / size.x).min(2.0);
                                ui.add(egui::Image::new(tex).fit_to_exact_size(size * scale));
                            }
                        });
                    });
            }
        });
    }

    fn study_plot_ui(
        &self,
        ui: &mut egui::Ui,
        rows: &[SummaryRow],
        width: f32,
        height: f32,
        f: impl Fn(f64) -> f64,
    ) {
        crate::app::plot("study_curves")
            .width(width)
            .height(height)
            .legend(Legend::default().color_conflict_handling(ColorConflictHandling::PickFirst))
            .x_axis_label("epoch")
            .y_axis_label(if self.log_axis {
                "loss (log₁₀)"
            } else {
                "loss"
            })
            .show(ui, |p| {
                let mut groups: Vec<(String, String)> = Vec::new();
                for r in rows {
                    let g = (r.schedule.clone(), r.prep.clone());
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
                for (i, (s, pr)) in groups.iter().enumerate() {
                    let c = colour(i);
                    let g: Vec<&SummaryRow> = rows
                        .iter()
                        .filter(|r| &r.schedule == s && &r.prep == pr)
                        .collect();
                    let name = format!("{s} · {pr}");
                    let xs: Vec<f64> = g.iter().map(|r| r.epoch as f64).collect();
                    for (k, dashed) in [(0usize, false), (1, true)] {
                        let v = |r: &SummaryRow, j: usize| {
                            f(if k == 0 { r.train[j] } else { r.val[j] })
                        };
                        let lo: Vec<f64> = g.iter().map(|r| v(r, 1)).collect();
                        let hi: Vec<f64> = g.iter().map(|r| v(r, 2)).collect();
                        let mean: Vec<[f64; 2]> =
                            g.iter().map(|r| [r.epoch as f64, v(r, 0)]).collect();
                        let mut line = Line::new(name.clone(), PlotPoints::from(mean))
                            .color(c)
                            .width(2.0);
                        if dashed {
                            line = line.style(LineStyle::dashed_loose());
                        }
                        p.line(line);
                        p.add(
                            FilledArea::new(name.clone(), &xs, &lo, &hi)
                                .fill_color(c.gamma_multiply(if dashed { 0.12 } else { 0.2 })),
                        );
                    }
                }
            });
    }

    fn grid_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.label(RichText::new("DDIM η × steps (bundled model)").strong());
        ui.label(
            RichText::new(
                "energy distance ×1000 to held-out MNIST on 2×-pooled pixels; lower is better",
            )
            .small(),
        );
        ui.horizontal_wrapped(|ui| {
            let running = self.grid_job.is_some();
            if ui
                .add_enabled(!running, egui::Button::new("Compute η × steps grid"))
                .clicked()
            {
                self.compute_grid(ctx);
            }
            let l = ui.label("samples");
            ui.add(egui::DragValue::new(&mut self.grid_n).range(2..=1024))
                .labelled_by(l.id);
            let l = ui.label("η");
            ui.add(egui::TextEdit::singleline(&mut self.grid_etas).desired_width(90.0))
                .labelled_by(l.id);
            let l = ui.label("S");
            ui.add(egui::TextEdit::singleline(&mut self.grid_steps).desired_width(90.0))
                .labelled_by(l.id);
            if let Some(j) = &mut self.grid_job {
                if j.progress.1 > 0 {
                    ui.add(
                        egui::ProgressBar::new(j.progress.0 as f32 / j.progress.1 as f32)
                            .text(format!("{} / {} cells", j.progress.0, j.progress.1))
                            .desired_width(140.0),
                    );
                } else {
                    ui.spinner();
                }
                if ui.button("Cancel").clicked() {
                    j.cancel();
                }
            }
        });
        if self.grid_table.is_empty() {
            ui.label("Not computed yet (a few minutes on a CPU).");
            return;
        }
        let mut etas: Vec<f64> = Vec::new();
        let mut steps: Vec<usize> = Vec::new();
        for &(e, s, _, _) in &self.grid_table {
            if !etas.contains(&e) {
                etas.push(e);
            }
            if !steps.contains(&s) {
                steps.push(s);
            }
        }
        // The best cell: by FID where there is one, else by the energy distance.
        let key = |c: &(f64, usize, f64, Option<f64>)| c.3.unwrap_or(c.2);
        let best = self
            .grid_table
            .iter()
            .map(key)
            .fold(f64::INFINITY, f64::min);
        egui::Grid::new("eta_steps_table")
            .striped(true)
            .min_col_width(60.0)
            .show(ui, |ui| {
                ui.label(RichText::new("η \\ S").strong());
                for s in &steps {
                    ui.label(RichText::new(s.to_string()).strong());
                }
                ui.end_row();
                for e in &etas {
                    ui.label(RichText::new(format!("{e}")).strong());
                    for s in &steps {
                        match self.grid_table.iter().find(|c| c.0 == *e && c.1 == *s) {
                            Some(c) => {
                                let text = match c.3 {
                                    Some(fid) => format!("{fid:.1} · {:.1}", c.2 * 1e3),
                                    None => format!("{:.1}", c.2 * 1e3),
                                };
                                let t = RichText::new(text).monospace();
                                ui.label(if key(c) == best { t.strong() } else { t });
                            }
                            None => {
                                ui.label("–");
                            }
                        }
                    }
                    ui.end_row();
                }
            });
        if !self.grid_note.is_empty() {
            ui.label(RichText::new(&self.grid_note).small());
        }
    }
}

/// Parses the grid CSV written by [`GridResult::csv`]: (η, S, energy distance, FID) per row
/// (older files have no FID column).
pub fn parse_grid_csv(text: &str) -> Vec<(f64, usize, f64, Option<f64>)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                f.first()?.trim().parse().ok()?,
                f.get(1)?.trim().parse().ok()?,
                f.get(2)?.trim().parse().ok()?,
                f.get(4).and_then(|v| v.trim().parse().ok()),
            ))
        })
        .collect()
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|v| !v.is_empty())
}

/// The η and S lists of the first preset in `presets/` with a `[grid]` table.
fn find_grid_preset() -> Option<(Vec<f64>, Vec<usize>)> {
    preset_files()
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter(|t| t.contains("[grid]"))
        .find_map(|t| grid_from_preset(&t).ok())
}

/// The `.toml` files of the first `presets/` folder found (working folder, then source tree).
fn preset_files() -> Vec<PathBuf> {
    for dir in [
        PathBuf::from("presets"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("presets"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        if !files.is_empty() {
            return files;
        }
    }
    Vec::new()
}

/// The study presets in `presets/` (next to the working folder or the source tree): every TOML
/// file with a `[study]` table that parses.
fn find_study_presets() -> Vec<(String, PathBuf)> {
    preset_files()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .ok()
                .is_some_and(|t| t.contains("[study]") && study_from_preset(&t, None, None).is_ok())
        })
        .map(|p| {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, p)
        })
        .collect()
}
