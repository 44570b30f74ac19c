//! Flag groups shared by several subcommands: the schedule flags, DDIM spacings and devices.

use crate::diffusion::{ScheduleKind, ScheduleSpec, Spacing};
use crate::model::DeviceChoice;
use clap::{Args, ValueEnum};

/// The schedule kinds, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// β linear in t.
    Linear,
    /// √β linear in t (diffusers' scaled_linear).
    ScaledLinear,
    /// Nichol & Dhariwal's cosine ᾱ.
    Cosine,
    /// sigmoid(linspace(−6, 6, T)) on β (diffusers' sigmoid).
    Sigmoid,
    /// β₁ + (β_T − β₁)·u^p.
    Power,
    /// β₁ + (β_T − β₁)·(½ − ½cos(πku)).
    Sine,
    /// β(u) from --expr.
    Custom,
    /// Seed 000's continuous schedule ᾱ(t/T) = exp(−1e−4 − 10(t/T)²).
    VDiffusion,
}

impl From<KindArg> for ScheduleKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Linear => ScheduleKind::Linear,
            KindArg::ScaledLinear => ScheduleKind::ScaledLinear,
            KindArg::Cosine => ScheduleKind::Cosine,
            KindArg::Sigmoid => ScheduleKind::Sigmoid,
            KindArg::Power => ScheduleKind::Power,
            KindArg::Sine => ScheduleKind::Sine,
            KindArg::Custom => ScheduleKind::Custom,
            KindArg::VDiffusion => ScheduleKind::VDiffusion,
        }
    }
}

/// The flags that describe a schedule; shared by every subcommand that needs one.
#[derive(Debug, Clone, Args)]
pub struct ScheduleFlags {
    /// The schedule family.
    #[arg(long, value_enum, default_value_t = KindArg::Linear)]
    pub kind: KindArg,
    /// T, the number of diffusion steps (1..=100000).
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub steps: usize,
    /// β₁ (linear, scaled-linear, sigmoid, power, sine).
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
    pub beta_start: f64,
    /// β_T (linear, scaled-linear, sigmoid, power, sine).
    #[arg(long, default_value_t = 0.02, allow_negative_numbers = true)]
    pub beta_end: f64,
    /// The cosine offset s.
    #[arg(long, default_value_t = 0.008, allow_negative_numbers = true)]
    pub cosine_s: f64,
    /// The clip on cosine β.
    #[arg(long, default_value_t = 0.999, allow_negative_numbers = true)]
    pub max_beta: f64,
    /// The exponent p of the power schedule (any p > 0; seed 003 uses 1.5, 2 and 10).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub power: f64,
    /// The number of half-waves k ≥ 1 of the sine schedule (1: a smooth ramp).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub waves: u32,
    /// β(u) for the custom schedule, an expression in u ∈ [0, 1], e.g. "1e-4 + 0.02*u^2".
    #[arg(long, allow_hyphen_values = true)]
    pub expr: Option<String>,
    /// Rescale the schedule to zero terminal SNR (√ᾱ_T → 0, ᾱ_T floored at 2⁻²⁴;
    /// diffusers' rescale_zero_terminal_snr). Train such a schedule with v-prediction.
    #[arg(long)]
    pub zero_terminal_snr: bool,
}

impl ScheduleFlags {
    /// The schedule these flags describe (not yet validated).
    pub fn spec(&self) -> ScheduleSpec {
        let defaults = ScheduleSpec::default();
        ScheduleSpec {
            kind: self.kind.into(),
            steps: self.steps,
            beta_start: self.beta_start,
            beta_end: self.beta_end,
            cosine_s: self.cosine_s,
            max_beta: self.max_beta,
            power: self.power,
            waves: self.waves,
            expr: self.expr.clone().unwrap_or(defaults.expr),
            zero_terminal_snr: self.zero_terminal_snr,
        }
    }
}

/// DDIM timestep spacings, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DdimSpacingArg {
    /// round(linspace(0, T−1, S)) + 1.
    Linspace,
    /// k·⌊T/S⌋ + 1.
    Leading,
    /// round(T − k·T/S).
    Trailing,
}

/// How the strided samplers round their K steps, as command-line values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum StrideRuleArg {
    /// Seed 004 Method 5.1: t_k = 1 + ⌊(k−1)(T−1)/(K−1)⌋.
    #[default]
    Floor,
    /// improved-diffusion's space_timesteps: the stride accumulated, rounded half to even.
    Round,
}

impl From<StrideRuleArg> for crate::diffusion::StrideRule {
    fn from(r: StrideRuleArg) -> Self {
        match r {
            StrideRuleArg::Floor => Self::Floor,
            StrideRuleArg::Round => Self::Round,
        }
    }
}

/// The training loss, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// L_simple (fixed Σ).
    Simple,
    /// L_simple + 0.001·L_vlb, learned Σ (improved DDPM).
    Hybrid,
    /// L_vlb alone, learned Σ.
    Vlb,
}

impl From<LossArg> for crate::diffusion::LossKind {
    fn from(l: LossArg) -> Self {
        match l {
            LossArg::Simple => Self::Simple,
            LossArg::Hybrid => Self::Hybrid,
            LossArg::Vlb => Self::Vlb,
        }
    }
}

/// What the network predicts, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// The noise ε.
    Eps,
    /// The velocity v = √ᾱ·ε − √(1 − ᾱ)·x₀.
    V,
    /// The clean image x₀.
    X0,
}

impl From<TargetArg> for crate::diffusion::Target {
    fn from(t: TargetArg) -> Self {
        match t {
            TargetArg::Eps => Self::Eps,
            TargetArg::V => Self::V,
            TargetArg::X0 => Self::X0,
        }
    }
}

/// The loss weighting across noise levels, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WeightingArg {
    /// The plain mean squared error of the target.
    Target,
    /// SNR + 1 in x₀ space: the v-objective's weighting, for any target.
    SnrPlusOne,
    /// max(SNR, 1) in x₀ space.
    TruncatedSnr,
    /// min(SNR, 5) in x₀ space (Min-SNR-5).
    #[value(name = "min-snr-5")]
    MinSnr5,
}

impl From<WeightingArg> for crate::diffusion::LossWeighting {
    fn from(w: WeightingArg) -> Self {
        match w {
            WeightingArg::Target => Self::Target,
            WeightingArg::SnrPlusOne => Self::SnrPlusOne,
            WeightingArg::TruncatedSnr => Self::TruncatedSnr,
            WeightingArg::MinSnr5 => Self::MinSnr5,
        }
    }
}

/// What the UNet's time embedding reads, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TimeInputArg {
    /// The step t.
    Step,
    /// The log-SNR λ(t) of the schedule (seed 000).
    LogSnr,
}

impl From<TimeInputArg> for crate::config::TimeInputKind {
    fn from(t: TimeInputArg) -> Self {
        match t {
            TimeInputArg::Step => Self::Step,
            TimeInputArg::LogSnr => Self::LogSnr,
        }
    }
}

/// How training draws t, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TSamplingArg {
    /// t ~ U{1..T}.
    Uniform,
    /// p_t ∝ √E[L_t²] (hybrid and vlb losses).
    Importance,
}

impl From<TSamplingArg> for crate::diffusion::TSampling {
    fn from(t: TSamplingArg) -> Self {
        match t {
            TSamplingArg::Uniform => Self::Uniform,
            TSamplingArg::Importance => Self::Importance,
        }
    }
}

/// Refuses a learned-Σ sampler for a model with a fixed variance.
pub fn check_learned_sampler(
    plan: &crate::diffusion::SamplerPlan,
    model: &crate::model::UNet,
    dir: &std::path::Path,
) -> Result<(), super::CliError> {
    if plan.uses_learned_variance() && !model.learns_sigma() {
        return Err(super::CliError::usage(format!(
            "--sampler iddpm-learned and ddpm-learned need a model that learned Σ (trained \
             with train.loss = \"hybrid\" or \"vlb\"); this checkpoint has a fixed variance, \
             so use --sampler iddpm (strided, fixed Σ) or ddpm-tilde: {}",
            dir.display()
        )));
    }
    Ok(())
}

impl From<DdimSpacingArg> for Spacing {
    fn from(s: DdimSpacingArg) -> Self {
        match s {
            DdimSpacingArg::Linspace => Spacing::Linspace,
            DdimSpacingArg::Leading => Spacing::Leading,
            DdimSpacingArg::Trailing => Spacing::Trailing,
        }
    }
}

/// Device names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// A hardware GPU if present, else the CPU.
    Auto,
    /// wgpu (even a software adapter).
    Gpu,
    /// burn's Flex CPU backend.
    Cpu,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Gpu => DeviceChoice::Gpu,
            DeviceArg::Cpu => DeviceChoice::Cpu,
        }
    }
}
