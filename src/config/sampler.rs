//! The sampler settings of a preset (`[sampler]`): which family, how many steps, η and spacing.

use crate::diffusion::{DdpmVariance, KarrasSolver, SamplerKind, Spacing, StrideRule};
use serde::{Deserialize, Serialize};

/// The sampler families a preset can name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerName {
    /// Ancestral DDPM over all T steps, σ² = β.
    Ddpm,
    /// Ancestral DDPM over all T steps, σ² = β̃.
    DdpmTilde,
    /// DDIM over `steps` steps with stochasticity η.
    #[default]
    Ddim,
    /// Improved DDPM's strided respacing over `steps` steps with the fixed σ² = β̃′.
    #[serde(alias = "strided")]
    Iddpm,
    /// Strided respacing with the model's learned Σ_θ (improved DDPM proper).
    IddpmLearned,
    /// Ancestral DDPM over all T steps with the model's learned Σ_θ.
    DdpmLearned,
    /// Euler on the probability-flow ODE over `steps` points of the Karras σ grid.
    EulerKarras,
    /// Heun (second order) over `steps` points of the Karras σ grid.
    HeunKarras,
    /// DPM-Solver++(2M) over `steps` points of the Karras σ grid.
    #[serde(rename = "dpmpp-2m")]
    DpmPp2m,
}

/// `[sampler]`: how to draw samples from the trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerSpec {
    /// The sampler family.
    pub kind: SamplerName,
    /// Sampling steps S (DDIM, the Karras samplers) or K (the strided samplers); DDPM always runs all T.
    pub steps: usize,
    /// DDIM's η ≥ 0 (0: deterministic).
    pub eta: f64,
    /// How DDIM spreads its S steps over 1..T.
    pub spacing: Spacing,
    /// Number of samples.
    pub n: usize,
    /// Seed of x_T and of the sampler's noise.
    pub seed: u64,
    /// Clip the predicted x̂₀ to [−1, 1] at every step.
    pub clip: bool,
    /// How the strided samplers round their steps: `floor` (seed 004) or `round`
    /// (improved-diffusion).
    pub stride_rule: StrideRule,
    /// The bundled model the player samples with this preset (e.g. `mnist-cond`; absent: the
    /// player keeps its model).
    pub model: Option<String>,
}

impl Default for SamplerSpec {
    fn default() -> Self {
        Self {
            kind: SamplerName::Ddim,
            steps: 50,
            eta: 0.0,
            spacing: Spacing::Trailing,
            n: 16,
            seed: 0,
            clip: true,
            stride_rule: StrideRule::Floor,
            model: None,
        }
    }
}

impl SamplerSpec {
    /// The sampler plan's kind.
    pub fn kind(&self) -> SamplerKind {
        match self.kind {
            SamplerName::Ddpm => SamplerKind::Ddpm {
                variance: DdpmVariance::Beta,
            },
            SamplerName::DdpmTilde => SamplerKind::Ddpm {
                variance: DdpmVariance::BetaTilde,
            },
            SamplerName::Ddim => SamplerKind::Ddim {
                steps: self.steps,
                eta: self.eta,
                spacing: self.spacing,
            },
            SamplerName::Iddpm => SamplerKind::Iddpm {
                steps: self.steps,
                variance: DdpmVariance::BetaTilde,
                rule: self.stride_rule,
            },
            SamplerName::IddpmLearned => SamplerKind::Iddpm {
                steps: self.steps,
                variance: DdpmVariance::Learned,
                rule: self.stride_rule,
            },
            SamplerName::DdpmLearned => SamplerKind::Ddpm {
                variance: DdpmVariance::Learned,
            },
            SamplerName::EulerKarras => self.karras(KarrasSolver::Euler),
            SamplerName::HeunKarras => self.karras(KarrasSolver::Heun),
            SamplerName::DpmPp2m => self.karras(KarrasSolver::DpmPp2m),
        }
    }

    fn karras(&self, solver: KarrasSolver) -> SamplerKind {
        SamplerKind::Karras {
            solver,
            steps: self.steps,
        }
    }
}
