//! The 2-D lab's background work: training the MLP on the toy worker, sampling the reverse
//! view, Fig. 3 and the exports, and `logic`, which collects their results every frame.

use super::*;
use crate::app::command::{Outbox, PickMode};
use crate::diffusion::energy_distance;
use crate::jobs::JobCtx;
use crate::toy::csv;
use crate::toy::gif::{GifStyle, save_gif};
use crate::toy::sampling::sample_frames;
use crate::train::TrainCommand;
use crate::train::TrainEvent;
use crate::train::toy_worker::ToyEvent;
use std::path::PathBuf;
use std::sync::Arc;

/// A background job running `work` on a thread named `name` (the UI is woken when it ends);
/// its launch is queued in `out` for the app to start.
fn prepare_job<T: Send + 'static>(
    out: &mut Outbox<ToyView>,
    name: &str,
    ctx: &egui::Context,
    work: impl FnOnce(&JobCtx) -> Result<T, String> + Send + 'static,
) -> Job<T> {
    let ctx = ctx.clone();
    let (job, launch) = BgJob::prepare(name, Arc::new(move || ctx.request_repaint()), work);
    out.start(launch);
    job
}

/// The result of the job in `slot` once it has ended, emptying the slot (a panic reads as an
/// error); None while it runs or when there is none.
fn take_result<T: Send + 'static>(slot: &mut Option<Job<T>>) -> Option<Result<T, String>> {
    let result = slot.as_mut()?.take()?;
    *slot = None;
    Some(result.unwrap_or_else(|| Err("the background job crashed".into())))
}

impl ToyView {
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
        let mut model = model;
        let job = prepare_job(&mut self.out, "toy-sampler", ctx, move |job| {
            let frames = sample_frames(
                &sampler,
                model.as_mut(),
                &table,
                PARTICLES,
                seed,
                MAX_FRAMES,
                &|| !job.cancelled(),
            )
            .map_err(|e| e.to_string())?;
            // The energy distance of the result to a fresh draw of the data.
            let fresh = dataset.sample(PARTICLES, &mut Rng::stream(seed, 42));
            let ed = frames
                .last()
                .and_then(|f| energy_distance(&f.points, &fresh, 2).ok());
            Ok((frames, ed))
        });
        self.sample_job = Some(job);
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
        let job = prepare_job(&mut self.out, "toy-fig3", ctx, move |job| {
            fig3_clouds(model.as_mut(), &table, seed, &|| !job.cancelled())
        });
        self.fig3_job = Some(job);
        self.fig3_label = if source == ScoreSource::True {
            "true score".into()
        } else {
            "learned score".into()
        };
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
        let (h, launch) = ToyTrainHandle::prepare(self.config.clone(), self.dataset.clone(), wake);
        self.out.start(launch);
        self.worker = Some(h);
        self.losses.clear();
        self.energy.clear();
        self.status = ToyStatus::Training;
        self.message.clear();
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
        if let Some(result) = take_result(&mut self.sample_job) {
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
        if let Some(result) = take_result(&mut self.fig3_job) {
            match result {
                Ok(pair) => self.fig3 = Some(pair),
                Err(e) => self.message = format!("Fig. 3 failed: {e}"),
            }
        }
        if let Some(result) = take_result(&mut self.export_job) {
            self.message = match result {
                Ok(m) | Err(m) => m,
            };
        }
        if self.worker.is_some() || self.is_sampling() || self.export_job.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// The points an export writes: the shown frame of the reverse view, else the data.
    fn export_points(&self) -> Vec<f64> {
        self.frames
            .get(self.frame)
            .map_or_else(|| self.data.clone(), |f| f.points.clone())
    }

    pub(super) fn export_csv(&mut self, ctx: &egui::Context) {
        let dialog = crate::app::dialog::FileDialog::new()
            .add_filter("CSV", &["csv"])
            .set_file_name("points.csv");
        let ctx = ctx.clone();
        self.out
            .pick(dialog, PickMode::Save, move |v: &mut Self, path| {
                let points = v.export_points();
                v.spawn_export(&ctx, path, move |p| {
                    csv::save_points(p, &points).map_err(|e| e.to_string())
                });
            });
    }

    pub(super) fn export_gif(&mut self, ctx: &egui::Context) {
        let dialog = crate::app::dialog::FileDialog::new()
            .add_filter("GIF", &["gif"])
            .set_file_name("toy.gif");
        let ctx = ctx.clone();
        self.out
            .pick(dialog, PickMode::Save, move |v: &mut Self, path| {
                let frames = v.frames.clone();
                let data = v.data.clone();
                v.spawn_export(&ctx, path, move |p| {
                    save_gif(p, &frames, &data, &GifStyle::default()).map_err(|e| e.to_string())
                });
            });
    }

    fn spawn_export(
        &mut self,
        ctx: &egui::Context,
        path: PathBuf,
        write: impl FnOnce(&std::path::Path) -> Result<(), String> + Send + 'static,
    ) {
        let job = prepare_job(&mut self.out, "toy-export", ctx, move |_| {
            write(&path)
                .map(|()| format!("saved {}", path.display()))
                .map_err(|e| format!("could not save: {e}: {}", path.display()))
        });
        self.export_job = Some(job);
        self.message = "exporting…".into();
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
