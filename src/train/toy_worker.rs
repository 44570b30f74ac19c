//! The 2-D lab's trainer: the toy MLP ε-predictor fitted on points of a [`ToyDataset`], run
//! synchronously (the `toy` command) or on a background worker that reports through the same
//! [`TrainEvent`]s as the UNet trainer, plus the toy-only news (energy distance, weights) on a
//! second bounded channel.

use super::worker::{Outbox, TrainCommand, TrainEvent, TrainHandle, next_command};
use crate::diffusion::{Rng, ScheduleTable, energy_distance};
use crate::jobs::Launch;
use crate::model::{DeviceChoice, DevicePick, ToyMlp, init_seeded, pick_device};
use crate::toy::sampling::{EpsModel, ToySampler, sample_frames};
use crate::toy::{ToyDataset, ToyLabConfig};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// Why the toy trainer cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ToyTrainError {
    /// The configuration is invalid.
    #[error("invalid 2-D lab settings: {0}")]
    Config(String),
    /// The loss became NaN or infinite.
    #[error("the loss became {loss} at step {step}; training stopped (lower the learning rate)")]
    Diverged {
        /// The step.
        step: usize,
        /// The bad value.
        loss: f32,
    },
}

/// The learned ε-predictor as an [`EpsModel`]: a snapshot of the MLP on a plain device.
#[derive(Clone, Debug)]
pub struct MlpEps {
    model: ToyMlp,
    device: Device,
}

impl MlpEps {
    /// Wraps inference weights living on `device`.
    pub fn new(model: ToyMlp, device: Device) -> Self {
        Self { model, device }
    }
}

impl EpsModel for MlpEps {
    fn eps(&mut self, t: usize, x: &[f64], out: &mut [f64]) {
        let b = x.len() / 2;
        if b == 0 {
            return;
        }
        let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let input = Tensor::<2>::from_data(TensorData::new(xs, [b, 2]), &self.device); // [B, 2]
        let ts = vec![t as f32; b];
        let eps = self
            .model
            .forward(input, &ts) // [B, 2]
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        for (o, e) in out.iter_mut().zip(eps) {
            *o = f64::from(e);
        }
    }
}

/// The toy MLP and its optimiser, one [`ToyTrainer::step`] per minibatch.
pub struct ToyTrainer {
    /// The settings.
    pub config: ToyLabConfig,
    /// The schedule.
    pub table: ScheduleTable,
    /// The device and why it was picked.
    pub pick: DevicePick,
    device: Device,
    model: ToyMlp,
    ema: ToyMlp,
    optim: ModuleOptimizer,
    data: Vec<f32>,
    rng: Rng,
    /// Steps done.
    pub step: usize,
}

impl ToyTrainer {
    /// Draws `config.n` training points from `dataset` and builds the MLP with seeded weights.
    pub fn new(
        config: ToyLabConfig,
        dataset: &ToyDataset,
        pick: DevicePick,
    ) -> Result<Self, ToyTrainError> {
        let bad = |m: &str| Err(ToyTrainError::Config(m.to_owned()));
        if config.n < 2 {
            return bad("draw at least 2 training points (n ≥ 2)");
        }
        if config.batch == 0 {
            return bad("the minibatch size must be at least 1");
        }
        if !(config.lr.is_finite() && config.lr > 0.0) {
            return bad("the learning rate must be finite and > 0");
        }
        if config.mlp.hidden == 0 || config.mlp.time_dim == 0 {
            return bad("the MLP needs hidden width and time embedding width ≥ 1");
        }
        let table = config
            .schedule
            .table()
            .map_err(|e| ToyTrainError::Config(format!("schedule: {e}")))?;
        let data = dataset
            .sample(config.n, &mut Rng::stream(config.seed, 10))
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let device = pick.device.clone().autodiff();
        let model = init_seeded(&device, config.seed, || config.mlp.init(&device));
        let ema = model.valid();
        Ok(Self {
            ema,
            optim: AdamConfig::new().init(),
            rng: Rng::stream(config.seed, 11),
            config,
            table,
            pick,
            device,
            model,
            data,
            step: 0,
        })
    }

    /// The number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }

    /// The learning rate of the next step: cosine decay from `lr` to `lr/10` over the run.
    pub fn current_lr(&self) -> f64 {
        let total = self.config.train_steps.max(1) as f64;
        let u = (self.step as f64 / total).min(1.0);
        let lr = self.config.lr;
        lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * u).cos()))
    }

    /// One Adam step on a fresh minibatch: t ~ U{1..T}, ε ~ N(0, I), loss ‖ε − ε̂(x_t, t)‖².
    pub fn step(&mut self, lr_override: Option<f64>) -> Result<f32, ToyTrainError> {
        let b = self.config.batch;
        let n = (self.data.len() / 2) as u64;
        let big_t = self.table.steps() as u64;
        let mut xt = Vec::with_capacity(2 * b);
        let mut target = Vec::with_capacity(2 * b);
        let mut ts = Vec::with_capacity(b);
        for _ in 0..b {
            let i = self.rng.below(n) as usize;
            let t = 1 + self.rng.below(big_t) as usize;
            let (a, s) = (
                self.table.sqrt_alpha_bar[t - 1],
                self.table.sqrt_one_minus_alpha_bar[t - 1],
            );
            for d in 0..2 {
                let e = self.rng.normal();
                xt.push((a * f64::from(self.data[2 * i + d]) + s * e) as f32);
                target.push(e as f32);
            }
            ts.push(t as f32);
        }
        let x = Tensor::<2>::from_data(TensorData::new(xt, [b, 2]), &self.device); // [B, 2]
        let y = Tensor::<2>::from_data(TensorData::new(target, [b, 2]), &self.device); // [B, 2]
        let loss = (self.model.forward(x, &ts) - y).powi_scalar(2).mean(); // [1]
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let lr = lr_override.unwrap_or_else(|| self.current_lr());
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.step += 1;
        // Warm-up of the decay (as in Keras/diffusers): early weights are forgotten quickly.
        let decay = super::ema::warmup_decay(self.config.ema_decay, self.step);
        self.ema = super::ema_update(self.ema.clone(), &self.model.valid(), decay);
        if !value.is_finite() {
            return Err(ToyTrainError::Diverged {
                step: self.step,
                loss: value,
            });
        }
        Ok(value)
    }

    /// A snapshot of the weights for sampling (no autodiff): the EMA weights when
    /// `ema_decay` > 0, else the raw ones.
    pub fn snapshot(&self) -> MlpEps {
        let m = if self.config.ema_decay > 0.0 {
            self.ema.clone()
        } else {
            self.model.valid()
        };
        MlpEps::new(m, self.pick.device.clone())
    }

    /// The squared energy distance between `eval_points` samples of the current model and a
    /// fresh draw of the data (fixed seeds, so values along a run are comparable). The samples
    /// come from deterministic DDIM with 25 steps: four times cheaper than DDPM's 100, so the
    /// measurements every few hundred steps cost the training run little.
    pub fn energy_distance(&self, dataset: &ToyDataset) -> Option<f64> {
        let n = self.config.eval_points.max(2);
        let mut model = self.snapshot();
        let frames = sample_frames(
            &ToySampler::Ddim {
                steps: 25,
                eta: 0.0,
            },
            &mut model,
            &self.table,
            n,
            self.config.seed ^ 0xED,
            2,
            &|| true,
        )
        .ok()?;
        let samples = &frames.last()?.points;
        let data = dataset.sample(n, &mut Rng::stream(self.config.seed, 12));
        energy_distance(samples, &data, 2).ok()
    }
}

/// Toy-only news from the worker, beside its [`TrainEvent`]s.
#[derive(Clone, Debug)]
pub enum ToyEvent {
    /// An energy distance of DDIM samples to fresh data, measured at `step`.
    EnergyDistance {
        /// The step.
        step: usize,
        /// The squared energy distance.
        value: f64,
    },
    /// The weights at `step` (sent after each measurement and at the end).
    Weights {
        /// The step.
        step: usize,
        /// The ε-predictor.
        model: Box<MlpEps>,
    },
}

/// The UI's handle on a toy training run: the shared [`TrainHandle`] plus the toy channel.
pub struct ToyTrainHandle {
    /// Commands and [`TrainEvent`]s, as for the UNet trainer.
    pub handle: TrainHandle,
    toy_events: Receiver<ToyEvent>,
}

impl ToyTrainHandle {
    /// Starts training `dataset` with `config` on a thread named "toy-trainer". The MLP trains on
    /// the CPU (Flex): for a model this small a GPU's launch overhead costs more than it saves.
    pub fn start(
        config: ToyLabConfig,
        dataset: ToyDataset,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Self> {
        let (handle, launch) = Self::prepare(config, dataset, wake);
        launch.start()?;
        Ok(handle)
    }

    /// The handle and the [`Launch`] that starts its worker (the 2-D lab hands it to the app).
    pub fn prepare(
        config: ToyLabConfig,
        dataset: ToyDataset,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> (Self, Launch) {
        let (tx, rx) = sync_channel(256);
        let (handle, launch) =
            TrainHandle::prepare_with("toy-trainer", wake, move |out, commands, shutdown| {
                run_toy_worker(&config, &dataset, out, &tx, &commands, shutdown);
            });
        let handle = Self {
            handle,
            toy_events: rx,
        };
        (handle, launch)
    }

    /// Sends a command without blocking.
    pub fn send(&self, cmd: TrainCommand) -> bool {
        self.handle.send(cmd)
    }

    /// The next [`TrainEvent`], without blocking.
    pub fn try_recv(&self) -> Option<TrainEvent> {
        self.handle.try_recv()
    }

    /// The next [`ToyEvent`], without blocking.
    pub fn try_recv_toy(&self) -> Option<ToyEvent> {
        self.toy_events.try_recv().ok()
    }

    /// Whether the worker has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn run_toy_worker(
    config: &ToyLabConfig,
    dataset: &ToyDataset,
    out: &Outbox,
    toy: &SyncSender<ToyEvent>,
    commands: &Receiver<TrainCommand>,
    shutdown: &AtomicBool,
) {
    let fail = |message: String| {
        out.send(TrainEvent::Failed {
            message,
            checkpoint: None,
        });
    };
    let pick = pick_device(DeviceChoice::Cpu);
    let setup = std::panic::catch_unwind(AssertUnwindSafe(|| {
        ToyTrainer::new(config.clone(), dataset, pick.clone())
    }));
    let mut trainer = match setup {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return fail(e.to_string()),
        Err(p) => {
            return fail(format!(
                "the MLP could not be built: {}",
                panic_text(p.as_ref())
            ));
        }
    };
    let total = config.train_steps;
    out.send(TrainEvent::Started {
        device: pick.label.clone(),
        reason: "the toy MLP is small: the CPU is faster than a GPU's launch overhead".into(),
        params: trainer.num_params(),
        step: 0,
        total,
        warnings: Vec::new(),
    });
    let measure = |trainer: &ToyTrainer| {
        if let Some(value) = trainer.energy_distance(dataset) {
            let _ = toy.try_send(ToyEvent::EnergyDistance {
                step: trainer.step,
                value,
            });
        }
        let _ = toy.try_send(ToyEvent::Weights {
            step: trainer.step,
            model: Box::new(trainer.snapshot()),
        });
        (out.wake)();
    };
    measure(&trainer);
    let mut paused = false;
    let mut lr_override = None;
    let mut pending: Vec<(usize, f32)> = Vec::new();
    let mut last_sent = Instant::now() - Duration::from_secs(1);
    let mut active = Duration::ZERO;
    loop {
        let mut stop = shutdown.load(Ordering::SeqCst);
        while let Some(cmd) = next_command(commands, paused, stop, shutdown) {
            match cmd {
                TrainCommand::Pause => {
                    paused = true;
                    out.send(TrainEvent::Paused);
                }
                TrainCommand::Resume => {
                    paused = false;
                    out.send(TrainEvent::Resumed);
                }
                TrainCommand::Stop => stop = true,
                TrainCommand::SetLr(lr) if lr.is_finite() && lr > 0.0 => lr_override = Some(lr),
                TrainCommand::SampleNow => measure(&trainer),
                // Nothing is saved: a toy model retrains in seconds.
                TrainCommand::SetLr(_)
                | TrainCommand::SaveCheckpoint
                | TrainCommand::SimulateDeviceFailure => {}
            }
            if stop {
                break;
            }
        }
        if stop || trainer.step >= total {
            if !pending.is_empty() {
                let (step, loss) = pending[pending.len() - 1];
                out.send(TrainEvent::Progress {
                    step,
                    total,
                    loss,
                    losses: std::mem::take(&mut pending),
                    lr: trainer.current_lr(),
                    images_per_sec: 0.0,
                    eta_secs: 0.0,
                });
            }
            measure(&trainer);
            return out.send(TrainEvent::Finished {
                step: trainer.step,
                checkpoint: None,
            });
        }
        let t0 = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| trainer.step(lr_override)));
        active += t0.elapsed();
        let loss = match result {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return fail(e.to_string()),
            Err(p) => return fail(format!("training failed: {}", panic_text(p.as_ref()))),
        };
        pending.push((trainer.step, loss));
        let every = config.eval_every;
        if every > 0 && trainer.step.is_multiple_of(every) && trainer.step < total {
            measure(&trainer);
        }
        if last_sent.elapsed() >= Duration::from_millis(50) {
            let rate = trainer.step as f64 / active.as_secs_f64().max(1e-9);
            let ev = TrainEvent::Progress {
                step: trainer.step,
                total,
                loss,
                losses: pending.clone(),
                lr: lr_override.unwrap_or_else(|| trainer.current_lr()),
                images_per_sec: rate * config.batch as f64,
                eta_secs: (total - trainer.step) as f64 / rate.max(1e-9),
            };
            if out.offer(ev) {
                pending.clear();
            }
            last_sent = Instant::now();
        }
    }
}
