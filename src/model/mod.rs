//! The neural networks (burn): the UNet for images and a small MLP for the 2-D lab.
//!
//! The diffusion maths stays in `crate::diffusion`; this module only predicts ε (or v, or x₀).

pub mod add_layer;
mod device;
mod folder;
mod mlp;
mod noisy_classifier;
mod unet;

pub use add_layer::{AddLayer, AddLayerInfo, AddLayerNet};
pub use device::{DeviceChoice, DevicePick, TrainEngine, has_hardware_adapter, pick_device};
pub use mlp::{ToyMlp, ToyMlpConfig};
pub use noisy_classifier::{
    BUNDLED_NOISY, NoisyClassifier, NoisyClassifierInfo, NoisyClassifierNet,
};
pub use unet::{
    CpuUNet, LayerProfile, LayerSpec, LayerTimes, Layout, MemoryEstimate, ParamGrad, ParamMut,
    TrainNet, UNet, UNetConfig, UNetConfigError, available_memory, canonical_layers,
    check_train_memory, human_bytes, profile_layer,
};

/// Seeds the device RNG and builds a module under one process-wide lock, then materialises every
/// (lazily initialised) parameter before the lock is released. burn's initialisers draw from a
/// per-device RNG shared by every thread, so this is what makes "same seed, same weights" hold
/// while other threads (other runs, tests) use the same device.
pub fn init_seeded<M: burn::module::Module>(
    device: &burn::tensor::Device,
    seed: u64,
    build: impl FnOnce() -> M,
) -> M {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let module = build();
    module.visit(&mut Touch);
    module
}

/// `module` with every float parameter rounded to IEEE half precision and back to f32: what
/// storing its weights as f16 does to it, so that its sample quality can be measured.
pub fn round_weights_to_f16<M: burn::module::Module>(module: M) -> M {
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::Tensor;
    struct Round;
    impl ModuleMapper for Round {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| {
                let device = t.device();
                let data = t
                    .into_data()
                    .convert::<burn::tensor::f16>()
                    .convert::<f32>();
                Tensor::from_data(data, &device)
            })
        }
    }
    module.map(&mut Round)
}

/// `module` with every float parameter stored in IEEE half precision (f16): what a shipped
/// model's `ema.bpk` holds, at half the size (`diffusion-lab half`). The loaders cast records
/// back to the module's dtype, so such a file loads into an f32 model.
pub fn to_half_precision<M: burn::module::Module>(module: M) -> M {
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::{DType, Tensor};
    struct Half;
    impl ModuleMapper for Half {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.cast(DType::F16))
        }
    }
    module.map(&mut Half)
}

/// Whether every float parameter of `module` is finite (no NaN, no ±inf).
pub fn weights_finite<M: burn::module::Module>(module: &M) -> bool {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Check(bool);
    impl ModuleVisitor for Check {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !self.0 {
                return;
            }
            let t = param.val();
            let n = t.shape().num_elements();
            let finite = t
                .reshape([n])
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .is_ok_and(|v| v.iter().all(|x| x.is_finite()));
            self.0 = finite;
        }
    }
    let mut check = Check(true);
    module.visit(&mut check);
    check.0
}

/// The learning rate of the small networks' training (the feature classifier, the noisy
/// classifier, seed 000's additional layer): cosine decay from `peak` at step 0 to 5% of it at
/// `steps`.
pub fn cosine_lr(peak: f64, step: usize, steps: usize) -> f64 {
    let u = step as f64 / steps.max(1) as f64;
    peak * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * u).cos()))
}

/// What a UNet's time embedding reads (`UNetConfig::time_input`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TimeInput {
    /// The timestep t (times `time_scale`): every checkpoint written before #14 §3.
    #[default]
    Step,
    /// The log-SNR λ(t) = ln(ᾱ/(1 − ᾱ)) of this schedule (seed 000's `model(x, log_snr)`,
    /// Crowson's v-diffusion), times [`LOG_SNR_EMBED_SCALE`]. The network then does not depend
    /// on how t is numbered, and reads a continuous t (continuous-time training) as λ of the
    /// interpolated schedule ([`crate::diffusion::ScheduleTable::at_continuous`]).
    LogSnr {
        /// The schedule whose λ(t) is fed.
        schedule: crate::diffusion::ScheduleSpec,
    },
}

/// λ enters the sinusoidal embedding as this multiple: the linear schedule's λ spans about
/// 19.3 (from +9.2 to −10.1) over its 1,000 steps, so 50·λ spans the same range of phases as
/// the raw t does in a step-conditioned model.
pub const LOG_SNR_EMBED_SCALE: f64 = 50.0;

/// The map from the (possibly fractional) timesteps every caller passes to the numbers the
/// sinusoidal embedding reads; built once per network from its [`TimeInput`].
#[derive(Clone, Debug)]
pub enum TimeMap {
    /// `scale`·t.
    Step {
        /// `UNetConfig::time_scale`.
        scale: f64,
    },
    /// [`LOG_SNR_EMBED_SCALE`]·λ(t).
    LogSnr {
        /// The schedule's table.
        table: std::sync::Arc<crate::diffusion::ScheduleTable>,
    },
}

impl Default for TimeMap {
    fn default() -> Self {
        TimeMap::Step { scale: 1.0 }
    }
}

impl TimeMap {
    /// The map of a network with this input and `time_scale`. A log-SNR input whose schedule
    /// does not build falls back to nothing sensible, so it is an error.
    pub fn new(input: &TimeInput, scale: f64) -> Result<Self, String> {
        match input {
            TimeInput::Step => Ok(TimeMap::Step { scale }),
            TimeInput::LogSnr { schedule } => schedule
                .table()
                .map(|table| TimeMap::LogSnr {
                    table: std::sync::Arc::new(table),
                })
                .map_err(|e| format!("model.time_input.schedule: {e}")),
        }
    }

    /// Whether the network reads λ(t).
    pub fn is_log_snr(&self) -> bool {
        matches!(self, TimeMap::LogSnr { .. })
    }

    /// The embedding input for each t.
    pub fn inputs(&self, t: &[f32]) -> Vec<f32> {
        match self {
            TimeMap::Step { scale } => t.iter().map(|&v| (f64::from(v) * scale) as f32).collect(),
            TimeMap::LogSnr { table } => t
                .iter()
                .map(|&v| (table.at_continuous(f64::from(v)).log_snr * LOG_SNR_EMBED_SCALE) as f32)
                .collect(),
        }
    }

    /// The sinusoidal embedding [t.len(), dim] of the mapped times.
    pub fn embedding(&self, t: &[f32], dim: usize) -> Vec<f32> {
        time_embedding(&self.inputs(t), dim, 1.0)
    }
}

/// The sinusoidal time embedding of seed 001 eq. 99–100 (Vaswani et al.):
/// PE(t, 2i) = sin(t/10000^(2i/d)), PE(t, 2i+1) = cos(t/10000^(2i/d)), row-major [t.len(), d],
/// of the scaled times `scale`·t (1 feeds the raw t; see `UNetConfig::time_scale`).
pub fn time_embedding(t: &[f32], dim: usize, scale: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(t.len() * dim);
    let half = dim / 2;
    let freqs: Vec<f64> = (0..half)
        .map(|i| 10000f64.powf(-(2.0 * i as f64) / dim as f64))
        .collect();
    for &tv in t {
        let tv = f64::from(tv) * scale;
        for f in &freqs {
            let a = tv * f;
            out.push(a.sin() as f32);
            out.push(a.cos() as f32);
        }
        if dim % 2 == 1 {
            out.push(0.0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_lr_runs_from_the_peak_to_five_percent() {
        assert!((cosine_lr(2e-3, 0, 100) - 2e-3).abs() < 1e-18);
        assert!((cosine_lr(2e-3, 50, 100) - 2e-3 * 0.525).abs() < 1e-15);
        assert!((cosine_lr(2e-3, 100, 100) - 1e-4).abs() < 1e-15);
    }

    #[test]
    fn time_embedding_matches_seed_001_oracle() {
        // Digest §3.3: PE(pos = 1, d = 128)[:4] = [0.84147098, 0.54030231, 0.76172041, 0.64790587].
        let e = time_embedding(&[1.0], 128, 1.0);
        let want = [0.841_470_98, 0.540_302_31, 0.761_720_41, 0.647_905_87];
        for (a, b) in e.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-7, "{a} vs {b}");
        }
        // pos = 0 gives [0, 1, 0, 1, …].
        let z = time_embedding(&[0.0], 8, 1.0);
        assert_eq!(z, vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    }
}
