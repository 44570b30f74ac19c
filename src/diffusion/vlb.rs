//! The variational bound term by term (digest §2, item 13; seed 004 eq. 100):
//! L_vlb = L_T + Σ_{t=2..T} L_{t−1} + L_0, per dimension, in nats.
//!
//! - L_T = KL(q(x_T | x₀) ‖ N(0, I)): [`super::process::prior_kl`].
//! - L_{t−1} = KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)), two Gaussians: [`gaussian_kl`].
//! - L_0 = −log p_θ(x₀ | x₁), the discretised Gaussian decoder with bins x₀ ± 1/255 and ±∞ at
//!   the edges ±1: [`discretized_gaussian_log_likelihood`].

use super::ScheduleTable;
use super::sampler::DdpmVariance;

/// KL(N(m₁, v₁) ‖ N(m₂, v₂)) of two 1-D Gaussians (variances), in nats.
pub fn gaussian_kl(m1: f64, v1: f64, m2: f64, v2: f64) -> f64 {
    0.5 * ((v2 / v1).ln() + (v1 + (m1 - m2).powi(2)) / v2 - 1.0)
}

/// log p(x) of the discretised Gaussian decoder for a pixel x ∈ [−1, 1] on the 256-level grid:
/// the mass of N(mean, σ²) on [x − 1/255, x + 1/255], with the bin of −1 reaching to −∞ and
/// the bin of +1 to +∞. Floors the mass at 1e-12 (as improved-diffusion does). The same
/// computation as the learned-Σ training loss's decoder term ([`super::learned::decoder_term`]).
pub fn discretized_gaussian_log_likelihood(x: f64, mean: f64, sigma: f64) -> f64 {
    -super::learned::decoder_term(x, mean, 2.0 * sigma.ln()).nats
}

/// The variance σ_t² of the reverse step p_θ(x_{t−1} | x_t). For β̃ at t = 1 (where β̃₁ = 0)
/// the decoder uses β̃₂ instead, as improved-diffusion's clipped log-variance does.
pub fn reverse_variance(table: &ScheduleTable, t: usize, var: DdpmVariance) -> f64 {
    match var {
        DdpmVariance::Beta => table.beta[t - 1],
        DdpmVariance::BetaTilde | DdpmVariance::Learned if t == 1 => {
            table.beta_tilde[1.min(table.steps() - 1)]
        }
        // A learned Σ's v = 0 end (the model's own v is applied by the caller).
        DdpmVariance::BetaTilde | DdpmVariance::Learned => table.beta_tilde[t - 1],
    }
}

/// The weight of ‖ε − ε̂‖² in L_{t−1} (un-simplified VLB): β_t² / (2 σ_t² α_t (1 − ᾱ_t)).
pub fn vlb_eps_weight(table: &ScheduleTable, t: usize, sigma2: f64) -> f64 {
    let (b, a) = (table.beta[t - 1], table.alpha[t - 1]);
    b * b / (2.0 * sigma2 * a * table.one_minus_alpha_bar_at(t))
}

/// The expected L_{t−1} (t ≥ 2) per dimension, in closed form, for 1-D Gaussian data
/// x₀ ~ N(m, s²) and the exact (Bayes-optimal) ε-predictor, which is linear in x_t (the term
/// does not depend on m). Used to check the Monte-Carlo bound against an independent
/// computation.
pub fn gaussian_data_expected_term(table: &ScheduleTable, t: usize, s2: f64, sigma2: f64) -> f64 {
    let ab = table.alpha_bar_at(t);
    let (sa, om) = (ab.sqrt(), table.one_minus_alpha_bar_at(t));
    let p = super::Posterior::at(table, t);
    // x_t = sa·x₀ + √om·ε. E[x₀ | x_t] = m + sa·s²/(ab·s² + om)·(x_t − sa·m).
    let gain = sa * s2 / (ab * s2 + om);
    // μ_θ(x_t) = coef_x0·E[x₀|x_t] + coef_xt·x_t (the posterior mean of the Bayes x̂₀);
    // μ̃ − μ_θ = coef_x0·(x₀ − E[x₀|x_t]), whose variance is coef_x0²·Var(x₀ | x_t).
    let post_var = s2 - gain * sa * s2;
    let mean_sq = p.coef_x0 * p.coef_x0 * post_var;
    0.5 * ((sigma2 / p.variance).ln() + (p.variance + mean_sq) / sigma2 - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::{ScheduleKind, ScheduleSpec};

    fn linear() -> ScheduleTable {
        ScheduleSpec::new(ScheduleKind::Linear, 1000)
            .table()
            .expect("linear table")
    }

    #[test]
    fn kl_of_equal_gaussians_is_zero_and_known_values() {
        assert!(gaussian_kl(0.3, 2.0, 0.3, 2.0).abs() < 1e-15);
        // KL(N(0,1) ‖ N(1,1)) = 1/2.
        assert!((gaussian_kl(0.0, 1.0, 1.0, 1.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn vlb_weights_match_the_digest() {
        let t = linear();
        // Digest §3.1: t = 2: 0.27269 (β̃: 0.59967); t = 500: 0.0055034; t = 1000: 0.0102045.
        assert!((vlb_eps_weight(&t, 2, t.beta[1]) - 0.27269).abs() < 5e-5);
        assert!((vlb_eps_weight(&t, 2, t.beta_tilde[1]) - 0.59967).abs() < 5e-5);
        assert!((vlb_eps_weight(&t, 500, t.beta[499]) - 0.0055034).abs() < 5e-7);
        assert!((vlb_eps_weight(&t, 1000, t.beta[999]) - 0.0102045).abs() < 5e-7);
        // t = 1: 0.50005.
        assert!((vlb_eps_weight(&t, 1, t.beta[0]) - 0.50005).abs() < 5e-6);
    }

    #[test]
    fn decoder_mass_sums_to_one_over_the_grid() {
        for (mean, sigma) in [(0.0, 0.01), (0.7, 0.1), (-0.99, 0.004), (1.3, 0.05)] {
            let total: f64 = (0..256)
                .map(|k| {
                    let x = f64::from(k) / 127.5 - 1.0;
                    discretized_gaussian_log_likelihood(x, mean, sigma).exp()
                })
                .sum();
            assert!((total - 1.0).abs() < 1e-9, "{mean} {sigma}: {total}");
        }
    }
}
