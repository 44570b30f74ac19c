//! Loss weightings over noise levels (Salimans & Ho 2022, "Progressive Distillation", §4;
//! the "reweights of loss function" that seed 000 takes from it).
//!
//! Every target's squared error is a multiple of the x₀-space error at the same x_t:
//! with a = √ᾱ, s = √(1 − ᾱ) and SNR = a²/s²,
//! - ε̂ − ε = −(a/s)·(x̂₀ − x₀), so |ε̂ − ε|² = SNR·|x̂₀ − x₀|²;
//! - v̂ − v = −(1/s)·(x̂₀ − x₀), so |v̂ − v|² = (1 + SNR)·|x̂₀ − x₀|²;
//! - x₀: 1.
//!
//! A weighting w(SNR) names the x₀-space loss w·|x̂₀ − x₀|² the user wants; the trainer keeps
//! regressing its own target and multiplies that target's squared error by
//! w(SNR)/(its own factor). So `snr-plus-one` on ε-prediction trains ε with v's weighting.

use super::Target;
use serde::{Deserialize, Serialize};

/// How the per-sample squared error is weighted across noise levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossWeighting {
    /// The plain mean squared error of the target (ε: SNR, v: SNR + 1, x₀: 1 in x₀ space).
    #[default]
    Target,
    /// w = SNR + 1: the v-objective's weighting (Salimans & Ho eq. 9), for any target.
    SnrPlusOne,
    /// w = max(SNR, 1): "truncated SNR" weighting (Salimans & Ho §4).
    TruncatedSnr,
    /// w = min(SNR, 5): Min-SNR-γ weighting with γ = 5 (Hang et al. 2023, "Efficient
    /// Diffusion Training via Min-SNR Weighting Strategy"). On ε-prediction it is
    /// min(1, 5/SNR): the nearly clean steps, whose ε is hard to learn but barely changes a
    /// sample, count less, which speeds up early training.
    #[serde(rename = "min-snr-5")]
    MinSnr5,
}

impl LossWeighting {
    /// Every weighting, in menu order.
    pub const ALL: [LossWeighting; 4] = [
        LossWeighting::Target,
        LossWeighting::SnrPlusOne,
        LossWeighting::TruncatedSnr,
        LossWeighting::MinSnr5,
    ];

    /// The name in presets and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LossWeighting::Target => "target",
            LossWeighting::SnrPlusOne => "snr-plus-one",
            LossWeighting::TruncatedSnr => "truncated-snr",
            LossWeighting::MinSnr5 => "min-snr-5",
        }
    }

    /// A label for the app.
    pub fn label(self) -> &'static str {
        match self {
            LossWeighting::Target => "plain MSE of the target",
            LossWeighting::SnrPlusOne => "SNR + 1 (v's weighting)",
            LossWeighting::TruncatedSnr => "max(SNR, 1) (truncated SNR)",
            LossWeighting::MinSnr5 => "min(SNR, 5) (Min-SNR-5)",
        }
    }

    /// The x₀-space weight w(SNR) this weighting asks for, for `target` (`Target` gives the
    /// target's own factor).
    pub fn x0_weight(self, target: Target, snr: f64) -> f64 {
        match self {
            LossWeighting::Target => target_factor(target, snr),
            LossWeighting::SnrPlusOne => snr + 1.0,
            LossWeighting::TruncatedSnr => snr.max(1.0),
            LossWeighting::MinSnr5 => snr.min(MIN_SNR_GAMMA),
        }
    }

    /// The multiplier on `target`'s squared error at this SNR: w(SNR)/factor(target, SNR);
    /// 1 for `Target`. Finite for every SNR in [0, ∞): an ε-prediction's factor SNR may reach
    /// 0 only at ᾱ = 0, where ε is the only thing left to predict, and there the multiplier is
    /// capped at [`MAX_MULTIPLIER`].
    pub fn multiplier(self, target: Target, snr: f64) -> f64 {
        if self == LossWeighting::Target {
            return 1.0;
        }
        let f = target_factor(target, snr);
        if f > 0.0 {
            (self.x0_weight(target, snr) / f).min(MAX_MULTIPLIER)
        } else {
            MAX_MULTIPLIER
        }
    }
}

/// γ of [`LossWeighting::MinSnr5`], the value Hang et al. recommend.
pub const MIN_SNR_GAMMA: f64 = 5.0;

/// The largest per-sample multiplier [`LossWeighting::multiplier`] returns.
pub const MAX_MULTIPLIER: f64 = 1e4;

/// |target error|² / |x₀ error|² at one x_t: SNR for ε, SNR + 1 for v, 1 for x₀.
pub fn target_factor(target: Target, snr: f64) -> f64 {
    match target {
        Target::Eps => snr,
        Target::V => snr + 1.0,
        Target::X0 => 1.0,
    }
}

impl std::fmt::Display for LossWeighting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The factors from the definitions: build x_t from (x₀, ε), perturb the prediction of x₀,
    /// and compare each target's induced error with the x₀ error.
    #[test]
    fn target_factors_match_the_parameterisations() {
        for &ab in &[0.999f64, 0.7, 0.2, 1e-3] {
            let (a, s): (f64, f64) = (ab.sqrt(), (1.0 - ab).sqrt());
            let (x0, eps, dx0) = (0.3, -1.1, 0.05);
            let xt = a * x0 + s * eps;
            let x0h = x0 + dx0;
            // Every parameterisation recovers the same pair (x̂₀, ε̂) from x_t.
            let eps_h = (xt - a * x0h) / s;
            let v = a * eps - s * x0;
            let v_h = a * eps_h - s * x0h;
            let snr = ab / (1.0 - ab);
            let de2 = (eps_h - eps).powi(2);
            let dv2 = (v_h - v).powi(2);
            let dx2 = dx0 * dx0;
            assert!((de2 / dx2 - target_factor(Target::Eps, snr)).abs() < 1e-9 * snr.max(1.0));
            assert!((dv2 / dx2 - target_factor(Target::V, snr)).abs() < 1e-9 * snr.max(1.0));
        }
    }

    #[test]
    fn v_weighting_on_eps_equals_plain_v_loss() {
        // ε-prediction with SNR + 1 weighting gives the same per-sample loss as v-prediction
        // with its plain MSE: multiplier·SNR = SNR + 1.
        for &snr in &[1e-3, 0.5, 2.0, 400.0] {
            let m = LossWeighting::SnrPlusOne.multiplier(Target::Eps, snr);
            assert!((m * snr - (snr + 1.0)).abs() < 1e-12 * (snr + 1.0));
            assert_eq!(LossWeighting::SnrPlusOne.multiplier(Target::V, snr), 1.0);
            assert_eq!(LossWeighting::Target.multiplier(Target::Eps, snr), 1.0);
        }
        // Truncated SNR on v: max(SNR, 1)/(SNR + 1), ½ at SNR = 1 and → 1 at high SNR.
        assert!((LossWeighting::TruncatedSnr.multiplier(Target::V, 1.0) - 0.5).abs() < 1e-15);
        assert_eq!(
            LossWeighting::TruncatedSnr.multiplier(Target::Eps, 0.0),
            MAX_MULTIPLIER
        );
    }

    #[test]
    fn preset_names_are_the_names_shown() {
        // Presets and checkpoints spell each weighting as `name()` does (the CLI too).
        for w in LossWeighting::ALL {
            let json = serde_json::to_string(&w).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", w.name()));
            assert_eq!(serde_json::from_str::<LossWeighting>(&json).ok(), Some(w));
        }
    }

    #[test]
    fn min_snr_weighting_is_hang_et_al_s_on_each_target() {
        // Hang et al. 2023, eq. 11 and §3.4: for ε-prediction the loss weight is
        // min(SNR, γ)/SNR; for v-prediction min(SNR, γ)/(SNR + 1); γ = 5.
        for &snr in &[1e-3f64, 0.5, 4.0, 5.0, 6.0, 400.0] {
            let eps = snr.min(5.0) / snr;
            let v = snr.min(5.0) / (snr + 1.0);
            let m_eps = LossWeighting::MinSnr5.multiplier(Target::Eps, snr);
            let m_v = LossWeighting::MinSnr5.multiplier(Target::V, snr);
            assert!((m_eps - eps).abs() < 1e-12, "{snr}: {m_eps} vs {eps}");
            assert!((m_v - v).abs() < 1e-12, "{snr}: {m_v} vs {v}");
        }
        // Below γ the ε loss is untouched; far above it the clean steps count 5/SNR.
        assert_eq!(LossWeighting::MinSnr5.multiplier(Target::Eps, 2.0), 1.0);
        assert!((LossWeighting::MinSnr5.multiplier(Target::Eps, 500.0) - 0.01).abs() < 1e-15);
    }
}
