//! The Runs view: every run in the runs folder, their loss curves overlaid, samples of the picked
//! runs drawn from the same noise, studies (start, cancel, per-epoch curves, strips) and the
//! DDIM η × steps table of the bundled model. All slow work runs on background threads that
//! report over channels; the view drains them every frame and never blocks.
//!
//! This file keeps the state and the listing of the runs folder; the rest is beside it:
//! `jobs.rs` (the background jobs and their messages), `compare.rs` (loss curves, samples and
//! NLL of the picked runs), `study.rs`, `grid.rs` (the η × steps table) and `panels.rs` (the
//! layout, the runs table and the controls).

use crate::store::runs::{RunEntry, RunList, STUDY_MARKER, list_runs};
use crate::train::study_runner::{SummaryRow, read_report_csv, read_summary_csv, report_table};
use egui::Color32;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::PALETTE;
use super::command::{Commands, HasOutbox, Outbox};

mod compare;
mod grid;
mod jobs;
mod panels;
mod seed000;
mod study;

use grid::{find_grid_preset, parse_grid_csv};
use jobs::{Job, Msg};
use study::find_study_presets;

/// The files in `dir` whose extension is `ext`, sorted by path; empty when `dir` cannot be read.
fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

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

/// A study found in the runs folder (or running).
#[derive(Clone, Debug, PartialEq)]
pub struct StudyResult {
    /// Its folder.
    pub dir: PathBuf,
    /// The pooled per-epoch rows.
    pub rows: Vec<SummaryRow>,
    /// Its report (ᾱ_T, L_T, grey pixels per schedule × preparation) as a text table; empty
    /// until the first schedule × preparation is done, and for studies written before it.
    pub report: String,
    /// Seed 000's table, for a folder written by its `[seed000]` preset (else empty).
    pub seed000: Vec<crate::metrics::seed000::Row000>,
}

impl StudyResult {
    /// A study in `dir` with nothing measured yet (one just started).
    pub fn empty(dir: PathBuf) -> Self {
        Self {
            dir,
            rows: Vec::new(),
            report: String::new(),
            seed000: Vec::new(),
        }
    }
}

/// The runs view's state.
pub struct RunsView {
    /// What leaves the view (its jobs), run by the app.
    out: Outbox<Self>,
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
    /// The study presets offered: (name, text), from `presets/` or built in.
    pub study_presets: Vec<(String, String)>,
    /// The name of the preset the next study starts from.
    pub study_preset: Option<String>,
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
    /// The grid's σ̂ row, spacing and clip (its η and S lists are the text fields above).
    pub grid: crate::config::Grid,
    grid_job: Option<Job>,
    grid_from_preset: bool,
    list_job: Option<Job>,
    requested: bool,
    last_pass: u64,
    refresh_again: bool,
    /// The NLL bounds of the picked runs (the "NLL (bits/dim)" button).
    pub nll: Vec<RunNll>,
    /// The η × S table: (η, S, energy distance, FID on the classifier's features).
    pub grid_table: Vec<(crate::train::grid_runner::GridRow, usize, f64, Option<f64>)>,
    /// What the table is.
    pub grid_note: String,
    drawn: Vec<String>,
    /// The N whose lines seed 000's plots show.
    pub seed000_n: usize,
}

impl Default for RunsView {
    fn default() -> Self {
        let mut v = Self::new(crate::store::default_runs_dir());
        v.auto_pick = 3;
        v.auto_compare = true;
        v
    }
}

impl HasOutbox for RunsView {
    fn outbox(&mut self) -> &mut Outbox<Self> {
        &mut self.out
    }
}

impl RunsView {
    /// A view of the runs folder `runs_dir` (read on the first frame).
    pub fn new(runs_dir: PathBuf) -> Self {
        Self {
            out: Outbox::default(),
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
            grid: crate::config::Grid::default(),
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
            seed000_n: 0,
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
        let (job, launch) = Job::prepare("list-runs", ctx, move |send, _| {
            send(Msg::Listed(Box::new(list_runs(&dir))));
        });
        self.out.start(launch);
        self.list_job = Some(job);
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
        self.study_presets = find_study_presets();
        if self.study_job.is_none() {
            let shown = self
                .study
                .as_ref()
                .map(|s| s.dir.clone())
                .filter(|d| d.is_dir())
                .or_else(|| self.studies.first().cloned());
            if let Some(dir) = shown {
                self.show_study(&dir);
            }
            self.show_bundled_seed000_if_picked();
        }
        if !self.grid_from_preset
            && let Some(grid) = find_grid_preset()
        {
            let list = |v: Vec<String>| v.join(", ");
            self.grid_etas = list(grid.etas.iter().map(f64::to_string).collect());
            self.grid_steps = list(grid.steps.iter().map(usize::to_string).collect());
            self.grid = grid;
            self.grid_from_preset = true;
        }
        if self.study_preset.is_none() {
            self.study_preset = self.study_presets.first().map(|p| p.0.clone());
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
        let report = match read_report_csv(&dir.join("report.csv")) {
            Ok(r) if !r.is_empty() => report_table(&r),
            Ok(_) => String::new(),
            Err(e) => {
                if dir.join("report.csv").exists() {
                    self.error = Some(e);
                }
                String::new()
            }
        };
        let seed000 = seed000::read_seed000(dir).unwrap_or_else(|e| {
            self.error = Some(e);
            Vec::new()
        });
        self.study = Some(StudyResult {
            dir: dir.to_path_buf(),
            rows,
            report,
            seed000,
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
}
