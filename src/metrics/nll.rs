//! The negative log-likelihood bound in bits/dim: L_T + Σ_{t=2..T} L_{t−1} + L_0 on held-out
//! images, each term estimated with one draw of x_t per image (the standard estimator of
//! Ho et al. and improved-diffusion's `calc_bpd_loop`). The maths is in
//! [`crate::diffusion::vlb`]; this module runs the network over t and sums.

use crate::diffusion::learned::{self, LogVarRange};
use crate::diffusion::vlb::{discretized_gaussian_log_likelihood, gaussian_kl, reverse_variance};
use crate::diffusion::{DdpmVariance, Posterior, Rng, ScheduleTable, process::prior_kl};
use serde::{Deserialize, Serialize};

/// An ε-predictor: `predict(t, x_t, ε̂_out)` for a flat batch.
pub type EpsPredictor<'a> = dyn FnMut(usize, &[f32], &mut [f32]) + 'a;

/// An ε-predictor that also gives a learned-Σ model's variance output o:
/// `predict(t, x_t, ε̂_out, o_out)`.
pub type EpsVarPredictor<'a> = dyn FnMut(usize, &[f32], &mut [f32], &mut [f32]) + 'a;

/// What the bound came to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NllReport {
    /// The bound in bits/dim, averaged over the images.
    pub bits_per_dim: f64,
    /// Its standard error over the images.
    pub std_error: f64,
    /// Images evaluated.
    pub n: usize,
    /// Dimensions per image.
    pub dims: usize,
    /// L_T in bits/dim (mean over the images).
    pub prior_bpd: f64,
    /// L_0 (the discretised decoder) in bits/dim.
    pub decoder_bpd: f64,
    /// Mean L_{t−1} in bits/dim for t = 1..T (index t − 1; index 0 is L_0); NaN for the t
    /// left out when only some t are evaluated.
    pub terms: Vec<f64>,
    /// "β" or "β̃": the reverse-process variance.
    pub variance: String,
    /// Timesteps evaluated (T, or 50 + `t_samples`).
    pub timesteps: usize,
}

/// Options of the bound.
#[derive(Clone, Copy, Debug)]
pub struct NllOptions {
    /// σ_t² of the reverse process.
    pub variance: DdpmVariance,
    /// Clip x̂₀ to [−1, 1] before forming μ_θ (as the samplers do by default).
    pub clip: bool,
    /// Evaluate every t ≤ 50 and only this many more (one per stratum of the rest, seeded,
    /// weighted by the stratum's size): an unbiased estimate of the sum. None: every t.
    pub t_samples: Option<usize>,
    /// Seed of the noise and of the t draw.
    pub seed: u64,
    /// Images per network call.
    pub batch: usize,
}

impl Default for NllOptions {
    fn default() -> Self {
        Self {
            variance: DdpmVariance::Beta,
            clip: true,
            t_samples: None,
            seed: 0,
            batch: 128,
        }
    }
}

/// Timesteps evaluated exactly by the estimate of `t_samples` (the terms change fastest there).
pub const EXACT_SMALL_T: usize = 50;

/// The timesteps to evaluate with the weight of each term: every t, or (with `t_samples` = K)
/// every t ≤ [`EXACT_SMALL_T`] and one seeded t from each of K equal strata of the rest,
/// weighted by its stratum's size: an unbiased, stratified estimate of the sum.
fn timesteps(big_t: usize, opts: &NllOptions) -> Vec<(usize, f64)> {
    let exact = EXACT_SMALL_T.min(big_t);
    match opts.t_samples {
        Some(k) if k > 0 && k < big_t - exact => {
            let mut ts: Vec<(usize, f64)> = (1..=exact).map(|t| (t, 1.0)).collect();
            let rest = big_t - exact;
            let mut rng = Rng::stream(opts.seed, 51);
            for i in 0..k {
                let (lo, hi) = (exact + 1 + i * rest / k, exact + (i + 1) * rest / k);
                let t = lo + rng.below((hi - lo + 1) as u64) as usize;
                ts.push((t, (hi - lo + 1) as f64));
            }
            ts
        }
        _ => (1..=big_t).map(|t| (t, 1.0)).collect(),
    }
}

/// The bound of `images` (flat [n, pixels], values on the 256-level grid of [−1, 1]) under the
/// ε-predictor `predict(t, x_t, ε̂_out)`. `progress(done, total)` is called after each
/// timestep and returns false to cancel (then None).
pub fn nll_bound(
    table: &ScheduleTable,
    images: &[f32],
    pixels: usize,
    opts: &NllOptions,
    predict: &mut EpsPredictor<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Option<NllReport> {
    nll_bound_var(
        table,
        images,
        pixels,
        opts,
        &mut |t, x, e, _| predict(t, x, e),
        progress,
    )
}

/// The bound as [`nll_bound`], for a model that may have learned Σ: with
/// `opts.variance = Learned` each term uses Σ_θ = exp(v·log β_t + (1 − v)·log β̃_t) from the
/// model's o (`predict` fills it); the other variances ignore o.
pub fn nll_bound_var(
    table: &ScheduleTable,
    images: &[f32],
    pixels: usize,
    opts: &NllOptions,
    predict: &mut EpsVarPredictor<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Option<NllReport> {
    let n = images.len() / pixels.max(1);
    let big_t = table.steps();
    let ts = timesteps(big_t, opts);
    let mut per_image = vec![0.0f64; n];
    let mut terms = vec![f64::NAN; big_t];
    // L_T.
    let mut prior_total = 0.0;
    for (i, img) in images.chunks_exact(pixels).enumerate() {
        let p: f64 = img.iter().map(|&x| prior_kl(table, f64::from(x))).sum();
        per_image[i] += p;
        prior_total += p;
    }
    let batch = opts.batch.max(1);
    let (mut xt, mut eps_hat) = (vec![0f32; batch * pixels], vec![0f32; batch * pixels]);
    let learned = opts.variance == DdpmVariance::Learned;
    let mut var = vec![0f32; if learned { batch * pixels } else { 0 }];
    let mut z = vec![0f32; pixels];
    for (k, &(t, weight)) in ts.iter().enumerate() {
        if !progress(k, ts.len()) {
            return None;
        }
        let post = Posterior::at(table, t);
        let sigma2 = reverse_variance(table, t, opts.variance);
        let range = LogVarRange::at(table, t);
        let (sa, so) = (
            table.sqrt_alpha_bar[t - 1],
            table.sqrt_one_minus_alpha_bar[t - 1],
        );
        let mut term_sum = 0.0;
        for start in (0..n).step_by(batch) {
            let b = (n - start).min(batch);
            for i in 0..b {
                let img = &images[(start + i) * pixels..(start + i + 1) * pixels];
                Rng::stream(
                    opts.seed ^ (t as u64).wrapping_mul(0x9e37_79b9),
                    (start + i) as u64,
                )
                .fill_normal(&mut z);
                for ((o, &x), &e) in xt[i * pixels..(i + 1) * pixels].iter_mut().zip(img).zip(&z) {
                    *o = (sa * f64::from(x) + so * f64::from(e)) as f32;
                }
            }
            let v = if learned {
                &mut var[..b * pixels]
            } else {
                &mut var[..0]
            };
            predict(t, &xt[..b * pixels], &mut eps_hat[..b * pixels], v);
            for i in 0..b {
                let img = &images[(start + i) * pixels..(start + i + 1) * pixels];
                let mut nats = 0.0;
                for p in 0..pixels {
                    let (x0, x) = (f64::from(img[p]), f64::from(xt[i * pixels + p]));
                    let e = f64::from(eps_hat[i * pixels + p]);
                    let mut x0_hat = (x - so * e) / sa;
                    if opts.clip {
                        x0_hat = x0_hat.clamp(-1.0, 1.0);
                    }
                    let mean_theta = post.coef_x0 * x0_hat + post.coef_xt * x;
                    if learned {
                        let lv = range.log_variance(f64::from(var[i * pixels + p]));
                        nats += learned::term(table, t, x0, x, mean_theta, lv).nats;
                        continue;
                    }
                    nats += if t == 1 {
                        -discretized_gaussian_log_likelihood(x0, mean_theta, sigma2.sqrt())
                    } else {
                        let mean_q = post.coef_x0 * x0 + post.coef_xt * x;
                        gaussian_kl(mean_q, post.variance, mean_theta, sigma2)
                    };
                }
                per_image[start + i] += weight * nats;
                term_sum += nats;
            }
        }
        terms[t - 1] = term_sum / n.max(1) as f64 / (pixels as f64 * std::f64::consts::LN_2);
    }
    progress(ts.len(), ts.len());
    let to_bpd = |nats: f64| nats / (pixels as f64 * std::f64::consts::LN_2);
    let bpd: Vec<f64> = per_image.iter().map(|&v| to_bpd(v)).collect();
    let (mean, sd) = super::stats::mean_std(&bpd);
    Some(NllReport {
        bits_per_dim: mean,
        std_error: sd / (n.max(1) as f64).sqrt(),
        n,
        dims: pixels,
        prior_bpd: to_bpd(prior_total / n.max(1) as f64),
        decoder_bpd: terms[0],
        terms,
        variance: opts.variance.label().into(),
        timesteps: ts.len(),
    })
}
