//! Sampling with a trained network: the core's sampler steps driven by the UNet's ε̂, recorded
//! step by step for the player and for exports.
//!
//! - [`Denoiser`]: a UNet as an ε-predictor on flat batches (v and x₀ nets converted to ε).
//! - [`ChainSpec`] + [`run_chain`]: one reverse chain, reporting every step and recording
//!   frames (x_t, x̂₀, ε̂ and the added noise, quantised to u8 per frame) at a stride.
//! - [`job`]: the same on a background job ([`crate::jobs`]), with progress and cancel.
//! - [`export`]: grids, labelled grids, GIF and PNG frames, `.npy` and the run card.
//!
//! Every sample i draws its x_T and its fresh noise from its own random streams, so sample i
//! is the same whatever the grid size, and one sample can be re-run alone (branching).

pub mod export;
mod font;
pub mod job;
pub mod seed000;

use crate::config::Target;
use crate::diffusion::{KarrasSolver, Rng, SamplerKind, SamplerPlan, ScheduleTable, Solver, Step};
use crate::model::{CpuUNet, UNet};
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::atomic::{AtomicBool, Ordering};

/// The samplers by name, as offered in the player and on the command line.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerChoice {
    /// DDPM with σ² = β.
    Ddpm,
    /// DDPM with σ² = β̃.
    DdpmTilde,
    /// DDIM with η, S steps and a spacing.
    #[default]
    Ddim,
    /// Improved-DDPM's strided respacing with K steps and the fixed σ² = β̃′ of the respaced
    /// chain ("strided (fixed Σ)").
    #[value(alias = "strided")]
    Iddpm,
    /// Improved DDPM proper: strided respacing with K steps and the model's learned Σ_θ,
    /// interpolated between the respaced β′ and β̃′ (a model trained with a learned-Σ loss).
    #[value(name = "iddpm-learned")]
    #[serde(rename = "iddpm-learned")]
    IddpmLearned,
    /// DDPM over all T steps with the model's learned Σ_θ.
    #[value(name = "ddpm-learned")]
    #[serde(rename = "ddpm-learned")]
    DdpmLearned,
    /// Euler on the probability-flow ODE over S points of the Karras σ grid (DDIM η = 0 on
    /// those timesteps; S model calls).
    #[value(name = "euler-karras")]
    #[serde(rename = "euler-karras")]
    EulerKarras,
    /// Heun (second order) over S points of the Karras σ grid (2S − 1 model calls).
    #[value(name = "heun-karras")]
    #[serde(rename = "heun-karras")]
    HeunKarras,
    /// DPM-Solver++(2M), second-order multistep, over S points of the Karras σ grid (S model
    /// calls).
    #[value(name = "dpmpp-2m", alias = "dpm-solver++")]
    #[serde(rename = "dpmpp-2m")]
    DpmPp2m,
}

impl SamplerChoice {
    /// Every sampler, in menu order.
    pub const ALL: [SamplerChoice; 9] = [
        SamplerChoice::Ddpm,
        SamplerChoice::DdpmTilde,
        SamplerChoice::DdpmLearned,
        SamplerChoice::Ddim,
        SamplerChoice::Iddpm,
        SamplerChoice::IddpmLearned,
        SamplerChoice::EulerKarras,
        SamplerChoice::HeunKarras,
        SamplerChoice::DpmPp2m,
    ];

    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            SamplerChoice::Ddpm => "DDPM (σ² = β)",
            SamplerChoice::DdpmTilde => "DDPM (σ² = β-tilde)",
            SamplerChoice::Ddim => "DDIM",
            SamplerChoice::Iddpm => "strided (fixed Σ)",
            SamplerChoice::IddpmLearned => "strided (learned Σ, iDDPM)",
            SamplerChoice::DdpmLearned => "DDPM (learned Σ)",
            SamplerChoice::EulerKarras => "Euler (Karras σ)",
            SamplerChoice::HeunKarras => "Heun (Karras σ)",
            SamplerChoice::DpmPp2m => "DPM-Solver++ (2M, Karras σ)",
        }
    }

    /// What the sampler does, for the menu's tooltip.
    pub fn tooltip(self) -> &'static str {
        match self {
            SamplerChoice::Ddpm => "Ancestral DDPM over all T steps with σ² = β (Ho et al. Alg. 2)",
            SamplerChoice::DdpmTilde => {
                "Ancestral DDPM over all T steps with σ² = β̃, the posterior variance"
            }
            SamplerChoice::Ddim => {
                "DDIM over S of the T steps; η = 0 is deterministic, η = 1 is DDPM-like"
            }
            SamplerChoice::Iddpm => {
                "Improved DDPM's strided respacing over K steps with the fixed σ² = β̃′ of the \
                 respaced chain. It is not improved DDPM until the model learns Σ: train with \
                 loss = hybrid and pick 'strided (learned Σ)'"
            }
            SamplerChoice::IddpmLearned => {
                "Improved DDPM (seed 001 §3.1, seed 004 Method 5.1): strided respacing over K \
                 steps with the model's Σ_θ = exp(v·log β′ + (1 − v)·log β̃′) for each jump. \
                 Needs a model trained with a learned variance (loss = hybrid or vlb)"
            }
            SamplerChoice::DdpmLearned => {
                "Ancestral DDPM over all T steps with the model's learned Σ_θ = \
                 exp(v·log β + (1 − v)·log β̃). Needs a model trained with loss = hybrid or vlb"
            }
            SamplerChoice::EulerKarras => {
                "Euler on the probability-flow ODE over S points of the Karras σ grid (ρ = 7, \
                 dense near the data); deterministic, S model calls. The same update as DDIM η = 0, \
                 on other timesteps"
            }
            SamplerChoice::HeunKarras => {
                "Heun (second order) on the probability-flow ODE over S points of the Karras σ \
                 grid: an Euler guess, then a correction with the slope at its end; \
                 deterministic, 2S − 1 model calls"
            }
            SamplerChoice::DpmPp2m => {
                "DPM-Solver++ (2M) over S points of the Karras σ grid: second order by reusing \
                 the previous step's x̂₀ (multistep); deterministic, S model calls"
            }
        }
    }

    /// Whether the sampler takes a step count (all but full DDPM).
    pub fn has_steps(self) -> bool {
        !matches!(
            self,
            SamplerChoice::Ddpm | SamplerChoice::DdpmTilde | SamplerChoice::DdpmLearned
        )
    }

    /// Whether the sampler needs a model that learned Σ.
    pub fn needs_learned_sigma(self) -> bool {
        matches!(
            self,
            SamplerChoice::IddpmLearned | SamplerChoice::DdpmLearned
        )
    }

    /// The same sampler with a fixed variance (β̃), for a model that did not learn Σ.
    pub fn fixed_twin(self) -> Self {
        match self {
            SamplerChoice::IddpmLearned => SamplerChoice::Iddpm,
            SamplerChoice::DdpmLearned => SamplerChoice::DdpmTilde,
            other => other,
        }
    }

    /// Whether the sampler strides over K steps (and so has a rounding rule).
    pub fn is_strided(self) -> bool {
        matches!(self, SamplerChoice::Iddpm | SamplerChoice::IddpmLearned)
    }

    /// The sampler with these settings and the strided samplers' rounding `rule`.
    pub fn kind_with_rule(
        self,
        steps: usize,
        eta: f64,
        spacing: crate::diffusion::Spacing,
        rule: crate::diffusion::StrideRule,
    ) -> SamplerKind {
        match self.kind(steps, eta, spacing) {
            SamplerKind::Iddpm {
                steps, variance, ..
            } => SamplerKind::Iddpm {
                steps,
                variance,
                rule,
            },
            other => other,
        }
    }

    /// The sampler with these settings (`steps` is ignored by DDPM, `eta` and `spacing` by
    /// all but DDIM).
    pub fn kind(self, steps: usize, eta: f64, spacing: crate::diffusion::Spacing) -> SamplerKind {
        use crate::diffusion::DdpmVariance;
        match self {
            SamplerChoice::Ddpm => SamplerKind::Ddpm {
                variance: DdpmVariance::Beta,
            },
            SamplerChoice::DdpmTilde => SamplerKind::Ddpm {
                variance: DdpmVariance::BetaTilde,
            },
            SamplerChoice::Ddim => SamplerKind::Ddim {
                steps,
                eta,
                spacing,
            },
            SamplerChoice::Iddpm => SamplerKind::Iddpm {
                steps,
                variance: DdpmVariance::BetaTilde,
                rule: crate::diffusion::StrideRule::Floor,
            },
            SamplerChoice::IddpmLearned => SamplerKind::Iddpm {
                steps,
                variance: DdpmVariance::Learned,
                rule: crate::diffusion::StrideRule::Floor,
            },
            SamplerChoice::DdpmLearned => SamplerKind::Ddpm {
                variance: DdpmVariance::Learned,
            },
            SamplerChoice::EulerKarras => SamplerKind::Karras {
                solver: KarrasSolver::Euler,
                steps,
            },
            SamplerChoice::HeunKarras => SamplerKind::Karras {
                solver: KarrasSolver::Heun,
                steps,
            },
            SamplerChoice::DpmPp2m => SamplerKind::Karras {
                solver: KarrasSolver::DpmPp2m,
                steps,
            },
        }
    }

    /// The menu entry that plans `kind`.
    pub fn of_kind(kind: &SamplerKind) -> Self {
        use crate::diffusion::DdpmVariance;
        match kind {
            SamplerKind::Ddpm {
                variance: DdpmVariance::Beta,
            } => SamplerChoice::Ddpm,
            SamplerKind::Ddpm {
                variance: DdpmVariance::BetaTilde,
            } => SamplerChoice::DdpmTilde,
            SamplerKind::Ddpm {
                variance: DdpmVariance::Learned,
            } => SamplerChoice::DdpmLearned,
            SamplerKind::Ddim { .. } => SamplerChoice::Ddim,
            SamplerKind::Iddpm {
                variance: DdpmVariance::Learned,
                ..
            } => SamplerChoice::IddpmLearned,
            SamplerKind::Iddpm { .. } => SamplerChoice::Iddpm,
            SamplerKind::Karras { solver, .. } => match solver {
                KarrasSolver::Euler => SamplerChoice::EulerKarras,
                KarrasSolver::Heun => SamplerChoice::HeunKarras,
                KarrasSolver::DpmPp2m => SamplerChoice::DpmPp2m,
            },
        }
    }
}

/// A UNet as an ε-predictor on flat batches of images of one shape.
pub struct Denoiser<'a> {
    /// The network (private: the CPU path caches a copy of its weights).
    model: &'a UNet,
    /// Where it runs.
    device: &'a Device,
    /// The schedule it was trained with.
    pub table: &'a ScheduleTable,
    /// What the network predicts.
    pub target: Target,
    /// [C, H, W] of one image.
    pub shape: [usize; 3],
    /// Which forward pass evaluates the network.
    pub engine: Engine,
    /// The CPU path's copy of the weights, made on first use.
    cpu: std::sync::OnceLock<CpuUNet>,
    /// The noisy classifier of classifier guidance (used when the guidance's γ > 0).
    classifier: Option<std::sync::Arc<crate::model::NoisyClassifier>>,
    /// Whether the network also outputs v for a learned Σ (2·C output channels).
    learns_sigma: bool,
}

/// Which forward pass a [`Denoiser`] evaluates the network with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The CPU path (`CpuUNet`) when the model is on the CPU, burn on a GPU.
    #[default]
    Auto,
    /// Always burn's forward pass on the model's device (Flex on the CPU).
    Burn,
}

impl<'a> Denoiser<'a> {
    /// `model` on `device` as an ε-predictor for images of `shape` ([C, H, W]), with the
    /// fastest forward pass for the device ([`Engine::Auto`]).
    pub fn new(
        model: &'a UNet,
        device: &'a Device,
        table: &'a ScheduleTable,
        target: Target,
        shape: [usize; 3],
    ) -> Self {
        Self {
            model,
            device,
            table,
            target,
            shape,
            engine: Engine::Auto,
            cpu: std::sync::OnceLock::new(),
            classifier: None,
            learns_sigma: model.learns_sigma(),
        }
    }

    /// Whether the network learned Σ (it then gives a variance output o beside ε̂).
    pub fn learns_sigma(&self) -> bool {
        self.learns_sigma
    }

    /// The same, with a noisy classifier for classifier guidance.
    pub fn with_classifier(
        mut self,
        classifier: Option<std::sync::Arc<crate::model::NoisyClassifier>>,
    ) -> Self {
        self.classifier = classifier;
        self
    }

    /// The noisy classifier attached for classifier guidance, if any.
    pub fn classifier(&self) -> Option<&crate::model::NoisyClassifier> {
        self.classifier.as_deref()
    }

    /// The same, evaluated with `engine`.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// Whether the CPU path evaluates the network: the model is on burn's CPU backend and the
    /// engine is `Auto`. It gives the same numbers as burn to about 1e-6 (tests/cpu_unet.rs),
    /// several times faster (BENCHMARKS.md).
    pub fn uses_cpu_path(&self) -> bool {
        self.engine == Engine::Auto && *self.device == Device::flex()
    }

    /// The network's raw output for the flat batch `x` at timestep `t`, with one label per
    /// sample for a conditional model (None: the null label).
    fn network(&self, t: usize, x: &[f32], labels: Option<&[usize]>) -> Vec<f32> {
        let [c, h, w] = self.shape;
        let b = x.len() / (c * h * w).max(1);
        let tf = vec![t as f32; b];
        if self.uses_cpu_path() {
            return self
                .cpu
                .get_or_init(|| CpuUNet::from_unet(self.model))
                .forward_labeled(&x[..b * c * h * w], self.shape, &tf, labels);
        }
        let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [b, c, h, w]), self.device);
        self.model
            .forward_labeled(input, &tf, labels)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default()
    }

    /// The class labels the model is conditioned on (0: unconditional).
    pub fn num_classes(&self) -> usize {
        self.model.num_classes()
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.shape.iter().product()
    }

    /// The network's output split into the prediction and (a learned-Σ model's) o, each
    /// [b, C, H, W].
    fn network_split(
        &self,
        t: usize,
        x: &[f32],
        labels: Option<&[usize]>,
    ) -> (Vec<f32>, Option<Vec<f32>>) {
        let out = self.network(t, x, labels);
        if self.learns_sigma {
            let (pred, var) = crate::diffusion::learned::split_output(&out, self.pixels());
            (pred, Some(var))
        } else {
            (out, None)
        }
    }

    /// Writes ε̂(x, t) for the batch `x` (flat [b, C, H, W]) into `eps_out` (a conditional
    /// model: ε̂(x, ∅, t)).
    pub fn predict(&self, t: usize, x: &[f32], eps_out: &mut [f32]) {
        self.predict_var(t, x, eps_out, None);
    }

    /// As [`Self::predict`], also writing a learned-Σ model's variance output o into
    /// `var_out` (left as it is for a fixed-variance model).
    pub fn predict_var(
        &self,
        t: usize,
        x: &[f32],
        eps_out: &mut [f32],
        var_out: Option<&mut [f32]>,
    ) {
        let (out, var) = self.network_split(t, x, None);
        self.to_eps(t, x, &out, eps_out);
        copy_var(var.as_deref(), var_out);
    }

    /// As [`Self::predict`], guided towards the classes of `guidance` (`first` is the grid
    /// index of the batch's first sample): the classifier-free ε̃ = (1 + w)·ε(x, y) − w·ε(x, ∅),
    /// from one network call on the doubled batch (one call on the batch when w = 0).
    pub fn predict_guided(
        &self,
        t: usize,
        x: &[f32],
        first: usize,
        guidance: Option<&Guidance>,
        eps_out: &mut [f32],
    ) {
        self.predict_guided_var(t, x, first, guidance, eps_out, None);
    }

    /// As [`Self::predict_guided`], also writing a learned-Σ model's variance output o (of
    /// the conditional prediction, as GLIDE's guided sampler takes it) into `var_out`.
    pub fn predict_guided_var(
        &self,
        t: usize,
        x: &[f32],
        first: usize,
        guidance: Option<&Guidance>,
        eps_out: &mut [f32],
        var_out: Option<&mut [f32]>,
    ) {
        let Some(g) = guidance.filter(|g| !g.labels.is_empty()) else {
            return self.predict_var(t, x, eps_out, var_out);
        };
        let b = x.len() / self.pixels().max(1);
        let labels: Vec<usize> = (0..b).map(|i| g.label(first + i)).collect();
        self.predict_cfg(t, x, &labels, g.w, eps_out, var_out);
        // Classifier guidance (seed 001 Alg. 4, the digest's corrected form); γ = 0 leaves
        // the chain exactly as it was.
        if g.gamma > 0.0
            && let Some(c) = &self.classifier
        {
            let (_, grad) = c.grad_log_prob(x, t, &labels);
            let one_minus = self.table.one_minus_alpha_bar_at(t);
            crate::diffusion::guidance::classifier_guided_eps(eps_out, &grad, g.gamma, one_minus);
        }
    }

    /// ε̂ for `labels`: the conditional model with classifier-free guidance weight `w`, or the
    /// unconditional model as it is.
    fn predict_cfg(
        &self,
        t: usize,
        x: &[f32],
        labels: &[usize],
        w: f64,
        eps_out: &mut [f32],
        var_out: Option<&mut [f32]>,
    ) {
        let b = labels.len();
        if self.num_classes() == 0 {
            return self.predict_var(t, x, eps_out, var_out);
        }
        if w == 0.0 {
            let (out, var) = self.network_split(t, x, Some(labels));
            copy_var(var.as_deref(), var_out);
            return self.to_eps(t, x, &out, eps_out);
        }
        let mut both = Vec::with_capacity(2 * x.len());
        both.extend_from_slice(x);
        both.extend_from_slice(x);
        let mut both_labels = labels.to_vec();
        both_labels.extend(std::iter::repeat_n(self.num_classes(), b));
        let (out, var) = self.network_split(t, &both, Some(&both_labels));
        copy_var(var.as_deref().map(|v| &v[..x.len()]), var_out);
        let mut uncond = vec![0f32; x.len()];
        self.to_eps(t, x, &out[..x.len()], eps_out);
        self.to_eps(t, x, &out[x.len()..], &mut uncond);
        crate::diffusion::guidance::cfg_combine(eps_out, &uncond, w);
    }

    /// Converts the network's output `out` for `x` at `t` into ε̂ (by the training target).
    fn to_eps(&self, t: usize, x: &[f32], out: &[f32], eps_out: &mut [f32]) {
        let (a, s) = (
            self.table.sqrt_alpha_bar[t - 1],
            self.table.sqrt_one_minus_alpha_bar[t - 1],
        );
        for i in 0..x.len() {
            let (xi, o) = (
                f64::from(x[i]),
                f64::from(out.get(i).copied().unwrap_or(0.0)),
            );
            eps_out[i] = match self.target {
                Target::Eps => o,
                Target::X0 => (xi - a * o) / s.max(1e-12),
                Target::V => s * xi + a * o,
            } as f32;
        }
    }
}

/// Copies a variance output into `out` when both exist.
fn copy_var(var: Option<&[f32]>, out: Option<&mut [f32]>) {
    if let (Some(v), Some(o)) = (var, out) {
        let n = v.len().min(o.len());
        o[..n].copy_from_slice(&v[..n]);
    }
}

/// Wraps `model` as an ε-predictor closure (see [`Denoiser::predict`]).
pub fn eps_predictor<'a>(
    model: &'a UNet,
    device: &'a Device,
    table: &'a ScheduleTable,
    target: Target,
    shape: [usize; 3],
) -> impl FnMut(usize, &[f32], &mut [f32]) + 'a {
    let den = Denoiser::new(model, device, table, target, shape);
    move |t, x, eps_out| den.predict(t, x, eps_out)
}

/// Classifier-free guidance for a chain: the class each sample is asked for and the weight.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guidance {
    /// The class of grid sample i is `labels[i % labels.len()]`: one entry asks the whole grid
    /// for one class; `rows_of_classes` gives a grid with one class per row.
    pub labels: Vec<usize>,
    /// The weight w ≥ 0 of ε̃ = (1 + w)·ε(x, y) − w·ε(x, ∅) (seed 004's convention; the
    /// "guidance scale" of other code is 1 + w). 0: the conditional model alone.
    pub w: f64,
    /// Classifier-guidance scale γ ≥ 0 (used with a noisy classifier on the denoiser):
    /// ε̂ = ε − γ·√(1 − ᾱ_t)·∇ₓ log p_φ(y | x_t). 0: none.
    #[serde(default)]
    pub gamma: f64,
}

impl Guidance {
    /// Every sample asks for `class`.
    pub fn class(class: usize, w: f64) -> Self {
        Self {
            labels: vec![class],
            w,
            gamma: 0.0,
        }
    }

    /// A grid of `n` samples in rows of `cols`, row r asking for class r mod `classes`.
    pub fn rows_of_classes(n: usize, cols: usize, classes: usize, w: f64) -> Self {
        let cols = cols.max(1);
        Self {
            labels: (0..n.max(1)).map(|i| (i / cols) % classes.max(1)).collect(),
            w,
            gamma: 0.0,
        }
    }

    /// The class of grid sample `i`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i % self.labels.len().max(1)]
    }
}

/// x_T for `n` samples: sample i always gets the same noise for a seed, whatever n is.
pub fn initial_noise(n: usize, pixels: usize, seed: u64) -> Vec<f32> {
    initial_noise_from(0, n, pixels, seed)
}

/// x_T for samples `first..first + n` of the grid drawn with `seed`.
pub fn initial_noise_from(first: usize, n: usize, pixels: usize, seed: u64) -> Vec<f32> {
    let mut x = Vec::with_capacity(n * pixels);
    for i in first..first + n {
        let mut rng = Rng::stream(seed, i as u64);
        x.extend(rng.normal_vec::<f32>(pixels));
    }
    x
}

/// Mixed into the seed of the fresh-noise streams so they never repeat x_T's streams.
const Z_SALT: u64 = 0x7A5E_ED00_D1FF_u64;

/// One image batch quantised to u8 with its own range, so values outside [−1, 1] (x_T, ε̂)
/// survive: value = lo + q·(hi − lo)/255.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QFrame {
    /// The value of byte 0.
    pub lo: f32,
    /// The value of byte 255.
    pub hi: f32,
    /// The bytes, [n, C, H, W].
    pub data: Vec<u8>,
}

impl QFrame {
    /// Quantises `v` over its own finite range (non-finite values map to `lo`).
    pub fn encode(v: &[f32]) -> Self {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &x in v.iter().filter(|x| x.is_finite()) {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        if lo > hi {
            (lo, hi) = (0.0, 0.0);
        }
        let span = (hi - lo).max(1e-12);
        let data = v
            .iter()
            .map(|&x| {
                if x.is_finite() {
                    ((x - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                }
            })
            .collect();
        Self { lo, hi, data }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The value at `i` (within (hi − lo)/510 of the original).
    pub fn value(&self, i: usize) -> f32 {
        let q = f32::from(self.data.get(i).copied().unwrap_or(0));
        self.lo + q * (self.hi - self.lo) / 255.0
    }

    /// Values `range` (e.g. one sample's pixels), decoded.
    pub fn values(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        range.map(|i| self.value(i)).collect()
    }

    /// Display bytes: the value mapped from [−1, 1] to 0..=255 and clipped, like the data.
    pub fn display_u8(&self) -> Vec<u8> {
        (0..self.len())
            .map(|i| crate::data::unit_to_u8(self.value(i)))
            .collect()
    }
}

/// One recorded step of a chain: the state x_t and what the sampler did with it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainFrame {
    /// How many steps of the plan ran before this x_t (0 for x_T).
    pub index: usize,
    /// The timestep of x_t (0 for the final sample).
    pub t: usize,
    /// The step applied to x_t (None for the final frame).
    pub step: Option<Step>,
    /// x_t.
    pub xt: QFrame,
    /// x̂₀, by the sampler's own formula (after the optional clip).
    pub x0: QFrame,
    /// ε̂ as used by the update.
    pub eps: QFrame,
    /// The fresh noise σ·z added by this step.
    pub noise: QFrame,
}

/// A statistic of every step, recorded whatever the frame stride.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStat {
    /// The timestep of x_t.
    pub t: usize,
    /// The variance of x_t across the grid (per pixel over samples, averaged over pixels;
    /// over all pixels when the grid has one sample).
    pub var_xt: f64,
    /// 1 − ᾱ_t, the forward process's noise variance at t.
    pub one_minus_alpha_bar: f64,
}

/// A recorded reverse chain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChainRecord {
    /// Samples in the grid.
    pub n: usize,
    /// [C, H, W] of one sample.
    pub shape: [usize; 3],
    /// The steps the sampler will run in all.
    pub total_steps: usize,
    /// Steps run so far.
    pub steps_done: usize,
    /// Recorded frames, from x_T (or x_{t0}) to x₀.
    pub frames: Vec<ChainFrame>,
    /// Every step's statistic, followed by x₀'s.
    pub stats: Vec<StepStat>,
}

impl ChainRecord {
    /// Memory held by the frames, in bytes.
    pub fn bytes(&self) -> usize {
        self.frames
            .iter()
            .map(|f| f.xt.len() + f.x0.len() + f.eps.len() + f.noise.len())
            .sum()
    }

    /// Pixels per sample.
    pub fn pixels(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the chain reached x₀.
    pub fn is_complete(&self) -> bool {
        self.frames
            .last()
            .is_some_and(|f| f.t == 0 && f.step.is_none())
    }
}

/// The memory the player lets a recorded chain take by default (frames only).
pub const FRAME_BUDGET_BYTES: usize = 64 << 20;

/// The smallest stride whose recorded frames (4 u8 arrays each) fit in `budget` bytes.
pub fn auto_stride(n: usize, pixels: usize, steps: usize, budget: usize) -> usize {
    let per_frame = (4 * n * pixels).max(1);
    let frames_fit = (budget / per_frame).max(2);
    steps.div_ceil(frames_fit - 1).max(1)
}

/// What to sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainSpec {
    /// The steps to run.
    pub plan: SamplerPlan,
    /// Samples in the grid.
    pub n: usize,
    /// Seed of x_T.
    pub seed: u64,
    /// Seed of the fresh noise (usually `seed`; a fresh one for branches).
    pub noise_seed: u64,
    /// The grid index of the first sample (branching re-runs one sample alone).
    pub first_index: usize,
    /// Clip x̂₀ to [−1, 1].
    pub clip: bool,
    /// Record a frame every `stride` steps (and always the first and the last).
    pub stride: usize,
    /// Start from this state (flat [n, C, H, W]) at the plan's first t instead of x_T ~ N(0, I).
    pub start: Option<Vec<f32>>,
    /// Ask a class-conditional model for classes (None: unconditional sampling).
    pub guidance: Option<Guidance>,
}

impl ChainSpec {
    /// `n` samples of `plan` from the seed's x_T, every step recorded.
    pub fn new(plan: SamplerPlan, n: usize, seed: u64, clip: bool) -> Self {
        Self {
            plan,
            n,
            seed,
            noise_seed: seed,
            first_index: 0,
            clip,
            stride: 1,
            start: None,
            guidance: None,
        }
    }
}

/// The variance of x_t across the grid (see [`StepStat::var_xt`]).
fn grid_variance(x: &[f32], n: usize) -> f64 {
    if x.is_empty() || n == 0 {
        return 0.0;
    }
    let pixels = x.len() / n;
    if n == 1 {
        let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
        return x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / x.len() as f64;
    }
    let mut total = 0.0;
    for p in 0..pixels {
        let col = (0..n).map(|i| f64::from(x[i * pixels + p]));
        let m = col.clone().sum::<f64>() / n as f64;
        total += col.map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    }
    total / pixels as f64
}

/// Runs `spec`, calling `sink` after every step with its statistic and, at the stride, its
/// frame. Returns x₀ (flat [n, C, H, W]), or None if `cancel` was set.
pub fn run_chain(
    den: &Denoiser<'_>,
    spec: &ChainSpec,
    cancel: &AtomicBool,
    mut sink: impl FnMut(StepStat, Option<ChainFrame>),
) -> Option<Vec<f32>> {
    let pixels = den.pixels();
    let mut x = match &spec.start {
        Some(s) => s.clone(),
        None => initial_noise_from(spec.first_index, spec.n, pixels, spec.seed),
    };
    let len = x.len();
    let mut rngs: Vec<Rng> = (0..spec.n)
        .map(|i| Rng::stream(spec.noise_seed ^ Z_SALT, (spec.first_index + i) as u64))
        .collect();
    let (mut eps, mut z, mut next) = (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
    // A learned-Σ plan asks the model for its variance output too (a fixed-variance model
    // has none: its steps then use β̃, and the callers refuse that pairing up front).
    let learned = spec.plan.uses_learned_variance() && den.learns_sigma();
    let mut var = if learned { vec![0f32; len] } else { Vec::new() };
    let mut solver = Solver::new(len, spec.clip);
    let stride = spec.stride.max(1);
    let table = den.table;
    for (k, step) in spec.plan.steps.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        den.predict_guided_var(
            step.t,
            &x,
            spec.first_index,
            spec.guidance.as_ref(),
            &mut eps,
            learned.then_some(&mut var[..]),
        );
        if step.is_stochastic() {
            for (i, rng) in rngs.iter_mut().enumerate() {
                rng.fill_normal(&mut z[i * pixels..(i + 1) * pixels]);
            }
        } else {
            z.iter_mut().for_each(|v| *v = 0.0);
        }
        // Heun's second ε̂ is asked at t' on its Euler guess, with the same guidance.
        let mut again = |t: usize, xs: &[f32], out: &mut [f32]| {
            den.predict_guided(t, xs, spec.first_index, spec.guidance.as_ref(), out);
        };
        let v = learned.then_some(&var[..]);
        solver.step_var(step, &x, &eps, v, &z, &mut again, &mut next);
        let stat = StepStat {
            t: step.t,
            var_xt: grid_variance(&x, spec.n),
            one_minus_alpha_bar: 1.0 - table.alpha_bar_at(step.t),
        };
        let frame = (k % stride == 0 || k + 1 == spec.plan.steps.len()).then(|| ChainFrame {
            index: k,
            t: step.t,
            step: Some(*step),
            xt: QFrame::encode(&x),
            x0: QFrame::encode(&solver.x0),
            eps: QFrame::encode(&solver.eps),
            noise: QFrame::encode(&solver.noise),
        });
        sink(stat, frame);
        std::mem::swap(&mut x, &mut next);
    }
    let zeros = QFrame::encode(&vec![0f32; len]);
    sink(
        StepStat {
            t: 0,
            var_xt: grid_variance(&x, spec.n),
            one_minus_alpha_bar: 0.0,
        },
        Some(ChainFrame {
            index: spec.plan.steps.len(),
            t: 0,
            step: None,
            xt: QFrame::encode(&x),
            x0: QFrame::encode(&x),
            eps: zeros.clone(),
            noise: zeros,
        }),
    );
    Some(x)
}

/// Runs `spec` to the end and returns x₀ with the whole record.
pub fn record_chain(den: &Denoiser<'_>, spec: &ChainSpec) -> (Vec<f32>, ChainRecord) {
    let mut rec = ChainRecord {
        n: spec.n,
        shape: den.shape,
        total_steps: spec.plan.steps.len(),
        ..ChainRecord::default()
    };
    let never = AtomicBool::new(false);
    let x = run_chain(den, spec, &never, |stat, frame| {
        rec.stats.push(stat);
        if stat.t > 0 {
            rec.steps_done += 1;
        }
        if let Some(f) = frame {
            rec.frames.push(f);
        }
    })
    .unwrap_or_default();
    (x, rec)
}

/// Draws `spec.n` samples of `spec.plan` (from `spec.seed`, clipping as `spec.clip` says) in
/// batches of at most `batch`, recording no chain frames, so memory stays bounded for
/// thousands of samples. Sample i gets the same x_T and noise streams as in one big chain, so
/// the result does not depend on `batch`. `progress(done, n)` is called before each batch and
/// after the last; None when it returns false or `cancel` is set.
pub fn sample_batched(
    den: &Denoiser<'_>,
    spec: &ChainSpec,
    batch: usize,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Option<Vec<f32>> {
    let n = spec.n;
    let mut out = Vec::with_capacity(n * den.pixels());
    for start in (0..n).step_by(batch.max(1)) {
        if !progress(start, n) {
            return None;
        }
        let mut part = spec.clone();
        part.n = (n - start).min(batch.max(1));
        part.first_index = spec.first_index + start;
        part.stride = usize::MAX;
        out.extend(run_chain(den, &part, cancel, |_, _| {})?);
    }
    progress(n, n).then_some(out)
}

/// Draws `n` samples with `plan`; returns x₀ as a flat [n, C, H, W] vector in [−1, 1]-ish.
#[expect(
    clippy::too_many_arguments,
    reason = "a flat call used by the preview thread, the CLI and tests alike"
)]
pub fn sample_images(
    model: &UNet,
    device: &Device,
    table: &ScheduleTable,
    target: Target,
    plan: &SamplerPlan,
    n: usize,
    shape: [usize; 3],
    seed: u64,
    clip: bool,
) -> Vec<f32> {
    let never = AtomicBool::new(false);
    let sampled = sample_images_until(
        model, device, table, target, plan, n, shape, seed, clip, &never,
    );
    sampled.unwrap_or_default()
}

/// [`sample_images`] that stops after the step during which `cancel` is set (None then).
#[allow(clippy::too_many_arguments)]
pub fn sample_images_until(
    model: &UNet,
    device: &Device,
    table: &ScheduleTable,
    target: Target,
    plan: &SamplerPlan,
    n: usize,
    shape: [usize; 3],
    seed: u64,
    clip: bool,
    cancel: &AtomicBool,
) -> Option<Vec<f32>> {
    let den = Denoiser::new(model, device, table, target, shape);
    let mut spec = ChainSpec::new(plan.clone(), n, seed, clip);
    spec.stride = usize::MAX;
    run_chain(&den, &spec, cancel, |_, _| {})
}

/// One point of a noise-then-denoise sweep: x₀ taken to x_{t0} and brought back.
#[derive(Clone, Debug, PartialEq)]
pub struct Reconstruction {
    /// The timestep the image was noised to.
    pub t0: usize,
    /// PSNR of the reconstruction against the original, in dB.
    pub psnr: f64,
    /// SSIM of the reconstruction against the original.
    pub ssim: f64,
    /// x_{t0}.
    pub noised: Vec<f32>,
    /// The reverse chain's x₀ from x_{t0}.
    pub recon: Vec<f32>,
}

/// Noises `image` (one [C, H, W] image in [−1, 1]) to each t0 in `t0s` with the same ε, runs
/// `kind` back from there, and measures the reconstruction. Ok(None) if `cancel` was set.
pub fn noise_then_denoise(
    den: &Denoiser<'_>,
    kind: crate::diffusion::SamplerKind,
    image: &[f32],
    t0s: &[usize],
    seed: u64,
    clip: bool,
    cancel: &AtomicBool,
) -> Result<Option<Vec<Reconstruction>>, crate::diffusion::SamplerError> {
    let eps: Vec<f32> = Rng::stream(seed, u64::MAX - 1).normal_vec(image.len());
    let mut out = Vec::with_capacity(t0s.len());
    for &t0 in t0s {
        let plan = SamplerPlan::starting_at(den.table, kind, t0)?;
        let (a, s) = (
            den.table.sqrt_alpha_bar[t0 - 1],
            den.table.sqrt_one_minus_alpha_bar[t0 - 1],
        );
        let noised: Vec<f32> = image
            .iter()
            .zip(&eps)
            .map(|(&x, &e)| (a * f64::from(x) + s * f64::from(e)) as f32)
            .collect();
        let mut spec = ChainSpec::new(plan, 1, seed, clip);
        spec.stride = usize::MAX;
        spec.start = Some(noised.clone());
        let Some(recon) = run_chain(den, &spec, cancel, |_, _| {}) else {
            return Ok(None);
        };
        out.push(Reconstruction {
            t0,
            psnr: crate::diffusion::quality::psnr(image, &recon),
            ssim: crate::diffusion::quality::ssim(image, &recon, den.shape),
            noised,
            recon,
        });
    }
    Ok(Some(out))
}

/// Steps a noise-then-denoise sweep runs in all (for progress bars).
pub fn noise_then_denoise_steps(
    table: &ScheduleTable,
    kind: crate::diffusion::SamplerKind,
    t0s: &[usize],
) -> usize {
    t0s.iter()
        .filter_map(|&t0| SamplerPlan::starting_at(table, kind, t0).ok())
        .map(|p| p.steps.len())
        .sum()
}
