//! The 2-D lab view (issue 6): a toy dataset, the forward scatter of x_t, the reverse particle
//! cloud with trails, the learned and true score fields, the density of x_t, live loss and
//! energy-distance plots, and seed 001's Fig. 3 (data vs Langevin vs annealed Langevin).
//!
//! Training runs on the toy worker ([`ToyTrainHandle`]); sampling and exports run on named
//! threads and report over channels, which `logic` drains without blocking.

use crate::diffusion::{Component, Rng, ScheduleTable, energy_distance};
use crate::toy::fields::{Grid, density_grid, forward_points, score_at};
use crate::toy::gif::{GifStyle, save_gif};
use crate::toy::lab::{ScoreSource, ToyStatus, ToyTab};
use crate::toy::sampling::{EpsModel, Frame, ToySampler, TrueScore, sample_frames};
use crate::toy::{Drawn, Mixture2d, ToyDataset, ToyLabConfig, csv};
use crate::train::TrainCommand;
use crate::train::TrainEvent;
use crate::train::toy_worker::{MlpEps, ToyEvent, ToyTrainHandle};
use egui::{Color32, ColorImage, TextureHandle, TextureOptions};
use egui_plot::{Arrows, Legend, Line, Plot, PlotImage, PlotPoint, PlotPoints, Points};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};

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

/// A background job's result.
type JobRx<T> = Receiver<Result<T, String>>;

/// A running sampling job.
struct SampleJob<T = (Vec<Frame>, Option<f64>)> {
    rx: JobRx<T>,
    cancel: Arc<AtomicBool>,
}

impl<T> Drop for SampleJob<T> {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// The 2-D lab's state.
pub struct ToyView {
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
    sample_job: Option<SampleJob>,
    frames: Vec<Frame>,
    frames_label: String,
    sample_energy: Option<f64>,
    sample_runs: u64,
    /// The frame of the reverse view.
    pub frame: usize,
    /// Whether the reverse view is playing.
    pub playing: bool,
    last_tick: f64,
    fig3_job: Option<SampleJob<[Vec<f64>; 2]>>,
    fig3: Option<[Vec<f64>; 2]>,
    fig3_label: String,
    // Caches.
    density: Option<((u64, usize), TextureHandle)>,
    density_pending: Option<(u64, usize)>,
    dataset_rev: u64,
    score_cache: Option<((u64, usize, usize), ScoreArrows)>,
    // Exports.
    export_job: Option<JobRx<String>>,
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

impl Default for ToyView {
    fn default() -> Self {
        let config = ToyLabConfig::default();
        let table = config
            .schedule
            .table()
            .unwrap_or_else(|_| ScheduleTable::from_betas(vec![0.02; 100]));
        let mut view = Self {
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
            autoplay: true,
            message: String::new(),
        };
        view.resample_data();
        view
    }
}

fn spawn_named<T: Send + 'static>(
    name: &str,
    ctx: &egui::Context,
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<JobRx<T>, String> {
    let (tx, rx) = sync_channel(1);
    let ctx = ctx.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err("the background job crashed".into()));
            let _ = tx.send(result);
            ctx.request_repaint();
        })
        .map_err(|e| format!("could not start a thread: {e}"))?;
    Ok(rx)
}

impl ToyView {
    /// A view with this dataset.
    pub fn with_dataset(dataset: ToyDataset) -> Self {
        let mut v = Self::default();
        v.set_dataset(dataset);
        v
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
        let name = ToySampler::NAMES[self.sampler.min(3)];
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

    /// Starts sampling the reverse view in the background with the chosen sampler and score.
    pub fn start_sampling(&mut self, ctx: &egui::Context) {
        let model = match self.model_for(self.source) {
            Ok(m) => m,
            Err(e) => {
                self.message = e;
                return;
            }
        };
        let sampler = self.current_sampler();
        let table = self.table.clone();
        // Each run draws new noise; the first one uses the configured seed.
        let seed = self.config.seed.wrapping_add(self.sample_runs);
        self.sample_runs += 1;
        let dataset = self.dataset.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let mut model = model;
        match spawn_named("toy-sampler", ctx, move || {
            let frames = sample_frames(
                &sampler,
                model.as_mut(),
                &table,
                PARTICLES,
                seed,
                MAX_FRAMES,
                &|| !flag.load(Ordering::SeqCst),
            )
            .map_err(|e| e.to_string())?;
            // The energy distance of the result to a fresh draw of the data.
            let fresh = dataset.sample(PARTICLES, &mut Rng::stream(seed, 42));
            let ed = frames
                .last()
                .and_then(|f| energy_distance(&f.points, &fresh, 2).ok());
            Ok((frames, ed))
        }) {
            Ok(rx) => {
                self.sample_job = Some(SampleJob { rx, cancel });
                self.frames_label = format!(
                    "{}, {} score",
                    sampler.label(),
                    if self.source == ScoreSource::True {
                        "true"
                    } else {
                        "learned"
                    }
                );
                self.message = format!("sampling with {}…", sampler.label());
            }
            Err(e) => self.message = e,
        }
    }

    /// Starts the Fig. 3 comparison in the background (true score for mixtures, else learned).
    pub fn start_fig3(&mut self, ctx: &egui::Context) {
        let source = if self.source == ScoreSource::True && self.dataset.mixture().is_some() {
            ScoreSource::True
        } else {
            ScoreSource::Learned
        };
        let mut model = match self.model_for(source) {
            Ok(m) => m,
            Err(e) => {
                self.message = e;
                return;
            }
        };
        let table = self.table.clone();
        let seed = self.config.seed;
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        match spawn_named("toy-fig3", ctx, move || {
            fig3_clouds(model.as_mut(), &table, seed, &|| {
                !flag.load(Ordering::SeqCst)
            })
        }) {
            Ok(rx) => {
                self.fig3_job = Some(SampleJob { rx, cancel });
                self.fig3_label = if source == ScoreSource::True {
                    "true score".into()
                } else {
                    "learned score".into()
                };
            }
            Err(e) => self.message = e,
        }
    }

    /// Starts training the MLP on the current dataset.
    pub fn start_training(&mut self, ctx: &egui::Context) {
        if self.worker.is_some() {
            return;
        }
        let repaint = ctx.clone();
        // The worker wakes the UI after every event (about 20 a second). Coalesce them to at
        // most 10 repaints a second: on a machine without a GPU every repaint is drawn by the
        // CPU, which the training itself needs (measured: 3000 steps took 14.5 s under a
        // harness that only lays out frames, 36 s under one that also rendered them).
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            repaint.request_repaint_after(std::time::Duration::from_millis(100));
        });
        match ToyTrainHandle::start(self.config.clone(), self.dataset.clone(), wake) {
            Ok(h) => {
                self.worker = Some(h);
                self.losses.clear();
                self.energy.clear();
                self.status = ToyStatus::Training;
                self.message.clear();
            }
            Err(e) => self.status = ToyStatus::Failed(format!("could not start training: {e}")),
        }
    }

    /// Sends a command to the training worker (pause, resume, stop).
    pub fn command(&mut self, cmd: TrainCommand) {
        if let Some(w) = &self.worker {
            w.send(cmd);
        }
    }

    /// Drains the worker and job channels without blocking; call once per frame.
    pub fn logic(&mut self, ctx: &egui::Context) {
        let mut finished = false;
        if let Some(w) = &self.worker {
            while let Some(ev) = w.try_recv() {
                match ev {
                    TrainEvent::Started { .. } | TrainEvent::Resumed => {
                        self.status = ToyStatus::Training;
                    }
                    TrainEvent::Progress { losses, .. } => {
                        self.losses
                            .extend(losses.iter().map(|&(s, l)| PlotPoint::new(s as f64, l)));
                    }
                    TrainEvent::Paused => self.status = ToyStatus::Paused,
                    TrainEvent::Finished { .. } => {
                        self.status = ToyStatus::Finished;
                        finished = true;
                    }
                    TrainEvent::Failed { message, .. } => {
                        self.status = ToyStatus::Failed(message);
                        finished = true;
                    }
                    _ => {}
                }
            }
            while let Some(ev) = w.try_recv_toy() {
                match ev {
                    ToyEvent::EnergyDistance { step, value } => {
                        self.energy.push(PlotPoint::new(step as f64, value));
                    }
                    ToyEvent::Weights { step, model } => {
                        self.learned = Some(*model);
                        self.learned_step = step;
                        self.learned_stale = false;
                    }
                }
            }
            if finished || w.is_finished() {
                // Collect what is left (the final weights) before dropping the handle.
                while let Some(ev) = w.try_recv_toy() {
                    if let ToyEvent::Weights { step, model } = ev {
                        self.learned = Some(*model);
                        self.learned_step = step;
                    }
                }
                if self.status == ToyStatus::Training || self.status == ToyStatus::Paused {
                    self.status = ToyStatus::Finished;
                }
                self.worker = None;
                if self.learned.is_some() && self.status == ToyStatus::Finished {
                    self.source = ScoreSource::Learned;
                    self.start_sampling(ctx);
                }
            }
        }
        if let Some(job) = &self.sample_job
            && let Ok(result) = job.rx.try_recv()
        {
            self.sample_job = None;
            match result {
                Ok((frames, ed)) => {
                    self.sample_energy = ed;
                    self.frame = if self.autoplay {
                        0
                    } else {
                        frames.len().saturating_sub(1)
                    };
                    self.playing = self.autoplay;
                    self.autoplay = true;
                    self.frames = frames;
                    self.message.clear();
                }
                Err(e) => self.message = format!("sampling failed: {e}"),
            }
        }
        if let Some(job) = &self.fig3_job
            && let Ok(result) = job.rx.try_recv()
        {
            self.fig3_job = None;
            match result {
                Ok(pair) => self.fig3 = Some(pair),
                Err(e) => self.message = format!("Fig. 3 failed: {e}"),
            }
        }
        if let Some(rx) = &self.export_job
            && let Ok(result) = rx.try_recv()
        {
            self.export_job = None;
            self.message = match result {
                Ok(m) | Err(m) => m,
            };
        }
        if self.worker.is_some() || self.is_sampling() || self.export_job.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
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
        egui::Panel::left("toy_side")
            .frame(super::panel_frame(ui))
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui, &ctx));
            });
        egui::CentralPanel::default()
            .frame(super::central_frame(ui))
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

    fn side_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.heading("Dataset");
        let mut pick = self.dataset.name();
        ui.horizontal(|ui| {
            let l = ui.label("Data");
            egui::ComboBox::from_id_salt("toy_dataset")
                .selected_text(self.dataset.label())
                .show_ui(ui, |ui| {
                    for name in ToyDataset::NAMES {
                        if let Some(d) = ToyDataset::from_name(name) {
                            ui.selectable_value(&mut pick, name, d.label());
                        }
                    }
                })
                .response
                .labelled_by(l.id);
        });
        if pick != self.dataset.name()
            && let Some(d) = ToyDataset::from_name(pick)
        {
            self.drawing = pick == "drawn";
            self.set_dataset(d);
        }
        if let ToyDataset::Gmm(m) = &self.dataset {
            let edited = mixture_editor_ui(ui, m);
            match edited {
                Some(Ok(m)) => self.set_dataset(ToyDataset::Gmm(m)),
                Some(Err(e)) => self.message = e,
                None => {}
            }
        }
        if let ToyDataset::Drawn(_) = &self.dataset {
            ui.checkbox(&mut self.drawing, "Draw with the mouse (forward plot)");
            ui.horizontal(|ui| {
                ui.label(format!("{} drawn points", self.drawn.len()));
                if ui.button("Clear drawing").clicked() {
                    self.drawn.clear();
                }
            });
        }
        ui.separator();
        ui.heading("Forward");
        ui.checkbox(&mut self.lock_noise, "Same noise as t moves");
        if ui.button("New noise").clicked() {
            self.noise_seed += 1;
            self.redraw_noise();
        }
        ui.separator();
        ui.heading("Training");
        ui.horizontal(|ui| {
            let l = ui.label("Steps");
            ui.add(egui::DragValue::new(&mut self.config.train_steps).range(10..=100_000))
                .labelled_by(l.id);
            let l = ui.label("lr");
            ui.add(
                egui::DragValue::new(&mut self.config.lr)
                    .range(1e-5..=1e-1)
                    .speed(1e-4),
            )
            .labelled_by(l.id);
        });
        ui.horizontal(|ui| match self.status {
            ToyStatus::Training => {
                if ui.button("Pause").clicked() {
                    self.command(TrainCommand::Pause);
                }
                if ui.button("Stop").clicked() {
                    self.command(TrainCommand::Stop);
                }
            }
            ToyStatus::Paused => {
                if ui.button("Resume").clicked() {
                    self.command(TrainCommand::Resume);
                }
                if ui.button("Stop").clicked() {
                    self.command(TrainCommand::Stop);
                }
            }
            _ => {
                if ui.button("Train MLP").clicked() {
                    self.start_training(ctx);
                }
            }
        });
        ui.label(format!("Status: {}", self.status_text()));
        if let Some(p) = self.losses.last() {
            ui.label(format!("step {:.0}, loss {:.4}", p.x, p.y));
        }
        if let Some(p) = self.energy.last() {
            ui.label(format!("energy distance {:.4} at step {:.0}", p.y, p.x));
        }
        ui.separator();
        ui.heading("Sampling");
        ui.horizontal(|ui| {
            let l = ui.label("Sampler");
            egui::ComboBox::from_id_salt("toy_sampler")
                .selected_text(sampler_label(self.sampler))
                .show_ui(ui, |ui| {
                    for i in 0..ToySampler::NAMES.len() {
                        ui.selectable_value(&mut self.sampler, i, sampler_label(i));
                    }
                })
                .response
                .labelled_by(l.id);
        });
        if ToySampler::NAMES[self.sampler.min(3)] == "ddim" {
            ui.horizontal(|ui| {
                let l = ui.label("η");
                ui.add(egui::Slider::new(&mut self.config.eta, 0.0..=1.0))
                    .labelled_by(l.id);
            });
        }
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.source, ScoreSource::Learned, "Learned score");
            ui.add_enabled_ui(self.dataset.mixture().is_some(), |ui| {
                ui.radio_value(&mut self.source, ScoreSource::True, "True score");
            });
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.sample_job.is_none(), egui::Button::new("Sample"))
                .clicked()
            {
                self.start_sampling(ctx);
            }
            if self.sample_job.is_some() {
                ui.spinner();
            }
        });
        if !self.frames.is_empty() {
            ui.horizontal(|ui| {
                let label = if self.playing {
                    "Pause playback"
                } else {
                    "Play"
                };
                if ui.button(label).clicked() {
                    if !self.playing && self.frame + 1 >= self.frames.len() {
                        self.frame = 0;
                    }
                    self.playing = !self.playing;
                }
                let last = self.frames.len() - 1;
                let l = ui.label("Frame");
                if ui
                    .add(egui::Slider::new(&mut self.frame, 0..=last))
                    .labelled_by(l.id)
                    .changed()
                {
                    self.playing = false;
                }
            });
        }
        ui.separator();
        ui.heading("Export");
        ui.horizontal(|ui| {
            if ui.button("Export CSV…").clicked() {
                self.export_csv(ctx);
            }
            if ui
                .add_enabled(!self.frames.is_empty(), egui::Button::new("Export GIF…"))
                .clicked()
            {
                self.export_gif(ctx);
            }
        });
        if !self.message.is_empty() {
            ui.separator();
            ui.label(egui::RichText::new(&self.message).color(Color32::from_rgb(200, 120, 0)));
        }
    }

    fn status_text(&self) -> String {
        match &self.status {
            ToyStatus::Idle => "Idle".into(),
            ToyStatus::Training => "Training".into(),
            ToyStatus::Paused => "Paused".into(),
            ToyStatus::Finished => "Finished".into(),
            ToyStatus::Failed(m) => format!("Failed: {m}"),
        }
    }

    /// The points an export writes: the shown frame of the reverse view, else the data.
    fn export_points(&self) -> Vec<f64> {
        self.frames
            .get(self.frame)
            .map_or_else(|| self.data.clone(), |f| f.points.clone())
    }

    fn export_csv(&mut self, ctx: &egui::Context) {
        let Some(path) = crate::app::dialog::FileDialog::new()
            .add_filter("CSV", &["csv"])
            .set_file_name("points.csv")
            .save_file()
        else {
            return;
        };
        let points = self.export_points();
        self.spawn_export(ctx, path, move |p| {
            csv::save_points(p, &points).map_err(|e| e.to_string())
        });
    }

    fn export_gif(&mut self, ctx: &egui::Context) {
        let Some(path) = crate::app::dialog::FileDialog::new()
            .add_filter("GIF", &["gif"])
            .set_file_name("toy.gif")
            .save_file()
        else {
            return;
        };
        let frames = self.frames.clone();
        let data = self.data.clone();
        self.spawn_export(ctx, path, move |p| {
            save_gif(p, &frames, &data, &GifStyle::default()).map_err(|e| e.to_string())
        });
    }

    fn spawn_export(
        &mut self,
        ctx: &egui::Context,
        path: PathBuf,
        write: impl FnOnce(&std::path::Path) -> Result<(), String> + Send + 'static,
    ) {
        match spawn_named("toy-export", ctx, move || {
            write(&path)
                .map(|()| format!("saved {}", path.display()))
                .map_err(|e| format!("could not save: {e}: {}", path.display()))
        }) {
            Ok(rx) => {
                self.export_job = Some(rx);
                self.message = "exporting…".into();
            }
            Err(e) => self.message = e,
        }
    }

    fn lab_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.update_density(&ctx);
        self.update_scores();
        let avail = ui.available_size();
        let cell_h = (avail.y / 2.0 - 28.0).max(120.0);
        crate::app::columns(ui, 3, |cols| {
            self.forward_plot_ui(&mut cols[0], cell_h);
            self.reverse_plot_ui(&mut cols[1], cell_h);
            self.density_plot_ui(&mut cols[2], cell_h);
        });
        crate::app::columns(ui, 3, |cols| {
            self.score_plot_ui(&mut cols[0], cell_h, true);
            self.score_plot_ui(&mut cols[1], cell_h, false);
            self.curves_ui(&mut cols[2], cell_h);
        });
    }

    fn square_plot(id: &str, height: f32) -> Plot<'_> {
        crate::app::plot(id)
            .height(height)
            .data_aspect(1.0)
            .default_x_bounds(-VIEW, VIEW)
            .default_y_bounds(-VIEW, VIEW)
            .show_axes([true, true])
    }

    fn data_points(&self) -> Points<'_> {
        Points::new("data", pairs(&self.data))
            .color(Color32::from_gray(190))
            .radius(1.2)
            .allow_hover(false)
    }

    fn forward_plot_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let drawing = self.drawing && matches!(self.dataset, ToyDataset::Drawn(_));
        ui.label(if drawing {
            "Draw: drag to add points".to_owned()
        } else {
            format!("Forward: x_t at t = {}", self.t)
        });
        let cloud = if drawing {
            self.data.clone()
        } else {
            self.forward_cloud()
        };
        let mut added = Vec::new();
        Self::square_plot("toy_forward", h)
            .allow_drag(!drawing)
            .show(ui, |p| {
                p.points(
                    Points::new("x_t", pairs(&cloud))
                        .color(Color32::from_rgb(0, 114, 178))
                        .radius(1.5),
                );
                if drawing {
                    let drawn: Vec<[f64; 2]> = self.drawn.clone();
                    p.points(
                        Points::new("drawn", PlotPoints::from(drawn))
                            .color(Color32::from_rgb(213, 94, 0))
                            .radius(2.5),
                    );
                    let r = p.response();
                    if (r.dragged() || r.clicked())
                        && let Some(c) = p.pointer_coordinate()
                    {
                        added.push([c.x, c.y]);
                    }
                }
            });
        if !added.is_empty() {
            for q in added {
                let far = self
                    .drawn
                    .last()
                    .is_none_or(|l| (l[0] - q[0]).hypot(l[1] - q[1]) > 0.04);
                if far {
                    self.drawn.push(q);
                }
            }
            if let Ok(d) = Drawn::new(self.drawn.clone(), Drawn::DEFAULT_JITTER) {
                self.dataset = ToyDataset::Drawn(d);
                self.dataset_changed();
                self.drawing = true;
            }
        }
    }

    fn reverse_plot_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let label = match self.frames.get(self.frame) {
            Some(f) => match self.sample_energy {
                Some(ed) if self.frame + 1 == self.frames.len() => format!(
                    "Reverse ({}): {}, D² to data {ed:.4}",
                    self.frames_label, f.label
                ),
                _ => format!("Reverse ({}): {}", self.frames_label, f.label),
            },
            None => "Reverse: press Sample".to_owned(),
        };
        // Wrapped, never truncated: a cut title hid the D² value in the middle (#20 item 7).
        ui.add(egui::Label::new(label).wrap());
        Self::square_plot("toy_reverse", h).show(ui, |p| {
            p.points(self.data_points());
            let from = self.frame.saturating_sub(TRAIL_FRAMES);
            if self.frame < self.frames.len() {
                for i in 0..TRAILS {
                    let path: Vec<[f64; 2]> = self.frames[from..=self.frame]
                        .iter()
                        .filter_map(|f| f.points.get(2 * i..2 * i + 2).map(|q| [q[0], q[1]]))
                        .collect();
                    if path.len() > 1 {
                        p.line(
                            Line::new("trails", PlotPoints::from(path))
                                .color(Color32::from_rgba_unmultiplied(213, 94, 0, 140))
                                .width(1.0)
                                .allow_hover(false),
                        );
                    }
                }
                p.points(
                    Points::new("particles", pairs(&self.frames[self.frame].points))
                        .color(Color32::from_rgb(0, 114, 178))
                        .radius(1.5),
                );
            }
        });
    }

    fn update_density(&mut self, ctx: &egui::Context) {
        let key = (self.dataset_rev, self.t);
        if self.density.as_ref().is_some_and(|(k, _)| *k == key) {
            return;
        }
        // Empirical densities cost O(grid × points); a subset of the shown points is plenty.
        let subset: Vec<f64> = self.data.iter().copied().take(2 * 250).collect();
        let grid = Grid { half: VIEW, n: 64 };
        let values = density_grid(&self.dataset, &subset, &self.table, self.t, &grid);
        let image = density_image(&values, grid.n);
        let tex = ctx.load_texture("toy_density", image, TextureOptions::LINEAR);
        self.density = Some((key, tex));
        self.density_pending = None;
    }

    fn density_plot_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let exact = if self.dataset.mixture().is_some() {
            "exact"
        } else {
            "from the data points"
        };
        ui.label(format!("Density of x_t at t = {} ({exact})", self.t));
        Self::square_plot("toy_density", h).show(ui, |p| {
            if let Some((_, tex)) = &self.density {
                p.image(PlotImage::new(
                    "p_t",
                    tex.id(),
                    PlotPoint::new(0.0, 0.0),
                    [(2.0 * VIEW) as f32, (2.0 * VIEW) as f32],
                ));
            }
        });
    }

    fn update_scores(&mut self) {
        let t = self.t.max(1);
        let key = (
            self.dataset_rev,
            t,
            self.learned_step + usize::from(self.learned.is_some()),
        );
        if self.score_cache.as_ref().is_some_and(|(k, _)| *k == key) {
            return;
        }
        let grid = Grid { half: 2.0, n: 17 };
        let pts = grid.points();
        let truth = self
            .true_model()
            .map(|mut m| score_at(&mut m, &self.table, t, &pts));
        let learned = self
            .learned
            .clone()
            .map(|mut m| score_at(&mut m, &self.table, t, &pts));
        // One scale for both fields: the 90th percentile length maps to 0.9 of a grid cell.
        let reference = truth.as_ref().or(learned.as_ref());
        let scale = reference.map_or(1.0, |s| {
            let mut norms: Vec<f64> = s.chunks_exact(2).map(|v| v[0].hypot(v[1])).collect();
            norms.sort_by(f64::total_cmp);
            let p90 = norms.get(norms.len() * 9 / 10).copied().unwrap_or(1.0);
            0.9 * (2.0 * grid.half / grid.n as f64) / p90.max(1e-9)
        });
        let cell = 2.0 * grid.half / grid.n as f64;
        let tips = |s: &Vec<f64>| -> Vec<[f64; 2]> {
            pts.chunks_exact(2)
                .zip(s.chunks_exact(2))
                .map(|(p, v)| {
                    let (mut dx, mut dy) = (scale * v[0], scale * v[1]);
                    let len = dx.hypot(dy);
                    if len > 1.2 * cell {
                        dx *= 1.2 * cell / len;
                        dy *= 1.2 * cell / len;
                    }
                    [p[0] + dx, p[1] + dy]
                })
                .collect()
        };
        let arrows = ScoreArrows {
            origins: pts.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
            learned: learned.as_ref().map(tips),
            truth: truth.as_ref().map(tips),
        };
        self.score_cache = Some((key, arrows));
    }

    fn score_plot_ui(&mut self, ui: &mut egui::Ui, h: f32, learned: bool) {
        let t = self.t.max(1);
        let arrows = self
            .score_cache
            .as_ref()
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let tips = if learned {
            arrows.learned
        } else {
            arrows.truth
        };
        let title = if learned {
            let stale = if self.learned_stale {
                ", older data"
            } else {
                ""
            };
            match &self.learned {
                Some(_) => format!(
                    "Learned score −ε̂/√(1−ᾱ_t), t = {t} (step {}{stale})",
                    self.learned_step
                ),
                None => "Learned score: train the MLP".to_owned(),
            }
        } else if self.dataset.mixture().is_some() {
            format!("True score of the noised mixture, t = {t}")
        } else {
            "True score: closed form only for mixtures".to_owned()
        };
        ui.add(egui::Label::new(title).truncate());
        let id = if learned {
            "toy_score_learned"
        } else {
            "toy_score_true"
        };
        let colour = if learned {
            Color32::from_rgb(0, 158, 115)
        } else {
            Color32::from_rgb(204, 121, 167)
        };
        Self::square_plot(id, h).show(ui, |p| {
            p.points(self.data_points());
            if let Some(tips) = tips {
                p.arrows(
                    Arrows::new(
                        if learned { "learned" } else { "true" },
                        PlotPoints::from(arrows.origins),
                        PlotPoints::from(tips),
                    )
                    .color(colour)
                    .tip_length(4.0),
                );
            }
        });
    }

    fn curves_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let half = (h - 24.0) / 2.0;
        ui.label("Training loss and energy distance");
        let empty = self.losses.is_empty();
        let hint = |p: &mut egui_plot::PlotUi<'_>| {
            p.text(egui_plot::Text::new(
                "",
                PlotPoint::new(0.5, 0.5),
                "Train the MLP to fill this plot",
            ));
        };
        crate::app::plot("toy_loss")
            .height(half)
            .legend(Legend::default())
            .y_axis_label("loss")
            .show(ui, |p| {
                if empty {
                    hint(p);
                }
                p.line(
                    Line::new("loss", PlotPoints::Borrowed(&self.losses))
                        .color(Color32::from_rgb(0, 114, 178)),
                );
            });
        // The untrained model's D² is ~100× the trained one's, so the axis is logarithmic.
        let log_energy: Vec<[f64; 2]> = self
            .energy
            .iter()
            .map(|p| [p.x, p.y.abs().max(1e-5).log10()])
            .collect();
        crate::app::plot("toy_energy")
            .height(half)
            .legend(Legend::default())
            .x_axis_label("step")
            .y_axis_label("log₁₀ D²")
            .show(ui, |p| {
                if empty {
                    hint(p);
                }
                p.line(
                    Line::new("energy distance", PlotPoints::from(log_energy.clone()))
                        .color(Color32::from_rgb(213, 94, 0)),
                );
                p.points(
                    Points::new("energy distance", PlotPoints::from(log_energy))
                        .color(Color32::from_rgb(213, 94, 0))
                        .radius(2.5),
                );
            });
    }

    fn fig3_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.horizontal(|ui| {
            ui.label(
                "Seed 001 Fig. 3: plain Langevin keeps the split of its uniform start; \
                 annealed Langevin (σ from 1 down to 0.01) recovers the weights.",
            );
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.fig3_job.is_none(), egui::Button::new("Run Fig. 3"))
                .clicked()
            {
                self.start_fig3(ctx);
            }
            if self.fig3_job.is_some() {
                ui.spinner();
            }
            if !self.fig3_label.is_empty() {
                ui.label(format!("({})", self.fig3_label));
            }
        });
        // Square plots: as tall as a third of the width allows.
        let h = (ui.available_height() - 30.0)
            .min(ui.available_width() / 3.0 - 16.0)
            .max(150.0);
        let titles = ["Data", "Langevin", "Annealed Langevin"];
        crate::app::columns(ui, 3, |cols| {
            for (k, col) in cols.iter_mut().enumerate() {
                let weights = self.fig3_weights(k);
                col.label(format!("{}{weights}", titles[k]));
                let points = match k {
                    0 => Some(self.data.clone()),
                    _ => self.fig3.as_ref().map(|f| f[k - 1].clone()),
                };
                Self::square_plot(&format!("toy_fig3_{k}"), h).show(col, |p| {
                    if let Some(points) = points {
                        p.points(
                            Points::new(titles[k], pairs(&points))
                                .color(Color32::from_rgb(0, 114, 178))
                                .radius(1.5),
                        );
                    }
                });
            }
        });
    }

    /// " · weights 0.20 / 0.80" for mixtures, from the nearest-component split.
    fn fig3_weights(&self, k: usize) -> String {
        let Some(m) = self.dataset.mixture() else {
            return String::new();
        };
        let points = match k {
            0 => Some(&self.data),
            _ => self.fig3.as_ref().map(|f| &f[k - 1]),
        };
        let Some(points) = points else {
            return String::new();
        };
        match crate::diffusion::component_summary(points, m) {
            Ok(stats) => {
                let w: Vec<String> = stats.iter().map(|s| format!("{:.2}", s.weight)).collect();
                format!(" · weights {}", w.join(" / "))
            }
            Err(_) => String::new(),
        }
    }
}

/// Runs plain and annealed Langevin (seed 001 Fig. 3) from the same uniform start.
fn fig3_clouds(
    model: &mut dyn EpsModel,
    table: &ScheduleTable,
    seed: u64,
    keep_going: &dyn Fn() -> bool,
) -> Result<[Vec<f64>; 2], String> {
    let mut run = |s: ToySampler| {
        sample_frames(&s, model, table, PARTICLES, seed, 2, keep_going)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                f.last()
                    .map(|l| l.points.clone())
                    .ok_or_else(|| "no points".into())
            })
    };
    let plain = run(ToySampler::default_langevin())?;
    let annealed = run(ToySampler::default_annealed())?;
    Ok([plain, annealed])
}

fn sampler_label(i: usize) -> &'static str {
    match ToySampler::NAMES.get(i).copied() {
        Some("ddpm") => "DDPM",
        Some("ddim") => "DDIM (η)",
        Some("langevin") => "Langevin",
        _ => "Annealed Langevin",
    }
}

fn pairs(flat: &[f64]) -> PlotPoints<'static> {
    PlotPoints::from(
        flat.chunks_exact(2)
            .map(|p| [p[0], p[1]])
            .collect::<Vec<[f64; 2]>>(),
    )
}

/// A dark-to-bright colour ramp (black, purple, orange, yellow) of √(p/max p), row 0 at the top.
fn density_image(values: &[f64], n: usize) -> ColorImage {
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-300);
    let stops: [[f64; 3]; 5] = [
        [10.0, 8.0, 30.0],
        [80.0, 20.0, 110.0],
        [180.0, 50.0, 100.0],
        [245.0, 130.0, 40.0],
        [250.0, 240.0, 150.0],
    ];
    let mut pixels = Vec::with_capacity(n * n);
    for row in (0..n).rev() {
        for col in 0..n {
            let v = (values[row * n + col] / max).clamp(0.0, 1.0).sqrt();
            let x = v * (stops.len() - 1) as f64;
            let i = (x.floor() as usize).min(stops.len() - 2);
            let f = x - i as f64;
            let c = |k: usize| (stops[i][k] + f * (stops[i + 1][k] - stops[i][k])) as u8;
            pixels.push(Color32::from_rgb(c(0), c(1), c(2)));
        }
    }
    ColorImage {
        size: [n, n],
        pixels,
        source_size: egui::vec2(n as f32, n as f32),
    }
}

/// The GMM editor: one row per component (mean x, mean y, weight, σ, remove) and an add button.
/// Returns the edited mixture, or why the edit was refused.
fn mixture_editor_ui(ui: &mut egui::Ui, m: &Mixture2d) -> Option<Result<Mixture2d, String>> {
    let mut result = None;
    let field = |ui: &mut egui::Ui, name: &str, v: &mut f64, speed: f64, lo: f64, hi: f64| {
        let l = ui.label(name);
        ui.add(egui::DragValue::new(v).speed(speed).range(lo..=hi))
            .labelled_by(l.id)
            .changed()
    };
    for (i, c) in m.components().iter().enumerate() {
        let mut c2 = c.clone();
        let mut changed = false;
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = 4.0;
            changed |= field(ui, "x", &mut c2.mean[0], 0.02, -2.0, 2.0);
            changed |= field(ui, "y", &mut c2.mean[1], 0.02, -2.0, 2.0);
            changed |= field(ui, "w", &mut c2.weight, 0.01, 0.01, 1.0);
            let mut s = c2.std[0];
            if field(ui, "σ", &mut s, 0.005, 0.02, 1.0) {
                c2.std = vec![s, s];
                changed = true;
            }
            if ui.small_button("Remove").clicked() {
                let mut m2 = m.clone();
                result = Some(m2.remove(i).map(|()| m2).map_err(|e| e.to_string()));
            }
        });
        if changed {
            let mut m2 = m.clone();
            result = Some(
                m2.set_component(i, c2)
                    .map(|()| m2)
                    .map_err(|e| e.to_string()),
            );
        }
    }
    if ui.button("Add component").clicked() {
        let mut m2 = m.clone();
        let k = m.components().len() as f64;
        let c = Component {
            weight: 1.0 / (k + 1.0),
            mean: vec![1.2 * (k * 2.4).cos(), 1.2 * (k * 2.4).sin()],
            std: vec![0.15, 0.15],
        };
        result = Some(m2.push(c).map(|()| m2).map_err(|e| e.to_string()));
    }
    result
}
