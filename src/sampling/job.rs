//! The model a job samples from, and the chain job the player streams frames from.

use super::{ChainRecord, ChainSpec, Denoiser, run_chain};
use crate::config::RunConfig;
use crate::diffusion::ScheduleTable;
use crate::jobs::{BgJob, JobCtx, Launch};
use crate::model::{DeviceChoice, UNet, pick_device};
use crate::sampling::export::Weights;
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// A trained network ready to sample: both weight sets, its schedule and where it runs.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    /// Shown in the UI, e.g. "bundled (step 9000)".
    pub label: String,
    /// The checkpoint folder, if it came from one.
    pub dir: Option<PathBuf>,
    /// The training step of the weights.
    pub step: usize,
    /// The run's configuration.
    pub config: RunConfig,
    /// [C, H, W].
    pub shape: [usize; 3],
    /// Raw weights.
    pub raw: UNet,
    /// EMA weights.
    pub ema: UNet,
    /// Where it runs.
    pub device: Device,
    /// The device's status-bar label, e.g. "CPU · Flex".
    pub device_label: String,
    /// The schedule's table.
    pub table: ScheduleTable,
    /// Var(x₀) of the run's data set (mean per-pixel variance), for the forward-process
    /// reference Var(x_t) = ᾱ_t·Var(x₀) + 1 − ᾱ_t; None when the data could not be read.
    pub data_variance: Option<f64>,
    /// A noisy classifier for classifier guidance, attached to every denoiser made from
    /// this model (used when the guidance's γ > 0).
    pub classifier: Option<std::sync::Arc<crate::model::NoisyClassifier>>,
    /// Whether the raw weights are the model's own (false: a shipped model with only its EMA
    /// weights, where `raw` is a copy of `ema`).
    pub has_raw: bool,
}

impl LoadedModel {
    /// Loads a checkpoint folder for sampling (on the GPU if there is one, else the CPU).
    /// `bundled:NAME` names a bundled model.
    pub fn load(dir: &Path, label: &str) -> Result<Self, String> {
        let resolved = match dir.to_str() {
            Some(spec) if spec.starts_with("bundled:") => crate::store::resolve_model_dir(spec)?,
            _ => dir.to_owned(),
        };
        let dir = resolved.as_path();
        let pick = pick_device(DeviceChoice::Auto);
        let (config, info, raw, ema) =
            crate::store::load_for_inference(dir, &pick.device).map_err(|e| e.to_string())?;
        let table = config.schedule.table().map_err(|e| e.to_string())?;
        let data_variance = config.data.load().ok().map(|d| d.mean_pixel_variance());
        Ok(Self {
            label: format!("{label} (step {})", info.step),
            dir: Some(dir.to_owned()),
            step: info.step,
            config,
            shape: info.image_shape,
            raw,
            ema,
            device: pick.device,
            device_label: pick.label,
            table,
            data_variance,
            classifier: None,
            has_raw: dir.join("model.bpk").is_file(),
        })
    }

    /// The weights to sample with.
    pub fn weights(&self, w: Weights) -> &UNet {
        match w {
            Weights::Ema => &self.ema,
            Weights::Raw => &self.raw,
        }
    }

    /// The chosen weights as an ε-predictor.
    pub fn denoiser(&self, w: Weights) -> Denoiser<'_> {
        Denoiser::new(
            self.weights(w),
            &self.device,
            &self.table,
            self.config.train.target,
            self.shape,
        )
        .with_classifier(self.classifier.clone())
    }
}

/// Appends one step's statistic and frame to a shared record.
pub fn push_step(
    record: &Mutex<ChainRecord>,
    stat: super::StepStat,
    frame: Option<super::ChainFrame>,
) {
    let mut r = record.lock().unwrap_or_else(PoisonError::into_inner);
    r.stats.push(stat);
    if stat.t > 0 {
        r.steps_done += 1;
    }
    if let Some(f) = frame {
        r.frames.push(f);
    }
}

/// A chain sampled on a background thread; frames appear in `record` as they are made.
pub struct ChainJob {
    /// The chain so far (the UI locks it briefly to draw).
    pub record: Arc<Mutex<ChainRecord>>,
    job: BgJob<Option<Vec<f32>>>,
}

impl ChainJob {
    /// Starts sampling `spec` with `model`'s `weights`.
    pub fn spawn(
        model: LoadedModel,
        weights: Weights,
        spec: ChainSpec,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Self> {
        let (job, launch) = Self::prepare(model, weights, spec, wake);
        launch.start()?;
        Ok(job)
    }

    /// The job sampling `spec` and the [`Launch`] that starts it (views hand it to the app).
    pub fn prepare(
        model: LoadedModel,
        weights: Weights,
        spec: ChainSpec,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> (Self, Launch) {
        let record = Arc::new(Mutex::new(ChainRecord {
            n: spec.n,
            shape: model.shape,
            total_steps: spec.plan.steps.len(),
            ..ChainRecord::default()
        }));
        Self::custom(record, "sampler", wake, move |ctx, rec| {
            ctx.set_total(spec.plan.steps.len());
            let den = model.denoiser(weights);
            let mut done = 0;
            run_chain(&den, &spec, ctx.cancel_flag(), |stat, frame| {
                push_step(rec, stat, frame);
                if stat.t > 0 {
                    done += 1;
                }
                ctx.set_done(done);
            })
        })
    }

    /// A job running `work`, which fills `record` (e.g. with [`push_step`]) and returns x₀, and
    /// the [`Launch`] that starts its thread.
    pub fn custom(
        record: Arc<Mutex<ChainRecord>>,
        name: &str,
        wake: Arc<dyn Fn() + Send + Sync>,
        work: impl FnOnce(&JobCtx, &Mutex<ChainRecord>) -> Option<Vec<f32>> + Send + 'static,
    ) -> (Self, Launch) {
        let rec = record.clone();
        let (job, launch) = BgJob::prepare(name, wake, move |ctx| work(ctx, &rec));
        (Self { record, job }, launch)
    }

    /// (steps done, total steps).
    pub fn progress(&self) -> (usize, usize) {
        self.job.progress()
    }

    /// Whether sampling has ended.
    pub fn is_finished(&self) -> bool {
        self.job.is_finished()
    }

    /// Asks the sampler to stop after the current step.
    pub fn cancel(&self) {
        self.job.cancel();
    }

    /// x₀ once finished (None if cancelled or failed).
    pub fn take_x0(&mut self) -> Option<Option<Vec<f32>>> {
        self.job.take().map(Option::flatten)
    }
}
