//! The training view: start, pause and stop a run in the background, and watch the loss curves,
//! the loss by timestep, the throughput and the preview samples while it trains.

use super::command::{Commands, HasOutbox, Outbox};
use crate::app::widgets::PlotMenu;
use crate::config::{RunConfig, SHIPPED_PRESETS};
use crate::store::ValPoint;
use crate::train::{PreviewGrid, StartOptions, TrainCommand, TrainEvent, TrainHandle};
use egui::{Color32, RichText};
use egui_plot::{Heatmap, Legend, PlotPoint, PlotPoints, Polygon};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a run stands, for the status line and the buttons.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    /// No run yet.
    Idle,
    /// The worker is loading data and building the model.
    Starting,
    /// Training.
    Training,
    /// Paused by the user.
    Paused,
    /// Stop requested; waiting for the final checkpoint.
    Stopping,
    /// The run ended normally.
    Finished,
    /// The run failed (message shown separately).
    Failed,
}

impl RunStatus {
    /// Text for the status line.
    pub fn label(&self) -> &'static str {
        match self {
            RunStatus::Idle => "Idle",
            RunStatus::Starting => "Starting…",
            RunStatus::Training => "Training",
            RunStatus::Paused => "Paused",
            RunStatus::Stopping => "Stopping…",
            RunStatus::Finished => "Stopped",
            RunStatus::Failed => "Failed",
        }
    }
}

/// The training view's state.
pub struct TrainingView {
    /// What leaves the view (the training worker's start), run by the app.
    out: Outbox<Self>,
    /// The configuration the next run starts with.
    pub config: RunConfig,
    /// The preset the config came from.
    pub preset_name: String,
    /// Where runs are written.
    pub runs_dir: PathBuf,
    /// The run's state.
    pub status: RunStatus,
    handle: Option<TrainHandle>,
    /// Device label and reason, once known.
    pub device: Option<(String, String)>,
    /// The last error message.
    pub error: Option<String>,
    /// A note on how the run ended (early stopping).
    pub note: Option<String>,
    /// The last checkpoint written.
    pub last_checkpoint: Option<PathBuf>,
    /// The folder the run started here writes (None until Start: the curves then show a
    /// checkpoint's history, e.g. the bundled model's).
    pub run_dir: Option<PathBuf>,
    /// The checkpoint the current run resumed from, if any.
    pub started_from: Option<PathBuf>,
    /// A run was just started (the app then points the player at it; taken once): true for
    /// a new run, false when one continues from its checkpoint.
    pub started_new: Option<bool>,
    /// Steps done and the run's total.
    pub step: (usize, usize),
    losses: Vec<[f64; 2]>,
    smoothed: Vec<[f64; 2]>,
    val: Vec<ValPoint>,
    by_t: Vec<(usize, Vec<f32>)>,
    throughput: Vec<[f64; 2]>,
    /// The live quality curve (FID of EMA samples against step).
    pub quality: Vec<crate::train::QualityPoint>,
    eta_secs: f64,
    lr: f64,
    /// Draw the loss on a log axis.
    pub log_loss: bool,
    /// EMA smoothing factor of the loss curve.
    pub smoothing: f64,
    preview: Option<PreviewGrid>,
    /// The latest weights of the running model, for the player to pick up.
    live_weights: Option<crate::sampling::job::LoadedModel>,
    preview_tex: Option<(egui::TextureHandle, egui::TextureHandle)>,
    params: usize,
}

/// Below this width (points) the training plots stack in one column.
const NARROW_PLOTS: f32 = 560.0;

impl HasOutbox for TrainingView {
    fn outbox(&mut self) -> &mut Outbox<Self> {
        &mut self.out
    }
}

impl Default for TrainingView {
    /// The first shipped preset, showing the bundled model's training history if it is found.
    fn default() -> Self {
        let (name, text) = SHIPPED_PRESETS[0];
        let config = RunConfig::from_toml(text).unwrap_or_default();
        let mut view = Self::new(config, name);
        if let Some(dir) = crate::store::bundled_model_dir() {
            view.show_history(&dir);
        }
        view
    }
}

impl TrainingView {
    /// A view that will start `config`.
    pub fn new(config: RunConfig, preset_name: &str) -> Self {
        let lr = config.train.lr;
        Self {
            out: Outbox::default(),
            config,
            preset_name: preset_name.to_owned(),
            runs_dir: crate::store::default_runs_dir(),
            status: RunStatus::Idle,
            handle: None,
            device: None,
            error: None,
            note: None,
            last_checkpoint: None,
            run_dir: None,
            started_from: None,
            started_new: None,
            step: (0, 0),
            losses: Vec::new(),
            smoothed: Vec::new(),
            val: Vec::new(),
            by_t: Vec::new(),
            throughput: Vec::new(),
            quality: Vec::new(),
            eta_secs: f64::NAN,
            lr,
            log_loss: true,
            smoothing: 0.95,
            preview: None,
            live_weights: None,
            preview_tex: None,
            params: 0,
        }
    }

    /// The newest weights of the running model, once (the player re-samples from them).
    pub fn take_live_weights(&mut self) -> Option<crate::sampling::job::LoadedModel> {
        self.live_weights.take()
    }

    /// Shows the loss history stored in a checkpoint (no run is started).
    pub fn show_history(&mut self, dir: &Path) {
        let Ok((config, info)) = crate::store::read_info(dir) else {
            return;
        };
        self.losses = info
            .history
            .train
            .iter()
            .map(|&(s, l)| [s as f64, f64::from(l)])
            .collect();
        self.smoothed.clear();
        for p in &self.losses {
            let prev = self.smoothed.last().map_or(p[1], |q| q[1]);
            self.smoothed
                .push([p[0], self.smoothing * prev + (1.0 - self.smoothing) * p[1]]);
        }
        self.val = info.history.val.clone();
        self.by_t = info.history.by_t.clone();
        self.step = (info.step, config.train.steps.max(info.step));
        self.last_checkpoint = Some(dir.to_path_buf());
        self.device = Some((info.device.clone(), format!("history of '{}'", config.name)));
    }

    /// Whether a worker is running.
    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    /// The number of loss points received.
    pub fn loss_points(&self) -> usize {
        self.losses.len()
    }

    /// Starts a run (or resumes `resume` on `device`), with `wake` called after every event.
    pub fn start(
        &mut self,
        resume: Option<PathBuf>,
        device: Option<crate::model::DeviceChoice>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) {
        self.shutdown();
        if resume.is_none() {
            self.losses.clear();
            self.smoothed.clear();
            self.val.clear();
            self.by_t.clear();
            self.throughput.clear();
            self.quality.clear();
            self.preview = None;
            self.preview_tex = None;
        }
        let out_dir = resume
            .clone()
            .unwrap_or_else(|| crate::store::new_run_dir(&self.runs_dir, &self.config.name));
        self.run_dir = Some(out_dir.clone());
        self.started_from = resume.clone();
        let options = StartOptions {
            config: self.config.clone(),
            resume,
            out_dir,
            device,
            total_steps: None,
        };
        let (h, launch) = TrainHandle::prepare(options, wake);
        self.out.start(launch);
        self.handle = Some(h);
        self.started_new = Some(self.started_from.is_none());
        self.status = RunStatus::Starting;
        self.error = None;
        self.note = None;
    }

    /// Sends a command to the worker, if one runs.
    pub fn command(&mut self, cmd: TrainCommand) {
        if let Some(h) = &self.handle
            && h.send(cmd.clone())
            && cmd == TrainCommand::Stop
        {
            self.status = RunStatus::Stopping;
        }
    }

    /// Stops the worker as [`shutdown`](Self::shutdown) does and, if a run was going, says
    /// where its checkpoint is and at which step (read back from the saved `state.json`).
    pub fn shutdown_and_report(&mut self) -> Option<String> {
        let was_running = self.is_running();
        self.shutdown();
        let dir = self.run_dir.as_ref().filter(|_| was_running)?;
        let text = std::fs::read_to_string(dir.join("state.json")).ok();
        let step = text
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["step"].as_u64());
        Some(match step {
            Some(n) => format!(
                "training stopped at step {n}; checkpoint saved in {}",
                dir.display()
            ),
            None => format!(
                "training stopped before its first checkpoint; nothing saved in {}",
                dir.display()
            ),
        })
    }

    /// Stops the worker cleanly (saves a checkpoint) and waits for it.
    pub fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            drop(h);
            if matches!(
                self.status,
                RunStatus::Training | RunStatus::Paused | RunStatus::Starting | RunStatus::Stopping
            ) {
                self.status = RunStatus::Finished;
            }
        }
    }

    /// Drains the worker's events without blocking. Call once per frame.
    pub fn logic(&mut self, ctx: &egui::Context) {
        let Some(h) = &self.handle else { return };
        let mut events = Vec::new();
        while events.len() < 4096 {
            match h.try_recv() {
                Some(ev) => events.push(ev),
                None => break,
            }
        }
        let finished = h.is_finished();
        for ev in events {
            self.apply(ev, ctx);
        }
        if finished && self.handle.as_ref().is_some_and(|h| h.try_recv().is_none()) {
            self.handle = None;
            if matches!(
                self.status,
                RunStatus::Stopping | RunStatus::Training | RunStatus::Starting | RunStatus::Paused
            ) {
                self.status = RunStatus::Finished;
            }
        }
    }

    fn apply(&mut self, ev: TrainEvent, ctx: &egui::Context) {
        match ev {
            TrainEvent::Started {
                device,
                reason,
                params,
                step,
                total,
                warnings,
            } => {
                if !warnings.is_empty() {
                    self.note = Some(format!("Data: {}", warnings.join("; ")));
                }
                self.device = Some((device, reason));
                self.params = params;
                self.step = (step, total);
                self.status = RunStatus::Training;
            }
            TrainEvent::Progress {
                step,
                total,
                losses,
                lr,
                images_per_sec,
                eta_secs,
                ..
            } => {
                self.step = (step, total);
                self.lr = lr;
                self.eta_secs = eta_secs;
                for (s, l) in losses {
                    let l = f64::from(l);
                    self.losses.push([s as f64, l]);
                    let prev = self.smoothed.last().map_or(l, |p| p[1]);
                    self.smoothed
                        .push([s as f64, self.smoothing * prev + (1.0 - self.smoothing) * l]);
                }
                if images_per_sec.is_finite() && images_per_sec > 0.0 {
                    self.throughput.push([step as f64, images_per_sec]);
                }
            }
            TrainEvent::Validation(v) => self.val.push(v),
            TrainEvent::Quality(q) => self.quality.push(q),
            TrainEvent::LossByT { step, row } => self.by_t.push((step, row)),
            TrainEvent::Weights(model) => self.live_weights = Some(*model),
            TrainEvent::Preview(grid) => {
                let to_tex = |name: &str, px: &[u8]| {
                    let img = grid_image(px, grid.n, grid.shape);
                    super::widgets::load_picture(ctx, name, img, egui::TextureOptions::NEAREST)
                };
                self.preview_tex = Some((
                    to_tex("preview_ema", &grid.ema),
                    to_tex("preview_raw", &grid.raw),
                ));
                self.preview = Some(grid);
            }
            TrainEvent::Checkpointed { path, .. } => self.last_checkpoint = Some(path),
            TrainEvent::StoppedEarly(why) => self.note = Some(why),
            TrainEvent::Paused => self.status = RunStatus::Paused,
            TrainEvent::Resumed => self.status = RunStatus::Training,
            TrainEvent::Finished { checkpoint, .. } => {
                self.status = RunStatus::Finished;
                if checkpoint.is_some() {
                    self.last_checkpoint = checkpoint;
                }
            }
            TrainEvent::Failed {
                message,
                checkpoint,
            } => {
                self.status = RunStatus::Failed;
                self.error = Some(message);
                if checkpoint.is_some() {
                    self.last_checkpoint = checkpoint;
                }
            }
        }
    }

    /// One line for the status bar.
    pub fn status_line(&self) -> String {
        let mut s = format!("Training: {}", self.status.label());
        if self.step.1 > 0 {
            s.push_str(&format!(" · step {}/{}", self.step.0, self.step.1));
        }
        if let Some((dev, reason)) = &self.device {
            s.push_str(&format!(" · {dev} ({reason})"));
        }
        s
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Commands<Self> {
        let wake = {
            let ctx = ui.ctx().clone();
            Arc::new(move || ctx.request_repaint()) as Arc<dyn Fn() + Send + Sync>
        };
        egui::Panel::left("training_side")
            .frame(super::panel_frame(ui))
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui, &wake));
            });
        egui::CentralPanel::default()
            .frame(super::central_frame(ui))
            .show(ui, |ui| self.plots_ui(ui));
        self.out.take()
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, wake: &Arc<dyn Fn() + Send + Sync>) {
        ui.heading("Train a UNet");
        let running = self.is_running();
        ui.add_enabled_ui(!running, |ui| {
            let label = ui.label("Preset");
            egui::ComboBox::from_id_salt("preset")
                .selected_text(&self.preset_name)
                .show_ui(ui, |ui| {
                    for (name, text) in SHIPPED_PRESETS {
                        if ui
                            .selectable_label(self.preset_name == *name, *name)
                            .clicked()
                            && let Ok(cfg) = RunConfig::from_toml(text)
                        {
                            self.config = cfg;
                            self.preset_name = (*name).to_owned();
                            self.lr = self.config.train.lr;
                        }
                    }
                })
                .response
                .labelled_by(label.id);
            ui.horizontal(|ui| {
                let l = ui.label("Device");
                egui::ComboBox::from_id_salt("device")
                    .selected_text(format!("{:?}", self.config.train.device).to_lowercase())
                    .show_ui(ui, |ui| {
                        use crate::model::DeviceChoice::*;
                        for d in [Auto, Gpu, Cpu] {
                            ui.selectable_value(
                                &mut self.config.train.device,
                                d,
                                format!("{d:?}").to_lowercase(),
                            );
                        }
                    })
                    .response
                    .labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                let l = ui.label("Engine");
                egui::ComboBox::from_id_salt("engine")
                    .selected_text(format!("{:?}", self.config.train.engine).to_lowercase())
                    .show_ui(ui, |ui| {
                        use crate::model::TrainEngine::*;
                        for (e, hint) in [
                            (Auto, "native on the CPU, burn on a GPU"),
                            (Native, "the app's own CPU training code (fastest on a CPU)"),
                            (Burn, "burn's autodiff on the picked device"),
                        ] {
                            ui.selectable_value(
                                &mut self.config.train.engine,
                                e,
                                format!("{e:?}").to_lowercase(),
                            )
                            .on_hover_text(hint);
                        }
                    })
                    .response
                    .labelled_by(l.id)
                    .on_hover_text("Which code computes the gradients");
            });
            ui.horizontal(|ui| {
                let l = ui.label("Loss");
                let train = &mut self.config.train;
                egui::ComboBox::from_id_salt("loss")
                    .selected_text(train.loss.label())
                    .show_ui(ui, |ui| {
                        use crate::diffusion::LossKind;
                        for (k, hint) in [
                            (
                                LossKind::Simple,
                                "|ε − ε̂|² (Ho et al.); the sampler's variance stays fixed",
                            ),
                            (
                                LossKind::Hybrid,
                                "Improved DDPM: L_simple + 0.001·L_vlb. The UNet also outputs v \
                                 and learns Σ_θ = exp(v·log β + (1 − v)·log β̃) from the bound \
                                 (the mean is held fixed in it); sample with 'strided (learned Σ)'",
                            ),
                            (
                                LossKind::Vlb,
                                "The variational bound alone (mean and Σ_θ learn from it); best \
                                 with importance-sampled t",
                            ),
                        ] {
                            ui.selectable_value(&mut train.loss, k, k.label())
                                .on_hover_text(hint);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                use crate::diffusion::TSampling;
                let mut importance = train.t_sampling == TSampling::Importance;
                let can = train.loss.learns_sigma();
                if ui
                    .add_enabled(
                        can,
                        egui::Checkbox::new(&mut importance, "importance-sampled t"),
                    )
                    .on_hover_text(
                        "Draw t with p_t ∝ √E[L_t²] over the last 10 values of each t (seed 001 \
                         eq. 132), weighting each loss by 1/(T·p_t); uniform until every t has \
                         its history",
                    )
                    .on_disabled_hover_text("Needs the hybrid or vlb loss")
                    .changed()
                {
                    train.t_sampling = if importance {
                        TSampling::Importance
                    } else {
                        TSampling::Uniform
                    };
                }
                if !can {
                    train.t_sampling = TSampling::Uniform;
                }
            });
            self.objective_ui(ui);
            ui.horizontal(|ui| {
                let l = ui.label("Steps");
                ui.add(
                    egui::DragValue::new(&mut self.config.train.steps)
                        .range(1..=1_000_000)
                        .speed(50.0),
                )
                .labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                let q = &mut self.config.train.quality_every;
                let mut on = *q > 0;
                if ui
                    .checkbox(&mut on, "Measure FID")
                    .on_hover_text(
                        "Samples the EMA weights (256 × DDIM-25) in the background and plots \
                         FID against step beside the loss. On a CPU the sampling shares the \
                         cores with training: BENCHMARKS.md measures what it costs",
                    )
                    .changed()
                {
                    *q = if on { 1000 } else { 0 };
                }
                let l = ui.label("every");
                ui.add_enabled(on, egui::DragValue::new(q).range(0..=1_000_000).speed(50.0))
                    .labelled_by(l.id);
                ui.label("steps");
            });
            ui.horizontal(|ui| {
                let p = &mut self.config.train.patience;
                let mut on = *p > 0;
                if ui
                    .checkbox(&mut on, "Stop early")
                    .on_hover_text(
                        "Stop when the validation loss has not improved for this many \
                         validations in a row (seed 000's early stopping, read as erratum \
                         E000-4 says); the run then ends with a checkpoint of its last step",
                    )
                    .changed()
                {
                    *p = if on { 5 } else { 0 };
                }
                let l = ui.label("patience");
                ui.add_enabled(on, egui::DragValue::new(p).range(0..=1000))
                    .labelled_by(l.id);
                ui.label("validations");
            });
        });
        ui.label(format!(
            "Data: {} · schedule: {}",
            self.config.data.label(),
            self.config.schedule.label()
        ));
        ui.separator();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("Start"))
                .clicked()
            {
                self.start(None, None, wake.clone());
            }
            let (pause_label, cmd) = if self.status == RunStatus::Paused {
                ("Resume", TrainCommand::Resume)
            } else {
                ("Pause", TrainCommand::Pause)
            };
            if ui
                .add_enabled(running, egui::Button::new(pause_label))
                .clicked()
            {
                self.command(cmd);
            }
            // A stopped run continues from its checkpoint, its live chain and strip kept.
            let stopped = self
                .run_dir
                .clone()
                .filter(|d| !running && d.join("state.json").exists());
            if let Some(dir) = stopped
                && ui
                    .button("Continue")
                    .on_hover_text(format!(
                        "Resume the stopped run from its checkpoint in {}",
                        dir.display()
                    ))
                    .clicked()
            {
                self.start(Some(dir), None, wake.clone());
            }
            if ui.add_enabled(running, egui::Button::new("Stop")).clicked() {
                self.command(TrainCommand::Stop);
            }
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(running, egui::Button::new("Sample now"))
                .clicked()
            {
                self.command(TrainCommand::SampleNow);
            }
            if ui
                .add_enabled(running, egui::Button::new("Save checkpoint"))
                .clicked()
            {
                self.command(TrainCommand::SaveCheckpoint);
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Learning rate");
            let r = ui
                .add(
                    egui::Slider::new(&mut self.lr, 1e-6..=1e-1)
                        .logarithmic(true)
                        .custom_formatter(|v, _| format!("{v:.1e}")),
                )
                .labelled_by(l.id);
            if r.changed() {
                self.command(TrainCommand::SetLr(self.lr));
            }
        });
        ui.separator();
        ui.label(RichText::new(format!("Status: {}", self.status.label())).strong());
        if self.step.1 > 0 {
            ui.add(
                egui::ProgressBar::new(self.step.0 as f32 / self.step.1 as f32)
                    .text(format!("step {} / {}", self.step.0, self.step.1)),
            );
        }
        if let Some(last) = self.throughput.last() {
            let eta = if self.eta_secs.is_finite() {
                format!("{:.0} s", self.eta_secs)
            } else {
                "…".into()
            };
            ui.label(format!("{:.0} images/s · ETA {eta}", last[1]));
        }
        if self.params > 0 {
            ui.label(format!("{} parameters", self.params));
        }
        if let Some((dev, reason)) = &self.device {
            ui.label(format!("Device: {dev}"));
            ui.label(RichText::new(reason).small());
        }
        // Honest labels (#19): the folder a new run writes, what it resumed from, or, before
        // any run, whose history the curves show.
        match (&self.run_dir, &self.last_checkpoint) {
            (Some(run), _) => {
                ui.label(format!("Run folder: {}", run.display()))
                    .on_hover_text("This run's checkpoints, losses and previews are saved here");
                if let Some(from) = &self.started_from {
                    ui.label(format!("Resumed from: {}", from.display()));
                }
            }
            (None, Some(p)) => {
                ui.label(format!("Showing the history of: {}", p.display()))
                    .on_hover_text(
                        "Start trains a new run in a new folder under the runs folder; this \
                         checkpoint is never written",
                    );
            }
            (None, None) => {}
        }
        if let Some(n) = &self.note {
            ui.label(n);
        }
        if let Some(e) = self.error.clone() {
            ui.colored_label(ui.visuals().error_fg_color, e);
            if let Some(ck) = self.last_checkpoint.clone()
                && !running
                && ui
                    .button("Resume on the CPU from the last checkpoint")
                    .clicked()
            {
                self.start(
                    Some(ck),
                    Some(crate::model::DeviceChoice::Cpu),
                    wake.clone(),
                );
            }
        }
        ui.separator();
        ui.checkbox(&mut self.log_loss, "log axis for the loss");
        ui.horizontal(|ui| {
            let l = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.999))
                .labelled_by(l.id);
        });
    }

    fn plots_ui(&mut self, ui: &mut egui::Ui) {
        // Too narrow for plots side by side (the presenter's training step at 1280×720, where
        // the reverse chain takes most of the width): one column, scrolled, so that no label
        // wraps letter by letter.
        if ui.available_width() < NARROW_PLOTS {
            let h = ui.available_height();
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| self.plots_in(ui, h, 1));
        } else {
            let h = ui.available_height();
            self.plots_in(ui, h, 3);
        }
    }

    /// The plots in up to `max_cols` columns (1: all stacked), sized from the height `h`.
    fn plots_in(&mut self, ui: &mut egui::Ui, h: f32, max_cols: usize) {
        let log = self.log_loss;
        let f = move |v: f64| if log { v.max(1e-12).log10() } else { v };
        // Column k of n drawn into column min(k, n − 1): with one column everything stacks.
        let at = |k: usize, n: usize| k.min(n.min(max_cols) - 1);
        let n_top = 2.min(max_cols);
        crate::app::columns(ui, n_top, |cols| {
            crate::app::plot("loss")
                .height(h * 0.45)
                .legend(Legend::default())
                .x_axis_label("step")
                .y_axis_label(if log { "loss (log₁₀)" } else { "loss" })
                .show_menu("loss", &mut cols[at(0, 2)], |p| {
                    let raw: Vec<[f64; 2]> = self.losses.iter().map(|q| [q[0], f(q[1])]).collect();
                    let sm: Vec<[f64; 2]> = self.smoothed.iter().map(|q| [q[0], f(q[1])]).collect();
                    p.line(
                        crate::app::widgets::line("train loss", PlotPoints::from(raw))
                            .color(Color32::from_gray(110))
                            .width(1.0),
                    );
                    p.line(
                        crate::app::widgets::line("train (smoothed)", PlotPoints::from(sm))
                            .color(Color32::from_rgb(0, 114, 178))
                            .width(2.0),
                    );
                    if !self.val.is_empty() {
                        let mut band: Vec<[f64; 2]> = self
                            .val
                            .iter()
                            .map(|v| [v.step as f64, f(f64::from(v.max))])
                            .collect();
                        band.extend(
                            self.val
                                .iter()
                                .rev()
                                .map(|v| [v.step as f64, f(f64::from(v.min))]),
                        );
                        p.polygon(
                            Polygon::new("validation min/max", PlotPoints::from(band))
                                .fill_color(Color32::from_rgba_unmultiplied(213, 94, 0, 50)),
                        );
                        let mean: Vec<[f64; 2]> = self
                            .val
                            .iter()
                            .map(|v| [v.step as f64, f(f64::from(v.mean))])
                            .collect();
                        p.line(
                            crate::app::widgets::line("validation mean", PlotPoints::from(mean))
                                .color(Color32::from_rgb(213, 94, 0))
                                .width(2.0),
                        );
                    }
                });
            let measuring = self.config.train.quality_every > 0 || !self.quality.is_empty();
            if measuring {
                crate::app::plot("quality")
                    .height(h * 0.3)
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .y_axis_label("FID (classifier features)")
                    .show_menu("quality", &mut cols[at(1, 2)], |p| {
                        let pts = |f: fn(&crate::train::QualityPoint) -> f64| {
                            PlotPoints::from(
                                self.quality
                                    .iter()
                                    .map(|q| [q.step as f64, f(q)])
                                    .collect::<Vec<_>>(),
                            )
                        };
                        p.line(
                            crate::app::widgets::line("FID of EMA samples", pts(|q| q.fid))
                                .color(Color32::from_rgb(230, 159, 0))
                                .width(2.0),
                        );
                        p.line(
                            crate::app::widgets::line("real images (floor)", pts(|q| q.fid_floor))
                                .color(Color32::from_gray(140))
                                .style(egui_plot::LineStyle::dashed_loose()),
                        );
                    });
                if let Some(q) = self.quality.last() {
                    cols[at(1, 2)].label(
                        RichText::new(format!(
                            "step {}: FID {:.1} (real {:.1}) · IS {:.2} · precision {:.2} · \
                             recall {:.2} · {} samples in {:.0} s · {}",
                            q.step,
                            q.fid,
                            q.fid_floor,
                            q.is,
                            q.precision,
                            q.recall,
                            q.n,
                            q.secs,
                            crate::metrics::feature_note(&self.config.data.label())
                        ))
                        .small(),
                    );
                }
            }
            if self.throughput.is_empty() {
                // A run opened from its checkpoint (or not started) has no recorded speed.
                cols[at(1, 2)].label(
                    RichText::new(
                        "images/s: not recorded for this run (the speed is measured while it \
                         trains)",
                    )
                    .weak(),
                );
            } else {
                crate::app::plot("throughput")
                    .height(if measuring { h * 0.12 } else { h * 0.45 })
                    .x_axis_label("step")
                    .y_axis_label("images/s")
                    .include_y(0.0)
                    .show_menu("throughput", &mut cols[at(1, 2)], |p| {
                        p.line(
                            crate::app::widgets::line(
                                "throughput",
                                PlotPoints::from(self.throughput.clone()),
                            )
                            .color(Color32::from_rgb(0, 158, 115)),
                        );
                    });
            }
        });
        crate::app::columns(ui, 3.min(max_cols), |cols| {
            cols[at(0, 3)].label("Loss by timestep (hover a cell for its value)");
            let t_max = self.config.schedule.steps;
            heatmap_ui(&mut cols[at(0, 3)], &self.by_t, t_max, h * 0.4);
            crate::app::plot("loss_vs_t")
                .height(h * 0.4)
                .x_axis_label("t / T")
                .y_axis_label("loss")
                .show_menu("loss_vs_t", &mut cols[at(1, 3)], |p| {
                    if let Some((_, row)) = self.by_t.last() {
                        let n = row.len() as f64;
                        let pts: Vec<[f64; 2]> = row
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| v.is_finite())
                            .map(|(i, v)| [(i as f64 + 0.5) / n, f64::from(*v)])
                            .collect();
                        p.line(
                            crate::app::widgets::line("current loss vs t", PlotPoints::from(pts))
                                .color(Color32::from_rgb(204, 121, 167))
                                .width(2.0),
                        );
                    }
                });
            let ui = &mut cols[at(2, 3)];
            match (&self.preview, &self.preview_tex) {
                (Some(g), Some((ema, raw))) => {
                    ui.label(format!("Preview at step {} (DDIM, fixed seeds)", g.step));
                    let side = (ui.available_width() / 2.0 - 8.0).max(60.0);
                    ui.horizontal(|ui| {
                        ui.vertical(|ui| {
                            ui.label("EMA");
                            super::widgets::picture(
                                ui,
                                ema.id(),
                                egui::vec2(side, side),
                                "preview-ema",
                            );
                        });
                        ui.vertical(|ui| {
                            ui.label("raw");
                            super::widgets::picture(
                                ui,
                                raw.id(),
                                egui::vec2(side, side),
                                "preview-raw",
                            );
                        });
                    });
                }
                _ => {
                    ui.label("Preview samples appear here while training");
                }
            }
        });
    }
}

/// The loss-by-timestep heatmap (egui_plot): t on the x axis in buckets, the training step on
/// the y axis (latest at the top), the loss as colour on a log scale with a colour bar under it,
/// and the cell's value under the pointer.
fn heatmap_ui(ui: &mut egui::Ui, rows: &[(usize, Vec<f32>)], t_max: usize, height: f32) {
    let Some(layout) = HeatLayout::new(rows, t_max) else {
        ui.label(RichText::new("Appears once training has recorded the loss by t").weak());
        return;
    };
    let values: Vec<f64> = layout
        .rows
        .iter()
        .flat_map(|(_, r)| r.iter())
        .map(|v| {
            if v.is_finite() && *v > 0.0 {
                f64::from(v.log10())
            } else {
                layout.lo
            }
        })
        .collect();
    let palette: Vec<Color32> = (0..5).map(|i| viridis(i as f32 / 4.0)).collect();
    let map = Heatmap::new(values, layout.cols)
        .name("loss by t")
        .palette(&palette)
        .range(layout.lo, layout.hi)
        .show_labels(false)
        .at(PlotPoint::new(0.0, layout.y0))
        .tile_size(layout.tile_t as f32, layout.tile_step as f32);
    let bar_h = 18.0;
    let plot_h = (height - bar_h - 8.0).max(60.0);
    crate::app::plot("loss_by_t_heatmap")
        .height(plot_h)
        .x_axis_label("t")
        .y_axis_label("step")
        .show_x(false)
        .show_y(false)
        .allow_drag(false)
        .allow_zoom(false)
        .show_menu("loss_by_t_heatmap", ui, |p| {
            for (step, row) in rows {
                let n = row.len() as f64;
                let pts = row
                    .iter()
                    .enumerate()
                    .map(|(i, v)| [(i as f64 + 0.5) / n * t_max as f64, f64::from(*v)])
                    .collect();
                crate::app::widgets::record_series(&format!("loss at step {step}"), pts);
            }
            p.add(map);
            if let Some(at) = p.pointer_coordinate()
                && let Some((t0, t1, step, loss)) = layout.cell_at(at.x, at.y)
            {
                p.text(
                    egui_plot::Text::new(
                        "value",
                        at,
                        RichText::new(format!("t {t0}–{t1} · step {step}\nloss {loss:.4}"))
                            .background_color(Color32::from_black_alpha(200))
                            .color(Color32::WHITE),
                    )
                    .anchor(egui::Align2::LEFT_BOTTOM),
                );
            }
        });
    // The colour bar: the log-scale ramp, labelled with the loss at its ends.
    let lo = 10f64.powf(layout.lo);
    let hi = 10f64.powf(layout.hi);
    ui.horizontal(|ui| {
        let fmt = |v: f64| {
            if v < 0.01 {
                format!("{v:.1e}")
            } else {
                format!("{v:.3}")
            }
        };
        ui.label(RichText::new(format!("loss {}", fmt(lo))).small());
        let w = (ui.available_width() - 110.0).max(40.0);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(w, bar_h), egui::Sense::hover());
        let painter = ui.painter_at(rect);
        let steps = 48;
        for i in 0..steps {
            let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
            let x1 = rect.left() + rect.width() * (i + 1) as f32 / steps as f32;
            painter.rect_filled(
                egui::Rect::from_x_y_ranges(x0..=x1 + 0.5, rect.y_range()),
                0.0,
                viridis(i as f32 / (steps - 1) as f32),
            );
        }
        ui.label(RichText::new(format!("{} (log scale)", fmt(hi))).small());
    });
}

/// Where the heatmap's cells lie in plot coordinates (t across, training step up), and the
/// colour range (log₁₀ of the loss).
pub struct HeatLayout<'a> {
    /// The rows shown (the last 120 recorded), oldest first.
    pub rows: &'a [(usize, Vec<f32>)],
    /// t buckets per row.
    pub cols: usize,
    /// The width of a bucket in t.
    pub tile_t: f64,
    /// The steps between two rows.
    pub tile_step: f64,
    /// The bottom edge of the first row.
    pub y0: f64,
    /// The colour range, log₁₀ of the loss.
    pub lo: f64,
    /// See `lo`.
    pub hi: f64,
}

impl<'a> HeatLayout<'a> {
    /// None without a row.
    pub fn new(all: &'a [(usize, Vec<f32>)], t_max: usize) -> Option<Self> {
        let rows = &all[all.len().saturating_sub(120)..];
        let cols = rows.first()?.1.len();
        if cols == 0 || rows.iter().any(|(_, r)| r.len() != cols) {
            return None;
        }
        let tile_step = match rows {
            [first, .., last] => ((last.0 - first.0) as f64 / (rows.len() - 1) as f64).max(1.0),
            _ => 1.0,
        };
        let (lo, hi) = rows
            .iter()
            .flat_map(|r| r.1.iter())
            .filter(|v| v.is_finite() && **v > 0.0)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                let l = f64::from(v.log10());
                (a.min(l), b.max(l))
            });
        let (lo, hi) = if lo.is_finite() {
            (lo, hi.max(lo + 1e-6))
        } else {
            (-3.0, 0.0)
        };
        Some(Self {
            rows,
            cols,
            tile_t: t_max.max(1) as f64 / cols as f64,
            tile_step,
            y0: rows[0].0 as f64 - tile_step / 2.0,
            lo,
            hi,
        })
    }

    /// The cell under plot point (x, y): its t range, its training step and its loss.
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(usize, usize, usize, f32)> {
        if x < 0.0 || y < self.y0 {
            return None;
        }
        let c = (x / self.tile_t) as usize;
        let r = ((y - self.y0) / self.tile_step) as usize;
        let (step, row) = self.rows.get(r)?;
        let loss = *row.get(c)?;
        let t0 = (c as f64 * self.tile_t).round() as usize;
        let t1 = ((c + 1) as f64 * self.tile_t).round() as usize;
        Some((t0, t1, *step, loss))
    }
}

/// A short viridis-like ramp for u ∈ [0, 1].
fn viridis(u: f32) -> Color32 {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let x = u.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f32;
    let c = |k: usize| (STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f) as u8;
    Color32::from_rgb(c(0), c(1), c(2))
}

/// A grid of u8 images [n, C, H, W] as an egui image.
pub fn grid_image(px: &[u8], n: usize, shape: [usize; 3]) -> egui::ColorImage {
    let img = crate::sampling::export::grid_rgb(px, n, shape);
    egui::ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

impl TrainingView {
    /// The prediction target, the loss weighting and the time input (seed 000's v-objective
    /// on log-SNR in continuous time is one choice of these).
    fn objective_ui(&mut self, ui: &mut egui::Ui) {
        use crate::config::TimeInputKind;
        use crate::diffusion::{LossKind, LossWeighting, Target};
        ui.horizontal(|ui| {
            let train = &mut self.config.train;
            let l = ui.label("Predict");
            egui::ComboBox::from_id_salt("target")
                .selected_text(match train.target {
                    Target::Eps => "ε",
                    Target::V => "v",
                    Target::X0 => "x₀",
                })
                .show_ui(ui, |ui| {
                    for (t, name, hint) in [
                        (Target::Eps, "ε", "the noise (Ho et al.)"),
                        (
                            Target::V,
                            "v",
                            "the velocity √ᾱ·ε − √(1−ᾱ)·x₀ (Salimans & Ho; seed 000)",
                        ),
                        (Target::X0, "x₀", "the clean image"),
                    ] {
                        ui.selectable_value(&mut train.target, t, name)
                            .on_hover_text(hint);
                    }
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("weighting");
            egui::ComboBox::from_id_salt("loss_weighting")
                .selected_text(train.loss_weighting.label())
                .show_ui(ui, |ui| {
                    for w in LossWeighting::ALL {
                        ui.selectable_value(&mut train.loss_weighting, w, w.label());
                    }
                })
                .response
                .labelled_by(l.id)
                .on_hover_text(
                    "How each image's squared error counts across noise levels, as an x₀-space \
                     weight: ε's plain MSE weighs by SNR, v's by SNR + 1 (Salimans & Ho §4)",
                );
        });
        ui.horizontal(|ui| {
            let l = ui.label("Time input");
            let mut log_snr = self.config.time_input == TimeInputKind::LogSnr;
            egui::ComboBox::from_id_salt("time_input")
                .selected_text(if log_snr { "log-SNR λ(t)" } else { "step t" })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut log_snr, false, "step t");
                    ui.selectable_value(&mut log_snr, true, "log-SNR λ(t)")
                        .on_hover_text(
                            "Seed 000: the network reads ln(ᾱ/(1−ᾱ)) instead of the step, so \
                             it does not depend on how t is numbered",
                        );
                })
                .response
                .labelled_by(l.id);
            self.config.time_input = if log_snr {
                TimeInputKind::LogSnr
            } else {
                TimeInputKind::Step
            };
            let train = &mut self.config.train;
            let can = log_snr && train.loss == LossKind::Simple;
            ui.add_enabled(
                can,
                egui::Checkbox::new(&mut train.continuous_time, "continuous t"),
            )
            .on_hover_text("Draw t ∈ (0, T] per image, as seed 000's continuous-time training")
            .on_disabled_hover_text("Needs the log-SNR input and the simple loss");
            if !can {
                train.continuous_time = false;
            }
        });
    }
}
