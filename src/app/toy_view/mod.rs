//! The 2-D lab view (issue 6): a toy dataset, the forward scatter of x_t, the reverse particle
//! cloud with trails, the learned and true score fields, the density of x_t, live loss and
//! energy-distance plots, and seed 001's Fig. 3 (data vs Langevin vs annealed Langevin).
//!
//! Training runs on the toy worker ([`ToyTrainHandle`]); sampling, Fig. 3 and exports run as
//! background jobs ([`BgJob`]), which `logic` collects without blocking. Dropping the view
//! stops the worker and cancels and joins the jobs.
//!
//! This file keeps the state, the dataset and the layout; the rest is beside it: `jobs.rs`
//! (training, sampling, Fig. 3 and exports in the background, and `logic`), `side.rs` (the
//! side panel with the mixture editor) and `plots.rs` (the plots of the lab and of Fig. 3).

use crate::app::command::{Commands, HasOutbox, Outbox};
use crate::diffusion::{Rng, ScheduleTable};
use crate::jobs::BgJob;
use crate::toy::fields::forward_points;
use crate::toy::lab::{ScoreSource, ToyStatus, ToyTab};
use crate::toy::sampling::{EpsModel, Frame, ToySampler, TrueScore};
use crate::toy::{ToyDataset, ToyLabConfig};
use crate::train::toy_worker::{MlpEps, ToyTrainHandle};
use egui::TextureHandle;
use egui_plot::PlotPoint;

mod jobs;
mod plots;
mod side;

/// Points of the dataset shown in the forward view and behind the other plots.
const SHOW_POINTS: usize = 1500;
/// Particles in the reverse view.
const PARTICLES: usize = 1000;
/// Particles that draw a trail.
const TRAILS: usize = 40;
/// Frames a trail reaches back.
const TRAIL_FRAMES: usize = 12;
/// Frames recorded per sampling run.
const MAX_FRAMES: usize = 120;
/// The plots show [−VIEW, VIEW]².
const VIEW: f64 = 2.2;

/// A background job of the view: its result, or why there is none. Dropping it cancels the
/// job and joins its thread.
type Job<T> = BgJob<Result<T, String>>;

/// The 2-D lab's state.
pub struct ToyView {
    /// What leaves the view (jobs, dialogs), run by the app.
    out: Outbox<Self>,
    /// Show the side panel of controls (hidden in the classroom presenter layout).
    pub show_controls: bool,
    /// The dataset.
    pub dataset: ToyDataset,
    /// Training and sampling settings.
    pub config: ToyLabConfig,
    table: ScheduleTable,
    data: Vec<f64>,
    noise: Vec<f64>,
    noise_seed: u64,
    /// The timestep shown by the forward, score and density views (0 = data).
    pub t: usize,
    /// Keep the same ε for every point as t moves.
    pub lock_noise: bool,
    noise_t: usize,
    /// Mouse drawing adds points to the drawn dataset.
    pub drawing: bool,
    drawn: Vec<[f64; 2]>,
    /// The central tab.
    pub tab: ToyTab,
    // Training.
    worker: Option<ToyTrainHandle>,
    /// Where training is.
    pub status: ToyStatus,
    losses: Vec<PlotPoint>,
    energy: Vec<PlotPoint>,
    learned: Option<MlpEps>,
    learned_step: usize,
    learned_stale: bool,
    // Sampling.
    /// The sampler (index into [`ToySampler::NAMES`]).
    pub sampler: usize,
    /// Learned or true score.
    pub source: ScoreSource,
    sample_job: Option<Job<(Vec<Frame>, Option<f64>)>>,
    frames: Vec<Frame>,
    frames_label: String,
    sample_energy: Option<f64>,
    sample_runs: u64,
    /// The frame of the reverse view.
    pub frame: usize,
    /// Whether the reverse view is playing.
    pub playing: bool,
    last_tick: f64,
    fig3_job: Option<Job<[Vec<f64>; 2]>>,
    fig3: Option<[Vec<f64>; 2]>,
    fig3_label: String,
    // Caches.
    density: Option<((u64, usize), TextureHandle)>,
    density_pending: Option<(u64, usize)>,
    dataset_rev: u64,
    score_cache: Option<((u64, usize, usize), ScoreArrows)>,
    // Exports.
    export_job: Option<Job<String>>,
    /// Whether the first frame has started the true-score runs.
    started: bool,
    /// Play the next sampling result from its first frame (else show its last frame).
    autoplay: bool,
    /// The last message for the user (errors and completed exports).
    pub message: String,
}

/// Score arrows on a grid: origins and the tips of the learned and true fields.
#[derive(Clone, Default)]
struct ScoreArrows {
    origins: Vec<[f64; 2]>,
    learned: Option<Vec<[f64; 2]>>,
    truth: Option<Vec<[f64; 2]>>,
}

impl HasOutbox for ToyView {
    fn outbox(&mut self) -> &mut Outbox<Self> {
        &mut self.out
    }
}

impl Default for ToyView {
    fn default() -> Self {
        let config = ToyLabConfig::default();
        let table = config
            .schedule
            .table()
            .unwrap_or_else(|_| ScheduleTable::from_betas(vec![0.02; 100]));
        let mut view = Self {
            out: Outbox::default(),
            dataset: ToyDataset::default(),
            config,
            table,
            data: Vec::new(),
            noise: Vec::new(),
            noise_seed: 1,
            t: 10,
            lock_noise: true,
            noise_t: 0,
            drawing: false,
            drawn: Vec::new(),
            tab: ToyTab::Lab,
            worker: None,
            status: ToyStatus::Idle,
            losses: Vec::new(),
            energy: Vec::new(),
            learned: None,
            learned_step: 0,
            learned_stale: false,
            sampler: 0,
            source: ScoreSource::True,
            sample_job: None,
            frames: Vec::new(),
            frames_label: String::new(),
            sample_energy: None,
            sample_runs: 0,
            frame: 0,
            playing: false,
            last_tick: 0.0,
            fig3_job: None,
            fig3: None,
            fig3_label: String::new(),
            density: None,
            density_pending: None,
            dataset_rev: 0,
            score_cache: None,
            export_job: None,
            started: false,
            show_controls: true,
            autoplay: true,
            message: String::new(),
        };
        view.resample_data();
        view
    }
}

impl ToyView {
    /// A view with this dataset.
    pub fn with_dataset(dataset: ToyDataset) -> Self {
        let mut v = Self::default();
        v.set_dataset(dataset);
        v
    }

    /// T of the 2-D schedule (the t slider's end).
    pub fn t_max(&self) -> usize {
        self.table.steps()
    }

    /// Whether a training run is going (training or paused).
    pub fn is_training(&self) -> bool {
        self.worker.is_some()
    }

    /// Whether a sampling job is running.
    pub fn is_sampling(&self) -> bool {
        self.sample_job.is_some() || self.fig3_job.is_some()
    }

    /// Loss points received so far.
    pub fn loss_points(&self) -> usize {
        self.losses.len()
    }

    /// Energy-distance measurements received so far (step, D²).
    pub fn energy_points(&self) -> Vec<[f64; 2]> {
        self.energy.iter().map(|p| [p.x, p.y]).collect()
    }

    /// Whether a trained model is available for the learned score.
    pub fn has_learned(&self) -> bool {
        self.learned.is_some()
    }

    /// The recorded frames of the last sampling run.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The Fig. 3 clouds (Langevin, annealed), once computed.
    pub fn fig3(&self) -> Option<&[Vec<f64>; 2]> {
        self.fig3.as_ref()
    }

    /// The points of the forward view at the current t.
    pub fn forward_cloud(&self) -> Vec<f64> {
        forward_points(&self.table, self.t, &self.data, &self.noise)
    }

    /// Takes a preset's `[toy]` table: its settings and, if it names one, its dataset.
    pub fn apply_config(&mut self, config: &crate::toy::ToyLabConfig) {
        self.config = config.clone();
        if let Some(d) = ToyDataset::from_name(&config.dataset) {
            self.set_dataset(d);
        }
    }

    /// Replaces the dataset, redraws its points and forgets results that depended on it.
    pub fn set_dataset(&mut self, dataset: ToyDataset) {
        self.dataset = dataset;
        self.dataset_changed();
    }

    fn dataset_changed(&mut self) {
        self.dataset_rev += 1;
        self.resample_data();
        self.frames.clear();
        self.sample_energy = None;
        self.frame = 0;
        self.fig3 = None;
        self.sample_job = None;
        self.fig3_job = None;
        self.learned_stale = self.learned.is_some();
        if self.dataset.mixture().is_none() {
            self.source = ScoreSource::Learned;
        }
    }

    fn resample_data(&mut self) {
        self.data = self
            .dataset
            .sample(SHOW_POINTS, &mut Rng::stream(self.config.seed, 40));
        self.redraw_noise();
    }

    fn redraw_noise(&mut self) {
        self.noise = Rng::stream(self.noise_seed, 41).normal_vec(self.data.len());
        self.noise_t = self.t;
    }

    fn true_model(&self) -> Option<TrueScore> {
        self.dataset.mixture().map(|m| TrueScore {
            mixture: m.clone(),
            table: self.table.clone(),
        })
    }

    fn current_sampler(&self) -> ToySampler {
        let name = ToySampler::NAMES[self.sampler.min(ToySampler::NAMES.len() - 1)];
        match ToySampler::from_name(name, self.config.eta) {
            Some(ToySampler::Ddim { eta, .. }) => ToySampler::Ddim {
                steps: self.config.ddim_steps,
                eta,
            },
            Some(s) => s,
            None => ToySampler::Ddpm,
        }
    }

    /// The model for the chosen score source, or why there is none.
    fn model_for(&self, source: ScoreSource) -> Result<Box<dyn EpsModel + Send>, String> {
        match source {
            ScoreSource::True => self
                .true_model()
                .map(|m| Box::new(m) as Box<dyn EpsModel + Send>)
                .ok_or_else(|| {
                    "the true score exists only for Gaussian mixtures; train the MLP".to_owned()
                }),
            ScoreSource::Learned => self
                .learned
                .clone()
                .map(|m| Box::new(m) as Box<dyn EpsModel + Send>)
                .ok_or_else(|| "train the MLP first (or use the true score)".to_owned()),
        }
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Commands<Self> {
        let ctx = ui.ctx().clone();
        if !self.started {
            // For a mixture the true-score results are exact and quick: start them on the first
            // frame so the view opens with a finished reverse run and Fig. 3.
            self.started = true;
            if self.dataset.mixture().is_some() && self.source == ScoreSource::True {
                self.autoplay = false;
                self.start_sampling(&ctx);
                self.start_fig3(&ctx);
            }
        }
        self.logic(&ctx);
        if !self.lock_noise && self.noise_t != self.t {
            self.noise_seed += 1;
            self.redraw_noise();
        }
        self.advance_play(ui);
        if self.show_controls {
            egui::Panel::left("toy_side")
                .frame(crate::app::panel_frame(ui))
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui, &ctx));
                });
        }
        egui::CentralPanel::default()
            .frame(crate::app::central_frame(ui))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.tab, ToyTab::Lab, "Lab");
                    ui.selectable_value(
                        &mut self.tab,
                        ToyTab::Fig3,
                        "Fig. 3: Langevin vs annealed",
                    );
                    ui.separator();
                    let l = ui.label("Timestep t");
                    let big_t = self.table.steps();
                    ui.add(egui::Slider::new(&mut self.t, 0..=big_t))
                        .labelled_by(l.id);
                    let ab = self.table.alpha_bar_at(self.t);
                    ui.label(format!("ᾱ_t = {ab:.3}"));
                });
                match self.tab {
                    ToyTab::Lab => self.lab_ui(ui),
                    ToyTab::Fig3 => self.fig3_ui(ui, &ctx),
                }
            });
        self.out.take()
    }

    fn advance_play(&mut self, ui: &egui::Ui) {
        if !self.playing || self.frames.is_empty() {
            return;
        }
        let now = ui.input(|i| i.time);
        if now - self.last_tick >= 1.0 / 30.0 {
            self.last_tick = now;
            if self.frame + 1 < self.frames.len() {
                self.frame += 1;
            } else {
                self.playing = false;
            }
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(33));
    }
}
