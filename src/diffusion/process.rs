//! The forward process and the identities between x₀, ε, v and the score, on slices.
//!
//! All coefficients come from the f64 [`ScheduleTable`]; the data may be f32 or f64.
//! Equations follow the digest §2 (eq. numbers in brackets).

use super::{Real, ScheduleTable};
use serde::{Deserialize, Serialize};

/// What the network is trained to predict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The noise ε (L_simple, Ho et al.).
    #[default]
    Eps,
    /// v = √ᾱ·ε − √(1 − ᾱ)·x₀ (Salimans & Ho).
    V,
    /// The clean image x₀.
    X0,
}

/// √ᾱ_t and √(1 − ᾱ_t) at t ∈ 0..=T.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// √ᾱ_t, the signal rate.
    pub signal: f64,
    /// √(1 − ᾱ_t), the noise rate.
    pub noise: f64,
}

impl Rates {
    /// The rates at t (t = 0 gives signal 1, noise 0).
    pub fn at(table: &ScheduleTable, t: usize) -> Self {
        Self {
            signal: table.alpha_bar_at(t).sqrt(),
            noise: table.one_minus_alpha_bar_at(t).sqrt(),
        }
    }
}

fn zip_map<S: Real>(a: &[S], b: &[S], out: &mut [S], f: impl Fn(f64, f64) -> f64) {
    assert!(
        a.len() == b.len() && a.len() == out.len(),
        "slice lengths differ"
    );
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = S::from_f64(f(x.to_f64(), y.to_f64()));
    }
}

/// Samples q(x_t | x₀): x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε [eq. 2].
pub fn q_sample<S: Real>(table: &ScheduleTable, t: usize, x0: &[S], eps: &[S], out: &mut [S]) {
    let r = Rates::at(table, t);
    zip_map(x0, eps, out, |x, e| r.signal * x + r.noise * e);
}

/// One step of the forward chain: x_t = √α_t·x_{t−1} + √β_t·z [eq. 1], for t ≥ 1.
pub fn forward_step<S: Real>(
    table: &ScheduleTable,
    t: usize,
    x_prev: &[S],
    z: &[S],
    out: &mut [S],
) {
    let (a, b) = (table.alpha[t - 1].sqrt(), table.beta[t - 1].sqrt());
    zip_map(x_prev, z, out, |x, e| a * x + b * e);
}

/// Runs the forward chain from x₀ to x_t with the noises `zs[0..t]` (one slice per step).
pub fn forward_chain<S: Real>(table: &ScheduleTable, t: usize, x0: &[S], zs: &[Vec<S>]) -> Vec<S> {
    let mut x = x0.to_vec();
    let mut next = x.clone();
    for s in 1..=t {
        forward_step(table, s, &x, &zs[s - 1], &mut next);
        std::mem::swap(&mut x, &mut next);
    }
    x
}

/// The coefficients of the forward posterior q(x_{t−1} | x_t, x₀) = N(c₀·x₀ + c_t·x_t, β̃_t) [eq. 3].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Posterior {
    /// c₀ = √ᾱ_{t−1}·β_t/(1 − ᾱ_t).
    pub coef_x0: f64,
    /// c_t = √α_t·(1 − ᾱ_{t−1})/(1 − ᾱ_t).
    pub coef_xt: f64,
    /// β̃_t (β̃' for a jump).
    pub variance: f64,
    /// β_t (β' = 1 − ᾱ_t/ᾱ_{t'} for a jump).
    pub beta: f64,
}

impl Posterior {
    /// The posterior at t ≥ 1.
    pub fn at(table: &ScheduleTable, t: usize) -> Self {
        Self::between(table, t, t - 1)
    }

    /// The posterior for a jump t → t' < t, with α' = ᾱ_t/ᾱ_{t'} and β' = 1 − α' (seed 004 Method 5.1).
    /// For t' = t − 1 this is the ordinary posterior.
    pub fn between(table: &ScheduleTable, t: usize, t_prev: usize) -> Self {
        let (ab, ab_prev) = (table.alpha_bar_at(t), table.alpha_bar_at(t_prev));
        let (om, om_prev) = (
            table.one_minus_alpha_bar_at(t),
            table.one_minus_alpha_bar_at(t_prev),
        );
        let (alpha, beta) = if t == t_prev + 1 {
            (table.alpha[t - 1], table.beta[t - 1])
        } else {
            let a = ab / ab_prev;
            (a, 1.0 - a)
        };
        Self {
            coef_x0: ab_prev.sqrt() * beta / om,
            coef_xt: alpha.sqrt() * om_prev / om,
            variance: om_prev / om * beta,
            beta,
        }
    }
}

/// μ̃_t(x_t, x₀), the posterior mean [eq. 3].
pub fn posterior_mean<S: Real>(table: &ScheduleTable, t: usize, x0: &[S], xt: &[S], out: &mut [S]) {
    let p = Posterior::at(table, t);
    zip_map(x0, xt, out, |a, b| p.coef_x0 * a + p.coef_xt * b);
}

/// β̃_t, the posterior variance.
pub fn posterior_variance(table: &ScheduleTable, t: usize) -> f64 {
    Posterior::at(table, t).variance
}

/// μ_θ in ε-form: 1/√α_t·(x_t − β_t/√(1 − ᾱ_t)·ε) [eq. 5]. The sign is minus.
pub fn mean_from_eps<S: Real>(table: &ScheduleTable, t: usize, xt: &[S], eps: &[S], out: &mut [S]) {
    let inv_sqrt_alpha = 1.0 / table.alpha[t - 1].sqrt();
    let c = table.beta[t - 1] / table.sqrt_one_minus_alpha_bar[t - 1];
    zip_map(xt, eps, out, |x, e| inv_sqrt_alpha * (x - c * e));
}

/// x̂₀ = (x_t − √(1 − ᾱ_t)·ε)/√ᾱ_t [eq. 4].
pub fn x0_from_eps<S: Real>(table: &ScheduleTable, t: usize, xt: &[S], eps: &[S], out: &mut [S]) {
    let r = Rates::at(table, t);
    zip_map(xt, eps, out, |x, e| (x - r.noise * e) / r.signal);
}

/// ε = (x_t − √ᾱ_t·x₀)/√(1 − ᾱ_t), the inverse of [`x0_from_eps`] (t ≥ 1).
pub fn eps_from_x0<S: Real>(table: &ScheduleTable, t: usize, xt: &[S], x0: &[S], out: &mut [S]) {
    let r = Rates::at(table, t);
    zip_map(xt, x0, out, |x, x0| (x - r.signal * x0) / r.noise);
}

/// v = √ᾱ·ε − √(1 − ᾱ)·x₀ (Salimans & Ho 2022; digest R5).
pub fn v_from_eps_x0<S: Real>(table: &ScheduleTable, t: usize, eps: &[S], x0: &[S], out: &mut [S]) {
    let r = Rates::at(table, t);
    zip_map(eps, x0, out, |e, x| r.signal * e - r.noise * x);
}

/// x̂₀ = √ᾱ·x_t − √(1 − ᾱ)·v.
pub fn x0_from_v<S: Real>(table: &ScheduleTable, t: usize, xt: &[S], v: &[S], out: &mut [S]) {
    let r = Rates::at(table, t);
    zip_map(xt, v, out, |x, v| r.signal * x - r.noise * v);
}

/// ε̂ = √(1 − ᾱ)·x_t + √ᾱ·v.
pub fn eps_from_v<S: Real>(table: &ScheduleTable, t: usize, xt: &[S], v: &[S], out: &mut [S]) {
    let r = Rates::at(table, t);
    zip_map(xt, v, out, |x, v| r.noise * x + r.signal * v);
}

/// The score ∇ log q(x_t) ≈ −ε/√(1 − ᾱ_t) [eq. 12], for t ≥ 1.
pub fn score_from_eps<S: Real>(table: &ScheduleTable, t: usize, eps: &[S], out: &mut [S]) {
    let noise = Rates::at(table, t).noise;
    assert_eq!(eps.len(), out.len(), "slice lengths differ");
    for (o, &e) in out.iter_mut().zip(eps) {
        *o = S::from_f64(-e.to_f64() / noise);
    }
}

/// KL(q(x_T | x₀) ‖ N(0, 1)) per dimension, in nats [eq. 13, L_T].
pub fn prior_kl(table: &ScheduleTable, x0: f64) -> f64 {
    let t = table.steps();
    let (ab, om) = (table.alpha_bar_at(t), table.one_minus_alpha_bar_at(t));
    0.5 * (ab * x0 * x0 + om - 1.0 - om.ln())
}
