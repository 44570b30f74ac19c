//! Improved DDPM (seed 001 §3.1, seed 004 Method 5.1; digest §2 items 13–15): the learned
//! variance Σ_θ = exp(v·log β_t + (1 − v)·log β̃_t) with v = (o + 1)/2 from the network's extra
//! output o, the per-timestep bound term L_t with its derivatives, the training losses
//! L_simple, L_hybrid = L_simple + λ·L_vlb (stop-gradient on the mean inside L_vlb) and L_vlb,
//! and importance-sampled t with p_t ∝ √E[L_t²] (seed 001 eq. 132).
//!
//! Everything is plain f64 on slices, so the native engine and burn's trainer compute the same
//! loss and the same gradient with respect to the network's output (burn applies it through a
//! surrogate ⟨out, ∂L/∂out⟩).
//!
//! Units follow improved-diffusion: L_t is measured in bits per dimension and the one-sample
//! estimate of L_vlb = Σ_t L_t is T·L_t, so λ·L_vlb enters the loss as λ·T·L_t.

use super::process::Target;
use super::{Posterior, Rng, ScheduleTable};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::f64::consts::{LN_2, SQRT_2};

/// λ of L_hybrid (seeds 001, 004).
pub const HYBRID_LAMBDA: f64 = 0.001;

/// Which loss trains the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// L_simple = ‖target − prediction‖² (Ho et al.); the variance stays fixed.
    #[default]
    Simple,
    /// L_hybrid = L_simple + λ·L_vlb with λ = 0.001; the network also outputs v and learns
    /// Σ_θ from the L_vlb term alone (the mean is held fixed in it).
    Hybrid,
    /// L_vlb alone (the bound, importance-sampled t recommended); the mean and Σ_θ both learn
    /// from it.
    Vlb,
}

impl LossKind {
    /// Every loss, in menu order.
    pub const ALL: [LossKind; 3] = [LossKind::Simple, LossKind::Hybrid, LossKind::Vlb];

    /// The preset and command-line name.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Simple => "simple",
            LossKind::Hybrid => "hybrid",
            LossKind::Vlb => "vlb",
        }
    }

    /// A label for menus and status lines.
    pub fn label(self) -> &'static str {
        match self {
            LossKind::Simple => "L_simple (fixed Σ)",
            LossKind::Hybrid => "L_hybrid (learned Σ)",
            LossKind::Vlb => "L_vlb (learned Σ)",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether a network trained with this loss outputs v (2·C channels).
    pub fn learns_sigma(self) -> bool {
        !matches!(self, LossKind::Simple)
    }
}

/// How the training timesteps are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TSampling {
    /// t ~ U{1..T}.
    #[default]
    Uniform,
    /// p_t ∝ √E[L_t²] over the last [`ImportanceSampler::HISTORY`] values of each t, each
    /// sample's loss weighted by 1/(T·p_t); uniform until every t has its history.
    Importance,
}

impl TSampling {
    /// The preset and command-line name.
    pub fn name(self) -> &'static str {
        match self {
            TSampling::Uniform => "uniform",
            TSampling::Importance => "importance",
        }
    }
}

/// The log-variance range [log β̃, log β] a learned Σ interpolates on one reverse step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogVarRange {
    /// log β_t (log β′ for a jump): v = 1.
    pub max: f64,
    /// log β̃_t (log β̃′): v = 0. At t = 1, where β̃₁ = 0, β̃₂ (improved-diffusion's clip).
    pub min: f64,
}

impl LogVarRange {
    /// The range of the full chain's step t → t − 1.
    pub fn at(table: &ScheduleTable, t: usize) -> Self {
        let p = Posterior::at(table, t);
        let tilde = if t == 1 && table.steps() > 1 {
            Posterior::at(table, 2).variance
        } else {
            p.variance
        };
        Self {
            max: p.beta.ln(),
            min: tilde.max(f64::MIN_POSITIVE).ln(),
        }
    }

    /// The range of a respaced jump t → t′ (seed 004 Method 5.1): β′ = 1 − ᾱ_t/ᾱ_{t′} and its
    /// β̃′ = (1 − ᾱ_{t′})/(1 − ᾱ_t)·β′. On a jump to t′ = 0 (no noise is added there) the
    /// range collapses to log β′.
    pub fn between(table: &ScheduleTable, t: usize, t_prev: usize) -> Self {
        if t == t_prev + 1 {
            return Self::at(table, t);
        }
        let p = Posterior::between(table, t, t_prev);
        let max = p.beta.ln();
        let min = if p.variance > 0.0 {
            p.variance.ln()
        } else {
            max
        };
        Self { max, min }
    }

    /// log Σ_θ for the raw output o: v·max + (1 − v)·min with v = (o + 1)/2.
    pub fn log_variance(&self, o: f64) -> f64 {
        let v = (o + 1.0) / 2.0;
        v * self.max + (1.0 - v) * self.min
    }

    /// ∂ log Σ_θ / ∂o.
    pub fn slope(&self) -> f64 {
        (self.max - self.min) / 2.0
    }
}

/// One dimension's term of the bound, in nats, with its derivatives with respect to the
/// model's mean μ_θ and its log-variance log Σ_θ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TermGrad {
    /// The term (nats).
    pub nats: f64,
    /// ∂/∂μ_θ.
    pub d_mean: f64,
    /// ∂/∂ log Σ_θ.
    pub d_logvar: f64,
}

/// KL(N(μ_q, e^{lq}) ‖ N(μ_p, e^{lp})) for t ≥ 2, with its derivatives in μ_p and lp.
pub fn kl_term(mean_q: f64, logvar_q: f64, mean_p: f64, logvar_p: f64) -> TermGrad {
    let d = mean_q - mean_p;
    let inv = (-logvar_p).exp();
    let ratio = (logvar_q - logvar_p).exp();
    TermGrad {
        nats: 0.5 * (logvar_p - logvar_q + ratio + d * d * inv - 1.0),
        d_mean: -d * inv,
        d_logvar: 0.5 * (1.0 - ratio - d * d * inv),
    }
}

fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Φ(z).
fn cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / SQRT_2)
}

/// The smallest bin mass the decoder's log takes (as improved-diffusion).
const MIN_MASS: f64 = 1e-12;

/// −log p_θ(x₀ | x₁) of one pixel under the discretised Gaussian decoder N(μ_p, e^{lp}) with
/// bins x₀ ± 1/255 (−∞ below −1's bin, +∞ above +1's), with its derivatives in μ_p and lp.
/// The mass of a bin in the upper tail is taken as a difference of upper tails, so it keeps
/// its precision there. A mass floored at 1e-12 has zero derivatives.
pub fn decoder_term(x0: f64, mean_p: f64, logvar_p: f64) -> TermGrad {
    let half = 1.0 / 255.0;
    let sigma = (0.5 * logvar_p).exp();
    let u = (x0 + half - mean_p) / sigma;
    let l = (x0 - half - mean_p) / sigma;
    // mass and its derivatives ∂u/∂μ = −1/σ, ∂u/∂lp = −u/2 (the same for l).
    let (mass, dm_dmean, dm_dlv) = if x0 < -0.999 {
        (cdf(u), -phi(u) / sigma, -phi(u) * u / 2.0)
    } else if x0 > 0.999 {
        (cdf(-l), phi(l) / sigma, phi(l) * l / 2.0)
    } else {
        let mass = if l > 0.0 {
            cdf(-l) - cdf(-u)
        } else {
            cdf(u) - cdf(l)
        };
        (
            mass,
            -(phi(u) - phi(l)) / sigma,
            -(phi(u) * u - phi(l) * l) / 2.0,
        )
    };
    if mass.is_nan() || mass <= MIN_MASS {
        return TermGrad {
            nats: -MIN_MASS.ln(),
            d_mean: 0.0,
            d_logvar: 0.0,
        };
    }
    TermGrad {
        nats: -mass.ln(),
        d_mean: -dm_dmean / mass,
        d_logvar: -dm_dlv / mass,
    }
}

/// L_t of one dimension for a model with mean μ_θ and log-variance `logvar_p` at step t → t − 1:
/// the decoder's −log p(x₀ | x₁) at t = 1, else KL(q(x_{t−1} | x_t, x₀) ‖ p_θ).
pub fn term(
    table: &ScheduleTable,
    t: usize,
    x0: f64,
    xt: f64,
    mean_p: f64,
    logvar_p: f64,
) -> TermGrad {
    if t == 1 {
        decoder_term(x0, mean_p, logvar_p)
    } else {
        let p = Posterior::at(table, t);
        let mean_q = p.coef_x0 * x0 + p.coef_xt * xt;
        kl_term(mean_q, p.variance.ln(), mean_p, logvar_p)
    }
}

/// x̂₀ from the network's prediction p of `target` at x_t, and ∂x̂₀/∂p:
/// ε: (x_t − √(1 − ᾱ)·p)/√ᾱ; x₀: p; v: √ᾱ·x_t − √(1 − ᾱ)·p.
pub fn x0_hat(table: &ScheduleTable, t: usize, target: Target, xt: f64, pred: f64) -> (f64, f64) {
    let (a, s) = (
        table.sqrt_alpha_bar[t - 1],
        table.sqrt_one_minus_alpha_bar[t - 1],
    );
    match target {
        Target::Eps => ((xt - s * pred) / a, -s / a),
        Target::X0 => (pred, 1.0),
        Target::V => (a * xt - s * pred, -s),
    }
}

/// One batch of the network's output with what the loss needs.
pub struct LossInputs<'a> {
    /// The schedule.
    pub table: &'a ScheduleTable,
    /// The loss.
    pub kind: LossKind,
    /// What the prediction channels predict.
    pub target: Target,
    /// Values per image (C·H·W).
    pub dims: usize,
    /// Channels per image (the output holds 2·C when Σ is learned: prediction, then o).
    pub channels: usize,
    /// The network's output, [B, C or 2C, H, W].
    pub out: &'a [f32],
    /// The regression target of the prediction channels, [B, C, H, W].
    pub target_values: &'a [f32],
    /// x₀, [B, C, H, W].
    pub x0: &'a [f32],
    /// x_t, [B, C, H, W].
    pub xt: &'a [f32],
    /// t of each image.
    pub ts: &'a [usize],
    /// The weight of each image's loss (1/(T·p_t) with importance sampling, else 1).
    pub weights: &'a [f64],
}

/// The loss of a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchLoss {
    /// Each image's loss, unweighted: ‖·‖² per dim (+ λ·T·L_t for L_hybrid; T·L_t for L_vlb).
    pub per_sample: Vec<f32>,
    /// Each image's L_t in bits/dim (empty for L_simple): the importance history's input.
    pub vlb_bits: Vec<f64>,
    /// The loss the gradient is of: the mean over images of weight·loss, in f64.
    pub total: f64,
}

/// The batch loss, mean over images of weight·loss, and its gradient with respect to `out`
/// (written into `d_out`, the same length).
pub fn batch_loss(inp: &LossInputs<'_>, d_out: &mut [f32]) -> BatchLoss {
    let b = inp.ts.len();
    let dims = inp.dims;
    let learned = inp.kind.learns_sigma();
    let per_out = if learned { 2 * dims } else { dims };
    assert_eq!(inp.out.len(), b * per_out, "output size");
    assert_eq!(d_out.len(), inp.out.len(), "gradient size");
    let big_t = inp.table.steps() as f64;
    let (mse_w, vlb_w) = match inp.kind {
        LossKind::Simple => (1.0, 0.0),
        LossKind::Hybrid => (1.0, HYBRID_LAMBDA * big_t),
        LossKind::Vlb => (0.0, big_t),
    };
    let mut per_sample = Vec::with_capacity(b);
    let mut total = 0.0;
    let mut vlb_bits = Vec::with_capacity(if learned { b } else { 0 });
    let pixels = dims / inp.channels.max(1);
    for i in 0..b {
        let w = inp.weights.get(i).copied().unwrap_or(1.0);
        let scale = w / (b as f64 * dims as f64);
        let t = inp.ts[i];
        let o = &inp.out[i * per_out..(i + 1) * per_out];
        let d = &mut d_out[i * per_out..(i + 1) * per_out];
        let y = &inp.target_values[i * dims..(i + 1) * dims];
        let mut sq = 0.0;
        for j in 0..dims {
            let e = f64::from(o[j]) - f64::from(y[j]);
            sq += e * e;
            d[j] = (scale * mse_w * 2.0 * e) as f32;
        }
        let mut loss = mse_w * sq / dims as f64;
        if learned {
            let (x0, xt) = (
                &inp.x0[i * dims..(i + 1) * dims],
                &inp.xt[i * dims..(i + 1) * dims],
            );
            let post = Posterior::at(inp.table, t);
            let range = LogVarRange::at(inp.table, t);
            let mut nats = 0.0;
            // o's channels follow the prediction's: channel c of o is at dims + c·pixels.
            for j in 0..dims {
                let (xh, dxh) = x0_hat(inp.table, t, inp.target, f64::from(xt[j]), f64::from(o[j]));
                let mean_p = post.coef_x0 * xh + post.coef_xt * f64::from(xt[j]);
                let lv = range.log_variance(f64::from(o[dims + j]));
                let g = term(inp.table, t, f64::from(x0[j]), f64::from(xt[j]), mean_p, lv);
                nats += g.nats;
                let k = scale * vlb_w / LN_2;
                d[dims + j] = (k * g.d_logvar * range.slope()) as f32;
                if inp.kind == LossKind::Vlb {
                    // The mean learns from the bound too (no stop-gradient without L_simple).
                    d[j] += (k * g.d_mean * post.coef_x0 * dxh) as f32;
                }
            }
            debug_assert!(pixels * inp.channels == dims);
            let bits = nats / (dims as f64 * LN_2);
            vlb_bits.push(bits);
            loss += vlb_w * bits;
        }
        per_sample.push(loss as f32);
        total += w * loss / b as f64;
    }
    BatchLoss {
        per_sample,
        vlb_bits,
        total,
    }
}

/// Splits a learned-Σ network's output [B, 2C, H, W] into the prediction and o, each
/// [B, C, H, W]. `dims` = C·H·W.
pub fn split_output(out: &[f32], dims: usize) -> (Vec<f32>, Vec<f32>) {
    let b = out.len() / (2 * dims).max(1);
    let (mut pred, mut var) = (Vec::with_capacity(b * dims), Vec::with_capacity(b * dims));
    for chunk in out.chunks_exact(2 * dims) {
        pred.extend_from_slice(&chunk[..dims]);
        var.extend_from_slice(&chunk[dims..]);
    }
    (pred, var)
}

/// Importance sampling of t for L_vlb (seed 001 eq. 132; improved-diffusion's
/// `LossSecondMomentResampler`): p_t ∝ √(mean of the last 10 L_t²), mixed with 0.1 % of the
/// uniform distribution; uniform until every t has 10 values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportanceSampler {
    /// The last values of L_t (bits/dim) of each t (index t − 1), oldest first.
    history: Vec<VecDeque<f64>>,
}

impl ImportanceSampler {
    /// Values kept per t.
    pub const HISTORY: usize = 10;
    /// The share of the uniform distribution in p_t.
    pub const UNIFORM_PROB: f64 = 0.001;

    /// An empty history for T timesteps.
    pub fn new(big_t: usize) -> Self {
        Self {
            history: vec![VecDeque::with_capacity(Self::HISTORY); big_t],
        }
    }

    /// T.
    pub fn steps(&self) -> usize {
        self.history.len()
    }

    /// Whether every t has its full history (then p_t is used).
    pub fn warmed_up(&self) -> bool {
        self.history.iter().all(|h| h.len() == Self::HISTORY)
    }

    /// How many t have their full history.
    pub fn filled(&self) -> usize {
        self.history
            .iter()
            .filter(|h| h.len() == Self::HISTORY)
            .count()
    }

    /// p_t for t = 1..T (uniform before warm-up).
    pub fn probabilities(&self) -> Vec<f64> {
        let big_t = self.history.len().max(1);
        if !self.warmed_up() {
            return vec![1.0 / big_t as f64; big_t];
        }
        let w: Vec<f64> = self
            .history
            .iter()
            .map(|h| (h.iter().map(|v| v * v).sum::<f64>() / h.len() as f64).sqrt())
            .collect();
        let total: f64 = w.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return vec![1.0 / big_t as f64; big_t];
        }
        w.iter()
            .map(|v| v / total * (1.0 - Self::UNIFORM_PROB) + Self::UNIFORM_PROB / big_t as f64)
            .collect()
    }

    /// Draws one t (1-based) with its loss weight 1/(T·p_t). Before warm-up this is exactly the
    /// uniform draw `1 + rng.below(T)` with weight 1, so the stream matches a uniform run.
    pub fn draw(&self, probs: &[f64], rng: &mut Rng) -> (usize, f64) {
        let big_t = self.history.len();
        if !self.warmed_up() {
            return (1 + rng.below(big_t as u64) as usize, 1.0);
        }
        let u = rng.uniform();
        let mut acc = 0.0;
        let mut k = big_t - 1;
        for (i, &p) in probs.iter().enumerate() {
            acc += p;
            if u < acc {
                k = i;
                break;
            }
        }
        (k + 1, 1.0 / (big_t as f64 * probs[k]))
    }

    /// Records the L_t (bits/dim) of a batch.
    pub fn update(&mut self, ts: &[usize], losses: &[f64]) {
        for (&t, &l) in ts.iter().zip(losses) {
            if !l.is_finite() {
                continue;
            }
            if let Some(h) = self.history.get_mut(t.wrapping_sub(1)) {
                if h.len() == Self::HISTORY {
                    h.pop_front();
                }
                h.push_back(l);
            }
        }
    }

    /// Checks a history read back from a checkpoint against the schedule's T.
    pub fn is_valid_for(&self, big_t: usize) -> bool {
        self.history.len() == big_t
            && self
                .history
                .iter()
                .all(|h| h.len() <= Self::HISTORY && h.iter().all(|v| v.is_finite()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::vlb::gaussian_kl;
    use crate::diffusion::{ScheduleKind, ScheduleSpec};

    fn linear() -> ScheduleTable {
        ScheduleSpec::new(ScheduleKind::Linear, 1000)
            .table()
            .expect("linear table")
    }

    #[test]
    fn learned_variance_matches_the_digest() {
        // Digest §3.3: v = 0.5 (o = 0) at t = 2 gives Σ = √(β·β̃) = 8.0866917e-05.
        let t = linear();
        let r = LogVarRange::at(&t, 2);
        let sigma2 = r.log_variance(0.0).exp();
        assert!((sigma2 - 8.0866917e-05).abs() < 1e-12, "{sigma2}");
        // v = 1 (o = 1) is β, v = 0 (o = −1) is β̃.
        assert!((r.log_variance(1.0).exp() - t.beta[1]).abs() < 1e-15);
        assert!((r.log_variance(-1.0).exp() - t.beta_tilde[1]).abs() < 1e-15);
        // At t = 1, β̃₁ = 0 is replaced by β̃₂.
        assert!((LogVarRange::at(&t, 1).min.exp() - t.beta_tilde[1]).abs() < 1e-15);
    }

    #[test]
    fn respaced_range_uses_the_jumps_betas() {
        let t = linear();
        let r = LogVarRange::between(&t, 600, 500);
        let ab = |k: usize| t.alpha_bar_at(k);
        let beta = 1.0 - ab(600) / ab(500);
        let tilde = (1.0 - ab(500)) / (1.0 - ab(600)) * beta;
        assert!((r.max - beta.ln()).abs() < 1e-12);
        assert!((r.min - tilde.ln()).abs() < 1e-12);
        assert_eq!(LogVarRange::between(&t, 7, 6), LogVarRange::at(&t, 7));
    }

    /// Checks a term's d_mean and d_logvar at (m, lv) against central differences, within the
    /// relative tolerances `tol` (mean, log-variance).
    fn check_derivatives(f: impl Fn(f64, f64) -> TermGrad, m: f64, lv: f64, tol: (f64, f64)) {
        let (g, h) = (f(m, lv), 1e-6);
        let dm = (f(m + h, lv).nats - f(m - h, lv).nats) / (2.0 * h);
        let dl = (f(m, lv + h).nats - f(m, lv - h).nats) / (2.0 * h);
        assert!(
            (g.d_mean - dm).abs() < tol.0 * dm.abs().max(1.0),
            "at ({m}, {lv}): d_mean {} vs {dm}",
            g.d_mean
        );
        assert!(
            (g.d_logvar - dl).abs() < tol.1 * dl.abs().max(1.0),
            "at ({m}, {lv}): d_logvar {} vs {dl}",
            g.d_logvar
        );
    }

    #[test]
    fn kl_term_matches_the_direct_gaussian_kl_and_its_derivatives() {
        for &(mq, lq, mp, lp) in &[
            (0.3, -4.0, 0.1, -3.5),
            (-0.7, -7.2, -0.69, -7.0),
            (1.2, -2.0, 0.0, -1.0),
        ] {
            let g = kl_term(mq, lq, mp, lp);
            let direct = gaussian_kl(mq, f64::exp(lq), mp, f64::exp(lp));
            assert!(
                (g.nats - direct).abs() < 1e-12 * direct.abs().max(1.0),
                "{g:?} {direct}"
            );
            check_derivatives(|m, l| kl_term(mq, lq, m, l), mp, lp, (1e-5, 1e-6));
        }
    }

    #[test]
    fn decoder_term_matches_the_decoder_and_its_derivatives() {
        for &(x, m, lv) in &[
            (0.0, 0.001, -9.0),
            (-1.0, -0.99, -8.0),
            (1.0, 0.995, -10.0),
            (0.6, 0.62, -7.5),
            (0.85, 0.86, -9.2),
        ] {
            let g = decoder_term(x, m, lv);
            // The bin's mass straight from Φ = ½·erfc(−z/√2), with ±∞ at the grid's ends.
            let (sd, h) = (f64::exp(0.5 * lv), 1.0 / 255.0);
            let phi = |z: f64| 0.5 * libm::erfc(-z / SQRT_2);
            let hi = if x > 0.999 {
                1.0
            } else {
                phi((x + h - m) / sd)
            };
            let lo = if x < -0.999 {
                0.0
            } else {
                phi((x - h - m) / sd)
            };
            let direct = -(hi - lo).max(1e-12).ln();
            assert!(
                (g.nats - direct).abs() < 1e-7 * direct.abs().max(1.0),
                "{g:?} {direct}"
            );
            check_derivatives(|mp, lp| decoder_term(x, mp, lp), m, lv, (1e-4, 1e-5));
        }
    }

    /// The network's output, the regression target, x₀, x_t and t of a test batch.
    type Fixture = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<usize>);

    /// A batch of two images of 3 values, at t = 1 and t = 40.
    fn batch(kind: LossKind) -> Fixture {
        let mut rng = Rng::seed(7);
        let dims = 3;
        let per = if kind.learns_sigma() { 2 * dims } else { dims };
        let out: Vec<f32> = (0..2 * per).map(|_| (0.5 * rng.normal()) as f32).collect();
        let y: Vec<f32> = (0..2 * dims).map(|_| rng.normal() as f32).collect();
        let x0 = vec![-1.0, 0.2, 1.0, 0.5, -0.3, 0.0];
        let xt: Vec<f32> = (0..2 * dims).map(|_| rng.normal() as f32).collect();
        (out, y, x0, xt, vec![1, 40])
    }

    fn total(inp: &LossInputs<'_>) -> f64 {
        let mut d = vec![0f32; inp.out.len()];
        batch_loss(inp, &mut d).total
    }

    #[test]
    fn batch_gradients_match_finite_differences() {
        let t = linear();
        for kind in LossKind::ALL {
            for target in [Target::Eps, Target::X0, Target::V] {
                let (out, y, x0, xt, ts) = batch(kind);
                let weights = [0.7, 1.9];
                let mk = |out: &[f32]| -> f64 {
                    let inp = LossInputs {
                        table: &t,
                        kind,
                        target,
                        dims: 3,
                        channels: 1,
                        out,
                        target_values: &y,
                        x0: &x0,
                        xt: &xt,
                        ts: &ts,
                        weights: &weights,
                    };
                    total(&inp)
                };
                let inp = LossInputs {
                    table: &t,
                    kind,
                    target,
                    dims: 3,
                    channels: 1,
                    out: &out,
                    target_values: &y,
                    x0: &x0,
                    xt: &xt,
                    ts: &ts,
                    weights: &weights,
                };
                let mut d = vec![0f32; out.len()];
                batch_loss(&inp, &mut d);
                for j in 0..out.len() {
                    let dims = 3;
                    let per = out.len() / 2;
                    let in_mean = j % per < dims;
                    if kind == LossKind::Hybrid && in_mean {
                        // The mean's gradient is L_simple's alone (stop-gradient in L_vlb).
                        let i = j / per;
                        let e = f64::from(out[j]) - f64::from(y[i * dims + j % per]);
                        let want = weights[i] * 2.0 * e / (2.0 * dims as f64);
                        assert!((f64::from(d[j]) - want).abs() < 1e-6, "{j}");
                        continue;
                    }
                    let h = 1e-3f32;
                    let (mut up, mut down) = (out.clone(), out.clone());
                    up[j] += h;
                    down[j] -= h;
                    let fd = (mk(&up) - mk(&down)) / (2.0 * f64::from(h));
                    let g = f64::from(d[j]);
                    assert!(
                        (g - fd).abs() < 2e-3 * fd.abs().max(1e-2),
                        "{kind:?} {target:?} out[{j}]: {g} vs {fd}"
                    );
                }
            }
        }
    }

    #[test]
    fn simple_loss_is_the_mean_squared_error() {
        let t = linear();
        let (out, y, x0, xt, ts) = batch(LossKind::Simple);
        let inp = LossInputs {
            table: &t,
            kind: LossKind::Simple,
            target: Target::Eps,
            dims: 3,
            channels: 1,
            out: &out,
            target_values: &y,
            x0: &x0,
            xt: &xt,
            ts: &ts,
            weights: &[1.0, 1.0],
        };
        let mut d = vec![0f32; out.len()];
        let l = batch_loss(&inp, &mut d);
        for i in 0..2 {
            let want: f64 = (0..3)
                .map(|j| (f64::from(out[i * 3 + j]) - f64::from(y[i * 3 + j])).powi(2))
                .sum::<f64>()
                / 3.0;
            assert!((f64::from(l.per_sample[i]) - want).abs() < 1e-6);
        }
        assert!(l.vlb_bits.is_empty());
    }

    #[test]
    fn the_exact_mean_and_variance_give_a_zero_kl() {
        // With μ_θ = μ̃ and Σ_θ = β̃ (o = −1) the KL term vanishes.
        let t = linear();
        let (x0, xt, tt) = (0.4, -0.2, 300);
        let p = Posterior::at(&t, tt);
        let mean = p.coef_x0 * x0 + p.coef_xt * xt;
        let r = LogVarRange::at(&t, tt);
        let g = term(&t, tt, x0, xt, mean, r.log_variance(-1.0));
        assert!(g.nats.abs() < 1e-12 && g.d_mean.abs() < 1e-9, "{g:?}");
    }

    #[test]
    fn importance_sampling_is_uniform_until_warm_then_follows_the_losses() {
        let mut s = ImportanceSampler::new(4);
        let mut a = Rng::seed(3);
        let mut b = Rng::seed(3);
        let probs = s.probabilities();
        for _ in 0..20 {
            // Before warm-up the draw is the uniform trainer's.
            assert_eq!(s.draw(&probs, &mut a), (1 + b.below(4) as usize, 1.0));
        }
        for _ in 0..ImportanceSampler::HISTORY {
            s.update(&[1, 2, 3, 4], &[1.0, 1.0, 2.0, 4.0]);
        }
        assert!(s.warmed_up());
        let p = s.probabilities();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // √E[L²] ∝ 1, 1, 2, 4 → 1/8, 1/8, 2/8, 4/8, mixed with 0.1 % uniform.
        let want = [0.125, 0.125, 0.25, 0.5].map(|v| v * 0.999 + 0.001 / 4.0);
        for (x, w) in p.iter().zip(want) {
            assert!((x - w).abs() < 1e-12);
        }
        // The draw follows p and the weight is 1/(T·p_t): E[weight] = 1 under p.
        let mut rng = Rng::seed(11);
        let mut counts = [0usize; 4];
        let mut wsum = 0.0;
        let n = 40_000;
        for _ in 0..n {
            let (tt, w) = s.draw(&p, &mut rng);
            counts[tt - 1] += 1;
            wsum += w;
        }
        for k in 0..4 {
            let f = counts[k] as f64 / n as f64;
            let sd = (p[k] * (1.0 - p[k]) / n as f64).sqrt();
            assert!((f - p[k]).abs() < 5.0 * sd, "{k}: {f} vs {}", p[k]);
        }
        assert!((wsum / n as f64 - 1.0).abs() < 0.03, "{}", wsum / n as f64);
        // The history keeps the last 10 values.
        s.update(&[4], &[0.0]);
        assert!(s.is_valid_for(4) && !s.is_valid_for(5));
    }
}
