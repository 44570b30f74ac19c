//! The background trainer: a named thread owns the model and optimiser. The UI talks to it only
//! through bounded channels and never blocks; the worker wakes the UI after each event.

use super::checkpoint::{load_checkpoint, save_checkpoint};
use super::trainer::{TrainError, Trainer};
use crate::config::RunConfig;
use crate::data::unit_to_u8;
use crate::diffusion::{SamplerKind, SamplerPlan, Spacing};
use crate::jobs::{BgJob, Launch, ThreadSlot};
use crate::model::{DeviceChoice, pick_device};
use crate::sampling::sample_images_until;
use crate::store::ValPoint;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// What the UI can ask of the worker.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainCommand {
    /// Stop stepping until `Resume`.
    Pause,
    /// Continue after `Pause`.
    Resume,
    /// Save a checkpoint and finish the run.
    Stop,
    /// Use this learning rate from the next step on.
    SetLr(f64),
    /// Draw preview samples now.
    SampleNow,
    /// Save a checkpoint now.
    SaveCheckpoint,
    /// Make the next step fail as a lost GPU device does (a panic inside burn), to exercise
    /// the "report, then resume on the CPU from the last checkpoint" path in tests and demos.
    SimulateDeviceFailure,
}

/// Fixed-seed preview samples, as u8 images [n, C, H, W].
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewGrid {
    /// The step whose weights drew them.
    pub step: usize,
    /// Number of samples.
    pub n: usize,
    /// [C, H, W].
    pub shape: [usize; 3],
    /// Samples from the EMA weights.
    pub ema: Vec<u8>,
    /// Samples from the raw weights.
    pub raw: Vec<u8>,
}

/// What the worker reports.
#[derive(Clone, Debug)]
pub enum TrainEvent {
    /// The run is set up and about to train.
    Started {
        /// Status-bar label of the device.
        device: String,
        /// Why that device.
        reason: String,
        /// Trainable parameters.
        params: usize,
        /// The step training starts from (non-zero when resuming).
        step: usize,
        /// Steps the run will reach.
        total: usize,
        /// What loading the data left out (e.g. files skipped in a folder); empty if nothing.
        warnings: Vec<String>,
    },
    /// A step finished (throttled to about 20 per second).
    Progress {
        /// Steps completed.
        step: usize,
        /// Steps the run will reach.
        total: usize,
        /// Loss of this step.
        loss: f32,
        /// Losses of all steps since the last `Progress` (step, loss).
        losses: Vec<(usize, f32)>,
        /// Learning rate in use.
        lr: f64,
        /// Training throughput.
        images_per_sec: f64,
        /// Estimated seconds left.
        eta_secs: f64,
    },
    /// A validation measurement.
    Validation(ValPoint),
    /// One more row of the loss-by-timestep heatmap.
    LossByT {
        /// The step of the row.
        step: usize,
        /// Mean loss per t bucket.
        row: Vec<f32>,
    },
    /// New preview samples.
    Preview(PreviewGrid),
    /// A sample-quality measurement of the EMA weights (`quality_every`).
    Quality(QualityPoint),
    /// A snapshot of the weights (sent with each preview), so the player can re-sample the
    /// chain from the model as it trains without stopping training.
    Weights(Box<crate::sampling::job::LoadedModel>),
    /// A checkpoint was written.
    Checkpointed {
        /// Its folder.
        path: PathBuf,
        /// Its step.
        step: usize,
    },
    /// Training is paused.
    Paused,
    /// Training resumed.
    Resumed,
    /// The run ended normally (finished or stopped); the final checkpoint is saved.
    /// Early stopping ended the run (the message says why); `Finished` follows.
    StoppedEarly(String),
    /// The run ended (stopped, finished its steps, or stopped early).
    Finished {
        /// The last step.
        step: usize,
        /// Where the checkpoint is.
        checkpoint: Option<PathBuf>,
    },
    /// The run failed; `checkpoint` is the last good one, if any.
    Failed {
        /// What went wrong.
        message: String,
        /// The last good checkpoint (resume from it, e.g. on the CPU).
        checkpoint: Option<PathBuf>,
    },
}

/// The UI's handle on a training run. Dropping it stops the worker cleanly (a checkpoint is
/// saved) and joins the thread.
pub struct TrainHandle {
    commands: SyncSender<TrainCommand>,
    events: Receiver<TrainEvent>,
    shutdown: Arc<AtomicBool>,
    thread: Arc<ThreadSlot>,
}

/// How the run starts.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// The configuration (ignored when resuming: the checkpoint's is used).
    pub config: RunConfig,
    /// Resume from this checkpoint folder.
    pub resume: Option<PathBuf>,
    /// Where checkpoints go.
    pub out_dir: PathBuf,
    /// Override the device choice (e.g. CPU after a GPU failure).
    pub device: Option<DeviceChoice>,
    /// Train until this step (overrides the config's step count).
    pub total_steps: Option<usize>,
}

impl TrainHandle {
    /// Starts the worker thread. `wake` is called after every event (e.g. request a repaint).
    pub fn start(
        options: StartOptions,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Self> {
        let (handle, launch) = Self::prepare(options, wake);
        launch.start()?;
        Ok(handle)
    }

    /// The handle and the [`Launch`] that starts the worker (views hand it to the app).
    pub fn prepare(options: StartOptions, wake: Arc<dyn Fn() + Send + Sync>) -> (Self, Launch) {
        Self::prepare_with("trainer", wake, move |out, commands, shutdown| {
            run_worker(options, commands, out, shutdown);
        })
    }

    /// Starts a worker thread named `name` running `body` with the channel plumbing every
    /// worker shares (bounded queues, wake-ups, the shutdown flag). Used by the UNet trainer
    /// and by the 2-D lab's MLP trainer, so both report through the same [`TrainEvent`]s.
    pub(crate) fn prepare_with(
        name: &str,
        wake: Arc<dyn Fn() + Send + Sync>,
        body: impl FnOnce(&Outbox, Receiver<TrainCommand>, &AtomicBool) + Send + 'static,
    ) -> (Self, Launch) {
        let (cmd_tx, cmd_rx) = sync_channel(64);
        let (ev_tx, ev_rx) = sync_channel(1024);
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = shutdown.clone();
        let thread = Arc::new(ThreadSlot::default());
        let launch = Launch::new(name, thread.clone(), move || {
            let out = Outbox { tx: ev_tx, wake };
            body(&out, cmd_rx, &flag);
        });
        let handle = Self {
            commands: cmd_tx,
            events: ev_rx,
            shutdown,
            thread,
        };
        (handle, launch)
    }

    /// Sends a command without blocking; false if the worker is gone or its queue is full.
    pub fn send(&self, cmd: TrainCommand) -> bool {
        self.commands.try_send(cmd).is_ok()
    }

    /// The next event, if any, without blocking.
    pub fn try_recv(&self) -> Option<TrainEvent> {
        self.events.try_recv().ok()
    }

    /// Whether the worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

impl Drop for TrainHandle {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _ = self.commands.try_send(TrainCommand::Stop);
        // Drain so a worker blocked on a full event queue can finish.
        while self.events.try_recv().is_ok() {}
        while self.thread.started() && !self.thread.is_finished() {
            while self.events.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(5));
        }
        self.thread.join();
    }
}

/// The worker's side of the event channel.
pub(crate) struct Outbox {
    pub(crate) tx: SyncSender<TrainEvent>,
    pub(crate) wake: Arc<dyn Fn() + Send + Sync>,
}

impl Outbox {
    /// Sends an event that must arrive (blocks while the queue is full).
    pub(crate) fn send(&self, ev: TrainEvent) {
        let _ = self.tx.send(ev);
        (self.wake)();
    }
    /// Sends an event that may be dropped if the UI is behind.
    pub(crate) fn offer(&self, ev: TrainEvent) -> bool {
        let ok = !matches!(self.tx.try_send(ev), Err(TrySendError::Full(_)));
        (self.wake)();
        ok
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// The next command for a worker loop, or `None` when there is none to handle now. While
/// `paused` (and not stopping) it waits for one, 100 ms at a time so that `shutdown` is seen;
/// otherwise it only looks. A dropped sender reads as `Stop`.
pub(crate) fn next_command(
    commands: &Receiver<TrainCommand>,
    paused: bool,
    stop: bool,
    shutdown: &AtomicBool,
) -> Option<TrainCommand> {
    loop {
        if !paused || stop {
            return commands.try_recv().ok();
        }
        match commands.recv_timeout(Duration::from_millis(100)) {
            Ok(c) => return Some(c),
            Err(RecvTimeoutError::Disconnected) => return Some(TrainCommand::Stop),
            Err(RecvTimeoutError::Timeout) if shutdown.load(Ordering::SeqCst) => return None,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

fn run_worker(
    options: StartOptions,
    commands: Receiver<TrainCommand>,
    out: &Outbox,
    shutdown: &AtomicBool,
) {
    // The same lock as `diffusion-lab train`: one writer per run folder, held until the
    // worker ends.
    let _lock = match crate::fs::RunLock::acquire(&options.out_dir) {
        Ok(lock) => lock,
        Err(message) => {
            return out.send(TrainEvent::Failed {
                message,
                checkpoint: options.resume.clone(),
            });
        }
    };
    let choice = options.device.unwrap_or(options.config.train.device);
    let pick = pick_device(choice);
    let setup = std::panic::catch_unwind(AssertUnwindSafe(|| match &options.resume {
        Some(dir) => load_checkpoint(dir, pick.clone()),
        None => Trainer::new(options.config.clone(), pick.clone()),
    }));
    let mut trainer = match setup {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            return out.send(TrainEvent::Failed {
                message: e.to_string(),
                checkpoint: options.resume.clone(),
            });
        }
        Err(p) => {
            return out.send(TrainEvent::Failed {
                message: format!(
                    "{} failed while starting: {}",
                    pick.label,
                    panic_message(p.as_ref())
                ),
                checkpoint: options.resume.clone(),
            });
        }
    };
    let total = options
        .total_steps
        .unwrap_or(trainer.config.train.steps)
        .max(trainer.step);
    let ckpt_dir = options.out_dir.clone();
    let mut last_ckpt: Option<PathBuf> = options.resume.clone();
    out.send(TrainEvent::Started {
        device: pick.label.clone(),
        reason: pick.reason.clone(),
        params: trainer.num_params(),
        step: trainer.step,
        total,
        warnings: trainer.data_warnings().to_vec(),
    });
    // At most one preview and one quality measurement at a time, beside training; joined
    // when the worker ends (dropping them waits for them), so none outlives the run.
    let mut preview: Option<BgJob<()>> = None;
    let mut quality: Option<BgJob<()>> = None;
    // The live chain (#19): the untrained weights first, then on a wall-clock cadence.
    let live_every = live_cadence(&trainer.config.train, pick.is_gpu && !trainer.is_native());
    let mut last_snapshot = Instant::now();
    if live_every.is_some() {
        offer_snapshot(&trainer, out);
    }
    let mut paused = false;
    let mut fail_next = false;
    let mut pending: Vec<(usize, f32)> = Vec::new();
    let mut last_sent = Instant::now() - Duration::from_secs(1);
    let mut window = (Instant::now(), trainer.step);
    let mut rate = 0.0;
    let mut sent_rows = trainer.history.by_t.len();
    let save =
        |trainer: &Trainer, last: &mut Option<PathBuf>| match save_checkpoint(trainer, &ckpt_dir) {
            Ok(()) => {
                *last = Some(ckpt_dir.clone());
                out.send(TrainEvent::Checkpointed {
                    path: ckpt_dir.clone(),
                    step: trainer.step,
                });
            }
            Err(e) => out.send(TrainEvent::Failed {
                message: format!("could not save the checkpoint ({e}); training continues"),
                checkpoint: last.clone(),
            }),
        };
    loop {
        // Commands: block only while paused, and then with a timeout so shutdown is seen.
        let mut stop = shutdown.load(Ordering::SeqCst);
        while let Some(cmd) = next_command(&commands, paused, stop, shutdown) {
            match cmd {
                TrainCommand::Pause => {
                    paused = true;
                    out.send(TrainEvent::Paused);
                }
                TrainCommand::Resume => {
                    paused = false;
                    window = (Instant::now(), trainer.step);
                    out.send(TrainEvent::Resumed);
                }
                TrainCommand::Stop => stop = true,
                TrainCommand::SetLr(lr) => trainer.set_lr(lr),
                TrainCommand::SampleNow => spawn_preview(&trainer, &mut preview, out),
                TrainCommand::SaveCheckpoint => save(&trainer, &mut last_ckpt),
                TrainCommand::SimulateDeviceFailure => fail_next = true,
            }
            if stop {
                break;
            }
        }
        if stop || trainer.step >= total {
            save(&trainer, &mut last_ckpt);
            return out.send(TrainEvent::Finished {
                step: trainer.step,
                checkpoint: last_ckpt,
            });
        }
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if std::mem::take(&mut fail_next) {
                std::panic::panic_any("simulated device loss (the GPU stopped responding)");
            }
            trainer.step()
        }));
        let stats = match result {
            Ok(Ok(s)) => s,
            Ok(Err(e @ TrainError::Diverged { .. })) => {
                return out.send(TrainEvent::Failed {
                    message: format!("{e}. The last good checkpoint is kept."),
                    checkpoint: last_ckpt,
                });
            }
            Ok(Err(e)) => {
                return out.send(TrainEvent::Failed {
                    message: e.to_string(),
                    checkpoint: last_ckpt,
                });
            }
            Err(p) => {
                return out.send(TrainEvent::Failed {
                    message: format!(
                        "{} failed during training: {}. Resume from the last checkpoint on the CPU.",
                        pick.label,
                        panic_message(p.as_ref())
                    ),
                    checkpoint: last_ckpt,
                });
            }
        };
        pending.push((stats.step, stats.loss));
        let cfg = trainer.config.train.clone();
        if cfg.val_every > 0 && stats.step.is_multiple_of(cfg.val_every) {
            out.send(TrainEvent::Validation(trainer.validate()));
            if let Some(why) = trainer.early_stop() {
                out.send(TrainEvent::StoppedEarly(why));
                save(&trainer, &mut last_ckpt);
                return out.send(TrainEvent::Finished {
                    step: trainer.step,
                    checkpoint: last_ckpt,
                });
            }
        }
        while sent_rows < trainer.history.by_t.len() {
            let (step, row) = trainer.history.by_t[sent_rows].clone();
            out.send(TrainEvent::LossByT { step, row });
            sent_rows += 1;
        }
        if cfg.preview_every > 0 && stats.step.is_multiple_of(cfg.preview_every) {
            spawn_preview(&trainer, &mut preview, out);
            last_snapshot = Instant::now();
        } else if live_every.is_some_and(|d| last_snapshot.elapsed() >= d) {
            offer_snapshot(&trainer, out);
            last_snapshot = Instant::now();
        }
        if cfg.quality_every > 0 && stats.step.is_multiple_of(cfg.quality_every) {
            spawn_quality(&trainer, &mut quality, out);
        }
        if cfg.checkpoint_every > 0 && stats.step.is_multiple_of(cfg.checkpoint_every) {
            save(&trainer, &mut last_ckpt);
        }
        let elapsed = window.0.elapsed().as_secs_f64();
        if elapsed > 0.5 {
            rate = (trainer.step - window.1) as f64 / elapsed;
            window = (Instant::now(), trainer.step);
        }
        if last_sent.elapsed() >= Duration::from_millis(50) || stats.step == total {
            let ev = TrainEvent::Progress {
                step: stats.step,
                total,
                loss: stats.loss,
                losses: pending.clone(),
                lr: stats.lr,
                images_per_sec: rate * cfg.batch as f64,
                eta_secs: if rate > 0.0 {
                    (total - stats.step) as f64 / rate
                } else {
                    f64::NAN
                },
            };
            if out.offer(ev) {
                pending.clear();
            }
            last_sent = Instant::now();
        }
    }
}

/// One point of the live quality curve.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityPoint {
    /// The training step of the weights.
    pub step: usize,
    /// FID of the samples against the held-out images.
    pub fid: f64,
    /// FID of as many real images: the floor.
    pub fid_floor: f64,
    /// Inception Score.
    pub is: f64,
    /// Precision (k = 3).
    pub precision: f64,
    /// Recall (k = 3).
    pub recall: f64,
    /// Samples scored.
    pub n: usize,
    /// Seconds the measurement took (sampling and scoring).
    pub secs: f64,
}

/// Whether a preview or quality job is still running.
fn busy(job: &Option<BgJob<()>>) -> bool {
    job.as_ref().is_some_and(|j| !j.is_finished())
}

/// A job that wakes nobody when it ends: the preview and quality jobs wake the UI themselves,
/// after sending their event.
fn no_wake() -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(|| {})
}

/// Measures the EMA weights' sample quality on a background job (skipped while the last one
/// runs, and when the data set has no bundled classifier).
fn spawn_quality(trainer: &Trainer, job: &mut Option<BgJob<()>>, out: &Outbox) {
    let Ok(net) = crate::metrics::classifier_for(&trainer.config.data) else {
        return;
    };
    if net.info.shape != trainer.image_shape() || busy(job) {
        return;
    }
    let ema = trainer.ema_snapshot();
    let device = trainer.inference_device();
    let table = trainer.table.clone();
    let shape = trainer.image_shape();
    let cfg = &trainer.config.train;
    let (n, seed, target, step) = (cfg.quality_count, cfg.seed, cfg.target, trainer.step);
    let tx = out.tx.clone();
    let wake = out.wake.clone();
    // A job that cannot start leaves the slot empty, so the next measurement tries again.
    // Dropping the job (the run ends, the window closes) cancels it after the current step.
    *job = BgJob::spawn("quality", no_wake(), move |ctx| {
        let start = Instant::now();
        let point = (|| {
            let kind = SamplerKind::Ddim {
                steps: 25.min(table.steps()),
                eta: 0.0,
                spacing: Spacing::Trailing,
            };
            let plan = SamplerPlan::new(&table, kind).ok()?;
            let x = sample_images_until(
                &ema,
                &device,
                &table,
                target,
                &plan,
                n,
                shape,
                seed ^ 0x0F1D,
                true,
                ctx.cancel_flag(),
            )?;
            let pixels: usize = shape.iter().product();
            let (kept, bad) = crate::metrics::finite_images(&x, pixels);
            let report = crate::metrics::score_sets(
                &net,
                &[kept],
                shape,
                bad,
                seed,
                String::new(),
                &mut |_, _| !ctx.cancelled(),
            )
            .ok()?;
            let (s, floor) = (report.rows.first()?, report.rows.get(1)?);
            Some(QualityPoint {
                step,
                fid: s.fid.mean,
                fid_floor: floor.fid.mean,
                is: s.is.mean,
                precision: s.precision.mean,
                recall: s.recall.mean,
                n: s.n,
                secs: start.elapsed().as_secs_f64(),
            })
        })();
        if let Some(point) = point {
            let _ = tx.send(TrainEvent::Quality(point));
            wake();
        }
    })
    .ok();
}

/// Offers the UI a snapshot of the weights (raw and EMA) for the live chain. Offered, not
/// sent: a UI that is behind skips a snapshot rather than stalling training.
fn offer_snapshot(trainer: &Trainer, out: &Outbox) {
    let step = trainer.step;
    let snapshot = crate::sampling::job::LoadedModel {
        label: format!("live run '{}' (step {step})", trainer.config.name),
        dir: None,
        step,
        config: trainer.config.clone(),
        shape: trainer.image_shape(),
        raw: trainer.raw_snapshot(),
        ema: trainer.ema_snapshot(),
        device: trainer.inference_device(),
        device_label: String::new(),
        table: trainer.table.clone(),
        data_variance: Some(trainer.data_variance()),
        classifier: None,
        has_raw: true,
    };
    let _ = out.offer(TrainEvent::Weights(Box::new(snapshot)));
}

/// Seconds between live snapshots: the run's `train.live_secs`, else 8 s on a CPU (where the
/// chain shares the cores with training) and 2 s on a GPU; 0 turns them off.
pub fn live_cadence(config: &crate::config::TrainConfig, is_gpu: bool) -> Option<Duration> {
    let secs = config.live_secs.unwrap_or(if is_gpu { 2.0 } else { 8.0 });
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Draws preview samples from snapshots of the weights on a background job, so training goes
/// on (skipped while the last one runs).
fn spawn_preview(trainer: &Trainer, job: &mut Option<BgJob<()>>, out: &Outbox) {
    if busy(job) {
        return;
    }
    let cfg = &trainer.config.train;
    let (ema, raw) = (trainer.ema_snapshot(), trainer.raw_snapshot());
    let device = trainer.inference_device();
    let table = trainer.table.clone();
    let shape = trainer.image_shape();
    let (n, steps, seed, target, step) = (
        cfg.preview_count,
        cfg.preview_steps,
        cfg.seed,
        cfg.target,
        trainer.step,
    );
    let tx = out.tx.clone();
    let wake = out.wake.clone();
    offer_snapshot(trainer, out);
    // A job that cannot start leaves the slot empty, so the next preview tries again.
    // Dropping the job (the run ends, the window closes) cancels it after the current step.
    *job = BgJob::spawn("preview", no_wake(), move |ctx| {
        let kind = SamplerKind::Ddim {
            steps: steps.min(table.steps()),
            eta: 0.0,
            spacing: Spacing::Trailing,
        };
        let grid = (|| {
            let plan = SamplerPlan::new(&table, kind).ok()?;
            let draw = |m| {
                sample_images_until(
                    m,
                    &device,
                    &table,
                    target,
                    &plan,
                    n,
                    shape,
                    seed ^ 0xC0FFEE,
                    true,
                    ctx.cancel_flag(),
                )
            };
            let to_u8 = |v: Vec<f32>| v.into_iter().map(unit_to_u8).collect::<Vec<u8>>();
            Some(PreviewGrid {
                step,
                n,
                shape,
                ema: to_u8(draw(&ema)?),
                raw: to_u8(draw(&raw)?),
            })
        })();
        if let Some(grid) = grid {
            let _ = tx.send(TrainEvent::Preview(grid));
            wake();
        }
    })
    .ok();
}
