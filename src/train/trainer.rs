//! The training loop itself, synchronous: one call, one optimiser step. The background worker
//! and the `train` command both drive it.

use super::ema::ema_update;
use super::native::{AdamSettings, NativeState};
use crate::config::{RunConfig, Target};
use crate::data::Dataset;
use crate::diffusion::learned::{self, BatchLoss, LossInputs};
use crate::diffusion::{ImportanceSampler, Rng, ScheduleTable, TSampling};
use crate::mem::{self, AllocError};
use crate::model::{DevicePick, UNet};
use crate::store::checkpoint::{CheckpointError, LossHistory, ValPoint};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use std::time::Instant;

/// Why training cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data could not be loaded or is unusable.
    #[error("data: {0}")]
    Data(String),
    /// The loss became NaN or infinite.
    #[error("the loss became {loss} at step {step}; training stopped (lower the learning rate)")]
    Diverged {
        /// The step.
        step: usize,
        /// The bad value.
        loss: f32,
    },
    /// A checkpoint could not be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A buffer of the step (a batch, activations, gradients) could not be allocated.
    #[error(
        "out of memory: {0}; lower the batch size (train.batch) or make the model smaller, \
         or close other programs"
    )]
    OutOfMemory(#[from] AllocError),
}

impl From<CheckpointError> for TrainError {
    fn from(e: CheckpointError) -> Self {
        TrainError::Checkpoint(e.0)
    }
}

/// The longest run name accepted.
pub const MAX_NAME_LEN: usize = 200;

/// Number of t buckets in the loss-by-timestep heatmap.
pub const T_BUCKETS: usize = 20;
/// Steps aggregated into one heatmap row.
pub const BUCKET_ROW_STEPS: usize = 25;

/// The outcome of one step.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    /// The step just completed (1-based).
    pub step: usize,
    /// Its loss.
    pub loss: f32,
    /// The learning rate used.
    pub lr: f64,
}

/// Everything a run needs in memory.
pub struct Trainer {
    /// The run configuration.
    pub config: RunConfig,
    /// The device and why it was picked.
    pub pick: DevicePick,
    pub(super) device: Device,
    pub(super) model: UNet,
    pub(super) optim: ModuleOptimizer,
    pub(super) ema: UNet,
    /// The schedule table.
    pub table: ScheduleTable,
    pub(super) train_data: Dataset,
    pub(super) val_data: Dataset,
    pub(super) rng: Rng,
    /// Steps completed.
    pub step: usize,
    /// The loss record.
    pub history: LossHistory,
    /// A learning rate set live by the user (replaces the schedule).
    pub lr_override: Option<f64>,
    bucket_acc: Vec<(f64, usize)>,
    /// The model's dropout probability.
    dropout: f64,
    /// Print per-phase step times to stderr (`DIFFUSION_LAB_PROFILE=1`).
    profile: bool,
    /// Whether the native CPU engine computes the gradients (else burn's autodiff).
    native: bool,
    /// The native engine's network, Adam moments and EMA between steps, built from `model`,
    /// `ema` and `optim` at its first step; while it exists those three are stale and are
    /// rebuilt from it by the snapshots. Anything that replaces them (a resume) drops it.
    pub(super) native_state: Option<NativeState>,
    /// Var(x₀) of the training images (mean per-pixel variance), computed once.
    data_variance: f64,
    /// Class labels of a conditional model (0: unconditional).
    num_classes: usize,
    /// The history of L_t that importance-samples t (`train.t_sampling = "importance"`).
    pub(super) t_sampler: Option<ImportanceSampler>,
}

/// Patience-based early stopping on a validation-loss history (erratum E000-4): the index of
/// the best (lowest) loss when the last `patience` losses after it all failed to improve on it,
/// else None. `patience` = 0 never stops.
pub fn patience_exhausted(val_losses: &[f32], patience: usize) -> Option<usize> {
    if patience == 0 || val_losses.is_empty() {
        return None;
    }
    let mut best = 0;
    for (i, &v) in val_losses.iter().enumerate() {
        if v < val_losses[best] {
            best = i;
        }
    }
    (val_losses.len() - 1 - best >= patience).then_some(best)
}

/// A noised batch.
struct Batch {
    /// x_t, [B, C, H, W].
    xt: Vec<f32>,
    /// The regression target of the prediction (ε, x₀ or v).
    target: Vec<f32>,
    /// x₀ (for the bound's terms).
    x0: Vec<f32>,
    /// t of each image (the nearest step above a continuous t).
    ts: Vec<usize>,
    /// The network's time input for each image: t, or the continuous t.
    tf: Vec<f32>,
    /// The weight of each image's loss (1/(T·p_t) with importance-sampled t, else 1).
    weights: Vec<f64>,
    /// The (maybe dropped) labels of a conditional model; empty otherwise.
    labels: Vec<usize>,
}

/// Checks that `data` has a label below `classes` for every image.
fn check_labels(data: &Dataset, classes: usize) -> Result<(), String> {
    let Some(labels) = data.labels() else {
        return Err(format!(
            "a class-conditional model ({classes} classes) needs labelled images, and this \
             data set has no labels; set num_classes = 0 to train an unconditional model"
        ));
    };
    match labels.iter().find(|&&l| l as usize >= classes) {
        Some(l) => Err(format!(
            "the data has label {l}, outside the model's {classes} classes (0..={}); raise \
             num_classes",
            classes - 1
        )),
        None => Ok(()),
    }
}

impl Trainer {
    /// Builds a fresh run: loads the data, builds the model on the picked device.
    pub fn new(config: RunConfig, pick: DevicePick) -> Result<Self, TrainError> {
        config.train.validate().map_err(TrainError::Config)?;
        // Checked before any work: the name goes into the run folder's name and its files.
        let name_len = config.name.chars().count();
        if name_len > MAX_NAME_LEN {
            return Err(TrainError::Config(format!(
                "name must be at most {MAX_NAME_LEN} characters, got {name_len}"
            )));
        }
        let table = config
            .schedule
            .table()
            .map_err(|e| TrainError::Config(format!("schedule: {e}")))?;
        config.check_combination().map_err(TrainError::Config)?;
        let data = config.data.load().map_err(TrainError::Data)?;
        if data.width() != data.height() {
            return Err(TrainError::Data(format!(
                "images must be square, got {}×{}",
                data.width(),
                data.height()
            )));
        }
        if data.len() < 4 {
            return Err(TrainError::Data(format!(
                "need at least 4 images, got {}",
                data.len()
            )));
        }
        let unet = config.unet(data.channels(), data.width());
        unet.validate()
            .map_err(|e| TrainError::Config(e.to_string()))?;
        if unet.num_classes > 0 {
            check_labels(&data, unet.num_classes).map_err(TrainError::Data)?;
        }
        // On a GPU the activations live in its memory, which is not known here: only a cap set
        // in the config is checked there.
        let cap =
            (config.train.memory_cap_mb > 0).then_some(config.train.memory_cap_mb as f64 * 1e6);
        if cap.is_some() || !pick.is_gpu || config.train.engine.is_native_on(&pick) {
            crate::model::check_train_memory(&unet, config.train.batch, cap)
                .map_err(TrainError::Config)?;
        }
        let (train_data, val_data) = data
            .split(config.train.val_fraction, config.train.seed)
            .map_err(|e| TrainError::Data(e.to_string()))?;
        let native = config.train.engine.is_native_on(&pick);
        let mut pick = pick;
        if native && pick.is_gpu {
            // The native engine computes on the CPU; the model then lives there too.
            pick = DevicePick {
                device: Device::flex(),
                label: "CPU".into(),
                reason: format!("the native engine was asked for ({})", pick.reason),
                is_gpu: false,
            };
        }
        let engine = crate::model::TrainEngine::label(native);
        if !pick.label.contains(engine) {
            pick.label = format!("{} · {engine}", pick.label.replace(" · Flex", ""));
        }
        // burn's optimiser steps autodiff parameters, so the model lives on the autodiff
        // device on both engines (the native engine never records a graph on it).
        let device = pick.device.clone().autodiff();
        let train_data_variance = train_data.mean_pixel_variance();
        let mut model = unet.init_seeded(&device, config.train.seed);
        if !config.train.init_from.is_empty() {
            let dir = crate::store::resolve_model_dir(&config.train.init_from)
                .map_err(TrainError::Config)?;
            model = crate::store::checkpoint::load_for_finetune(model, &dir)?;
        }
        let ema = model.valid();
        let optim = adam(&config).init();
        let rng = Rng::stream(config.train.seed, 1);
        let config_t_sampling = config.train.t_sampling;
        let big_t = table.steps();
        Ok(Self {
            config,
            pick,
            device,
            model,
            optim,
            ema,
            table,
            train_data,
            val_data,
            rng,
            step: 0,
            history: LossHistory::default(),
            lr_override: None,
            bucket_acc: vec![(0.0, 0); T_BUCKETS],
            dropout: unet.dropout,
            profile: std::env::var_os("DIFFUSION_LAB_PROFILE").is_some(),
            native,
            native_state: None,
            data_variance: train_data_variance,
            num_classes: unet.num_classes,
            t_sampler: (config_t_sampling == TSampling::Importance)
                .then(|| ImportanceSampler::new(big_t)),
        })
    }

    /// What loading the data left out (e.g. files skipped in a folder); empty if nothing.
    pub fn data_warnings(&self) -> &[String] {
        self.train_data.warnings()
    }

    /// The class labels the model is conditioned on (0: unconditional).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Why the run should stop early (`train.patience` validations without improvement), or
    /// None to go on.
    pub fn early_stop(&self) -> Option<String> {
        let patience = self.config.train.patience;
        let losses: Vec<f32> = self.history.val.iter().map(|v| v.mean).collect();
        let best = patience_exhausted(&losses, patience)?;
        let b = self.history.val[best];
        Some(format!(
            "stopped early at step {}: the validation loss has not improved for {patience} \
             validations (best {:.5} at step {})",
            self.step, b.mean, b.step
        ))
    }

    /// Whether the native CPU engine trains this run.
    pub fn is_native(&self) -> bool {
        self.native
    }

    /// The number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }

    /// Var(x₀) of the training images (mean per-pixel variance).
    pub fn data_variance(&self) -> f64 {
        self.data_variance
    }

    /// Image shape [C, H, W].
    pub fn image_shape(&self) -> [usize; 3] {
        [
            self.train_data.channels(),
            self.train_data.height(),
            self.train_data.width(),
        ]
    }

    /// The learning rate for the next step: warm-up, or the live override.
    pub fn current_lr(&self) -> f64 {
        if let Some(lr) = self.lr_override {
            return lr;
        }
        let t = &self.config.train;
        if t.warmup_steps > 0 && self.step < t.warmup_steps {
            t.lr * (self.step + 1) as f64 / t.warmup_steps as f64
        } else {
            t.lr
        }
    }

    /// Builds a noised batch on the CPU from `rng`: (x_t, target, t, labels) for `indices`.
    /// The labels (a conditional model's only; empty otherwise) are replaced by the null label
    /// `num_classes` with probability `label_drop` when `drop` is set, drawn after the images
    /// so an unconditional run's stream is unchanged. Fails when the batch cannot be
    /// allocated.
    fn make_batch(
        &self,
        data: &Dataset,
        indices: &[usize],
        rng: &mut Rng,
        drop: bool,
    ) -> Result<Batch, AllocError> {
        let n = data.pixels_per_image();
        let big_t = self.table.steps() as u64;
        let mut xt = mem::try_with_capacity(indices.len() * n, "the noised batch")?;
        let mut target = mem::try_with_capacity(indices.len() * n, "the batch's targets")?;
        let learned = self.config.train.loss.learns_sigma();
        let mut x0s = if learned {
            mem::try_with_capacity(indices.len() * n, "the batch's images")?
        } else {
            Vec::new()
        };
        let mut ts = Vec::with_capacity(indices.len());
        let mut tf = Vec::with_capacity(indices.len());
        let mut weights = Vec::with_capacity(indices.len());
        let (weighting, predicts) = (self.config.train.loss_weighting, self.config.train.target);
        let continuous = self.config.train.continuous_time;
        // Importance-sampled t on training batches only; validation keeps uniform t.
        let sampler = self.t_sampler.as_ref().filter(|_| drop);
        let probs = sampler.map(ImportanceSampler::probabilities);
        for &i in indices {
            let (t, w, a, s) = if continuous {
                // t ∈ (0, T]: 1 − U[0, 1) never gives 0, where λ is infinite.
                let tc = (1.0 - rng.uniform()) * big_t as f64;
                let p = self.table.at_continuous(tc);
                let t = (tc.ceil() as usize).clamp(1, big_t as usize);
                tf.push(tc as f32);
                (t, 1.0, p.alpha_bar.sqrt(), p.one_minus_alpha_bar.sqrt())
            } else {
                let (t, w) = match (sampler, &probs) {
                    (Some(s), Some(p)) => s.draw(p, rng),
                    _ => (1 + rng.below(big_t) as usize, 1.0),
                };
                tf.push(t as f32);
                (
                    t,
                    w,
                    self.table.sqrt_alpha_bar[t - 1],
                    self.table.sqrt_one_minus_alpha_bar[t - 1],
                )
            };
            ts.push(t);
            weights.push(w * weighting.multiplier(predicts, (a * a) / (s * s)));
            if learned {
                x0s.extend_from_slice(data.image(i));
            }
            for &x0 in data.image(i) {
                let e = rng.normal();
                let x0 = f64::from(x0);
                xt.push((a * x0 + s * e) as f32);
                target.push(match self.config.train.target {
                    Target::Eps => e,
                    Target::X0 => x0,
                    Target::V => a * e - s * x0,
                } as f32);
            }
        }
        let mut labels = Vec::new();
        if self.num_classes > 0 {
            let all = data.labels().unwrap_or_default();
            for &i in indices {
                let y = all.get(i).map_or(self.num_classes, |&l| l as usize);
                let dropped = drop && rng.uniform() < self.config.train.label_drop;
                labels.push(if dropped { self.num_classes } else { y });
            }
        }
        Ok(Batch {
            xt,
            target,
            x0: x0s,
            ts,
            tf,
            weights,
            labels,
        })
    }

    fn upload(&self, v: Vec<f32>, b: usize, device: &Device) -> Tensor<4> {
        let [c, h, w] = self.image_shape();
        Tensor::from_data(TensorData::new(v, [b, c, h, w]), device)
    }

    /// Runs one optimiser step.
    pub fn step(&mut self) -> Result<StepStats, TrainError> {
        let t0 = std::time::Instant::now();
        let b = self.config.train.batch;
        let n = self.train_data.len() as u64;
        let mut rng = self.rng.clone();
        let indices: Vec<usize> = (0..b).map(|_| rng.below(n) as usize).collect();
        let batch = self.make_batch(&self.train_data, &indices, &mut rng, true)?;
        self.rng = rng;
        if self.dropout > 0.0 {
            // Dropout masks come from the device RNG; reseeding per step keeps resume exact
            // (for one run at a time: other runs on the same device share that RNG).
            self.device
                .seed(self.config.train.seed.wrapping_add(self.step as u64 + 1));
        }
        let t_batch = t0.elapsed();
        let lr = self.current_lr();
        let BatchLoss {
            per_sample: per,
            vlb_bits,
            ..
        } = if self.native {
            self.native_step(&batch, lr)?
        } else {
            self.burn_step(&batch, lr)?
        };
        if let Some(s) = &mut self.t_sampler {
            s.update(&batch.ts, &vlb_bits);
        }
        let ts = batch.ts;
        let t_train = t0.elapsed();
        let loss = per.iter().sum::<f32>() / per.len().max(1) as f32;
        self.step += 1;
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                step: self.step,
                loss,
            });
        }
        if !self.native {
            // Warm-up of the decay, as the 2-D lab's trainer does (`self.step` counts this
            // update). The native engine's update did this already.
            let decay = super::ema::warmup_decay(self.config.train.ema_decay, self.step);
            self.ema = ema_update(self.ema.clone(), &self.model.valid(), decay);
        }
        if self.profile {
            if !self.native {
                let _ = self.ema.clone().into_record(); // wait for the EMA work, for the timing
            }
            eprintln!(
                "profile step {}: batch {:.1} ms, forward+backward+adam {:.1} ms, ema {:.1} ms",
                self.step,
                t_batch.as_secs_f64() * 1e3,
                (t_train - t_batch).as_secs_f64() * 1e3,
                (t0.elapsed() - t_train).as_secs_f64() * 1e3
            );
        }
        self.history.train.push((self.step, loss));
        self.record_by_t(&ts, &per);
        Ok(StepStats {
            step: self.step,
            loss,
            lr,
        })
    }

    /// The loss of a batch from the network's output, and its gradient with respect to the
    /// output (the same function on both engines: [`learned::batch_loss`]).
    fn batch_loss(&self, batch: &Batch, out: &[f32], d_out: &mut [f32]) -> BatchLoss {
        batch_loss(
            &self.table,
            &self.config,
            self.image_shape(),
            batch,
            out,
            d_out,
        )
    }

    /// One optimiser step with burn's autodiff; returns the per-sample losses. The loss and
    /// its gradient with respect to the network's output are computed on the host by the same
    /// code as the native engine's ([`learned::batch_loss`]), and burn back-propagates them
    /// through the surrogate ⟨out, ∂L/∂out⟩, so both engines follow one definition of every
    /// loss (L_simple, L_hybrid, L_vlb, importance weights). This also makes the loss that
    /// wgpu reports the true one: burn's own MSE reduction on lavapipe gave 0.993 where the
    /// same output's loss is 1.158 (the gradients agreed).
    fn burn_step(&mut self, batch: &Batch, lr: f64) -> Result<BatchLoss, AllocError> {
        let tf = &batch.tf;
        let labels = (!batch.labels.is_empty()).then_some(batch.labels.as_slice());
        let b = tf.len();
        let x = self.upload(batch.xt.clone(), b, &self.device);
        let out = self.model.forward_labeled(x, tf, labels); // [B, C (or 2C), H, W]
        let dims = out.dims();
        let host = out
            .clone()
            .inner()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let mut d = mem::try_zeroed(host.len(), "the output gradient")?;
        let loss = self.batch_loss(batch, &host, &mut d);
        let g = Tensor::<4>::from_data(TensorData::new(d, dims), &self.device);
        let surrogate = (out * g).sum();
        let grads = GradientsParams::from_grads(surrogate.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        Ok(loss)
    }

    /// One optimiser step with the native CPU engine: its forward and backward passes give
    /// the gradients of the same loss, and its own Adam (burn's arithmetic, see
    /// [`super::native`]) and EMA update the weights it keeps between steps. Returns the
    /// per-sample losses, or why the step could not run (a buffer that could not be allocated:
    /// the weights are then unchanged). A non-finite loss leaves the weights, moments and EMA
    /// as they were, so the run stops on its last good state.
    fn native_step(&mut self, batch: &Batch, lr: f64) -> Result<BatchLoss, TrainError> {
        if self.native_state.is_none() {
            let state =
                NativeState::from_burn(&self.model, &self.ema, &self.optim, &self.pick.device)?;
            self.native_state = Some(state);
            // burn's moments now live in the native state; the snapshots rebuild them.
            self.optim = adam(&self.config).init();
        }
        let shape = self.image_shape();
        let Self {
            native_state: Some(state),
            config,
            table,
            step,
            profile,
            ..
        } = self
        else {
            unreachable!("the native state was just built")
        };
        let tf = &batch.tf;
        let labels = (!batch.labels.is_empty()).then_some(batch.labels.as_slice());
        let t0 = Instant::now();
        let net = state.net();
        // Dropout masks: a stream per step, so resuming repeats them.
        let mut drop_rng = Rng::stream(config.train.seed.wrapping_add(*step as u64 + 1), 3);
        let out = net.forward_labeled(&batch.xt, shape, tf, labels, &mut drop_rng)?;
        // loss = mean over samples of each sample's (weighted) loss.
        let mut dy = mem::try_zeroed(out.len(), "the output gradient")?;
        let per = batch_loss(table, config, shape, batch, &out, &mut dy);
        if per.per_sample.iter().any(|l| !l.is_finite()) {
            return Ok(per);
        }
        let t_fwd = t0.elapsed();
        net.backward_weights(&dy)?;
        let t_bwd = t0.elapsed();
        // Warm-up of the EMA decay, as for burn (this is update number step + 1).
        let decay = super::ema::warmup_decay(config.train.ema_decay, *step + 1);
        state.update(&adam_settings(config), lr, decay);
        if *profile {
            eprintln!(
                "native step: forward {:.1} ms, backward {:.1} ms, Adam + EMA {:.1} ms",
                t_fwd.as_secs_f64() * 1e3,
                (t_bwd - t_fwd).as_secs_f64() * 1e3,
                (t0.elapsed() - t_bwd).as_secs_f64() * 1e3
            );
        }
        Ok(per)
    }

    fn record_by_t(&mut self, ts: &[usize], per: &[f32]) {
        let big_t = self.table.steps();
        for (&t, &l) in ts.iter().zip(per) {
            let k = ((t - 1) * T_BUCKETS / big_t).min(T_BUCKETS - 1);
            self.bucket_acc[k].0 += f64::from(l);
            self.bucket_acc[k].1 += 1;
        }
        if self.step.is_multiple_of(BUCKET_ROW_STEPS) {
            let row = self
                .bucket_acc
                .iter()
                .map(|&(s, c)| {
                    if c > 0 {
                        (s / c as f64) as f32
                    } else {
                        f32::NAN
                    }
                })
                .collect();
            self.history.by_t.push((self.step, row));
            self.bucket_acc = vec![(0.0, 0); T_BUCKETS];
        }
    }

    /// Validation loss on the held-out split with fixed t and ε (same every time), as
    /// mean/min/max over batches. Uses the raw weights.
    pub fn validate(&mut self) -> ValPoint {
        let model = self.raw_snapshot();
        let device = self.pick.device.clone();
        // On the CPU the sampling path's forward pass is the fast one (same numbers to 1e-6).
        let cpu = (!self.pick.is_gpu).then(|| crate::model::CpuUNet::from_unet(&model));
        let mut rng = Rng::stream(self.config.train.seed, 2);
        let b = self.config.train.batch.min(64);
        let n = self.val_data.len();
        let mut losses = Vec::new();
        for start in (0..n).step_by(b).take(8) {
            let idx: Vec<usize> = (start..(start + b).min(n)).collect();
            // A conditional model is validated on the true labels.
            // At most min(batch, 64) images: no more than a training batch, which `step` checks.
            let batch = self
                .make_batch(&self.val_data, &idx, &mut rng, false)
                .unwrap_or_else(|e| panic!("validation batch: {e}"));
            let labels = (!batch.labels.is_empty()).then_some(batch.labels.as_slice());
            let tf = &batch.tf;
            let out = match &cpu {
                Some(cpu) => cpu.forward_labeled(&batch.xt, self.image_shape(), tf, labels),
                None => {
                    let x = self.upload(batch.xt.clone(), idx.len(), &device);
                    model
                        .forward_labeled(x, tf, labels)
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap_or_default()
                }
            };
            // The training loss (L_simple: the mean squared error) with uniform t.
            let mut d = vec![0f32; out.len()];
            let per = self.batch_loss(&batch, &out, &mut d).per_sample;
            losses.push(per.iter().sum::<f32>() / per.len().max(1) as f32);
        }
        let mean = losses.iter().sum::<f32>() / losses.len().max(1) as f32;
        let p = ValPoint {
            step: self.step,
            mean,
            min: losses.iter().copied().fold(f32::INFINITY, f32::min),
            max: losses.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        };
        self.history.val.push(p);
        p
    }

    /// Sets the live learning rate.
    pub fn set_lr(&mut self, lr: f64) {
        if lr.is_finite() && lr > 0.0 {
            self.lr_override = Some(lr);
        }
    }

    /// A snapshot of the raw weights for inference (no autodiff), cheap to clone.
    pub fn raw_snapshot(&self) -> UNet {
        match &self.native_state {
            Some(s) => s.weights_into(self.model.valid()),
            None => self.model.valid(),
        }
    }

    /// A snapshot of the EMA weights.
    pub fn ema_snapshot(&self) -> UNet {
        match &self.native_state {
            Some(s) => s.ema_into(self.ema.clone()),
            None => self.ema.clone(),
        }
    }

    /// The optimiser's state as burn's optimiser (what a checkpoint stores).
    pub(super) fn optim_snapshot(&self) -> ModuleOptimizer {
        match &self.native_state {
            Some(s) => s.optimizer_into(adam(&self.config).init(), &self.model, &self.pick.device),
            None => self.optim.clone(),
        }
    }

    /// The inference device.
    pub fn inference_device(&self) -> Device {
        self.pick.device.clone()
    }
}

/// The loss of a batch from the network's output `out`, and its gradient with respect to the
/// output into `d_out` ([`learned::batch_loss`] with the run's loss, target and schedule).
fn batch_loss(
    table: &ScheduleTable,
    config: &RunConfig,
    [c, h, w]: [usize; 3],
    batch: &Batch,
    out: &[f32],
    d_out: &mut [f32],
) -> BatchLoss {
    learned::batch_loss(
        &LossInputs {
            table,
            kind: config.train.loss,
            target: config.train.target,
            dims: c * h * w,
            channels: c,
            out,
            target_values: &batch.target,
            x0: &batch.x0,
            xt: &batch.xt,
            ts: &batch.ts,
            weights: &batch.weights,
        },
        d_out,
    )
}

/// The native engine's Adam with the same settings as [`adam`].
fn adam_settings(config: &RunConfig) -> AdamSettings {
    let t = &config.train;
    AdamSettings::new(
        (t.weight_decay > 0.0).then_some(t.weight_decay as f32),
        (t.grad_clip > 0.0).then_some(t.grad_clip as f32),
    )
}

/// The trainer's Adam for a default run, for the native engine's tests.
#[cfg(test)]
pub(super) fn adam_for_tests() -> AdamConfig {
    adam(&RunConfig::default())
}

/// Adam with the configured weight decay and gradient clipping.
pub(super) fn adam(config: &RunConfig) -> AdamConfig {
    let t = &config.train;
    AdamConfig::new()
        .with_weight_decay(
            (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32)),
        )
        .with_grad_clipping(
            (t.grad_clip > 0.0).then_some(GradientClippingConfig::Norm(t.grad_clip as f32)),
        )
}

#[cfg(test)]
mod early_stop_tests {
    use super::patience_exhausted;

    #[test]
    fn patience_counts_validations_since_the_best() {
        assert_eq!(patience_exhausted(&[1.0, 0.9, 0.8], 2), None);
        assert_eq!(patience_exhausted(&[1.0, 0.8, 0.85, 0.9], 2), Some(1));
        // A tie is not an improvement.
        assert_eq!(patience_exhausted(&[1.0, 0.8, 0.8], 1), Some(1));
        assert_eq!(patience_exhausted(&[1.0, 0.8, 0.9], 2), None);
        assert_eq!(patience_exhausted(&[1.0, 2.0, 3.0], 0), None);
        assert_eq!(patience_exhausted(&[], 3), None);
    }
}
