//! Gaussian mixtures with diagonal covariance, and their exact denoiser under the forward process.
//!
//! If x₀ ~ Σ_k w_k N(m_k, diag(s_k²)) then x_t = a·x₀ + b·ε (a = √ᾱ_t, b = √(1 − ᾱ_t)) is again a
//! mixture, x_t | k ~ N(a·m_k, diag(a²s_k² + b²)). Its score and the optimal ε-predictor
//! E[ε | x_t] = −b·∇log p_t(x_t) follow in closed form. This is the exact denoiser used to test
//! samplers and to draw the true score field in the 2-D lab.

use super::Rng;

/// One mixture component.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Mixing weight (the weights are normalised by the mixture).
    pub weight: f64,
    /// Mean, one value per dimension.
    pub mean: Vec<f64>,
    /// Standard deviation, one value per dimension (> 0).
    pub std: Vec<f64>,
}

/// A Gaussian mixture with diagonal covariances.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    components: Vec<Component>,
    dim: usize,
}

impl GaussianMixture {
    /// Builds a mixture; weights are normalised. Returns `None` if the components are empty,
    /// disagree on the dimension, or have a non-positive weight or standard deviation.
    pub fn new(mut components: Vec<Component>) -> Option<Self> {
        let dim = components.first()?.mean.len();
        let ok = dim > 0
            && components.iter().all(|c| {
                c.mean.len() == dim
                    && c.std.len() == dim
                    && c.weight > 0.0
                    && c.weight.is_finite()
                    && c.std.iter().all(|s| *s > 0.0 && s.is_finite())
                    && c.mean.iter().all(|m| m.is_finite())
            });
        if !ok {
            return None;
        }
        let total: f64 = components.iter().map(|c| c.weight).sum();
        for c in &mut components {
            c.weight /= total;
        }
        Some(Self { components, dim })
    }

    /// Seed 001's "mixture of two Gaussians" in 2-D (Figs. 2–3): weights 0.2 / 0.8.
    pub fn seed001_two_gaussians() -> Self {
        let c = |w: f64, m: [f64; 2]| Component {
            weight: w,
            mean: m.to_vec(),
            std: vec![0.1, 0.1],
        };
        Self {
            components: vec![c(0.2, [-0.5, -0.5]), c(0.8, [0.5, 0.5])],
            dim: 2,
        }
    }

    /// The components (weights normalised).
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The dimension of a point.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Draws `n` points, flattened row by row.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let mut out = Vec::with_capacity(n * self.dim);
        for _ in 0..n {
            let c = self.pick(rng);
            for d in 0..self.dim {
                out.push(c.mean[d] + c.std[d] * rng.normal());
            }
        }
        out
    }

    fn pick(&self, rng: &mut Rng) -> &Component {
        let u = rng.uniform();
        let mut acc = 0.0;
        for c in &self.components {
            acc += c.weight;
            if u < acc {
                return c;
            }
        }
        &self.components[self.components.len() - 1]
    }

    /// Responsibilities p(k | x_t) and the per-component log-density terms, for x_t = a·x₀ + b·ε.
    fn responsibilities(&self, x: &[f64], a: f64, b: f64, resp: &mut Vec<f64>) {
        resp.clear();
        let mut max = f64::NEG_INFINITY;
        for c in &self.components {
            let mut lp = c.weight.ln();
            for ((xd, m), sd) in x.iter().zip(&c.mean).zip(&c.std) {
                let var = a * a * sd * sd + b * b;
                let r = xd - a * m;
                lp -= 0.5 * (r * r / var + var.ln());
            }
            max = max.max(lp);
            resp.push(lp);
        }
        let mut total = 0.0;
        for r in resp.iter_mut() {
            *r = (*r - max).exp();
            total += *r;
        }
        for r in resp.iter_mut() {
            *r /= total;
        }
    }

    /// The score ∇ log p_t(x) of the noised mixture, written into `out` (one point).
    pub fn score(&self, x: &[f64], signal: f64, noise: f64, out: &mut [f64]) {
        let mut resp = Vec::with_capacity(self.components.len());
        self.responsibilities(x, signal, noise, &mut resp);
        out.iter_mut().for_each(|v| *v = 0.0);
        for (c, r) in self.components.iter().zip(&resp) {
            for d in 0..self.dim {
                let var = signal * signal * c.std[d] * c.std[d] + noise * noise;
                out[d] -= r * (x[d] - signal * c.mean[d]) / var;
            }
        }
    }

    /// The marginal density p_t(x) of the noised mixture at one point.
    pub fn density(&self, x: &[f64], signal: f64, noise: f64) -> f64 {
        self.components
            .iter()
            .map(|c| {
                let mut p = c.weight;
                for ((xd, m), sd) in x.iter().zip(&c.mean).zip(&c.std) {
                    let var = signal * signal * sd * sd + noise * noise;
                    let r = xd - signal * m;
                    p *= (-0.5 * r * r / var).exp() / (2.0 * std::f64::consts::PI * var).sqrt();
                }
                p
            })
            .sum()
    }

    /// The optimal ε-predictor E[ε | x_t] = −√(1 − ᾱ)·∇log p_t, for a flattened batch.
    pub fn optimal_eps(&self, xs: &[f64], signal: f64, noise: f64, out: &mut [f64]) {
        let mut score = vec![0.0; self.dim];
        for (x, o) in xs
            .chunks_exact(self.dim)
            .zip(out.chunks_exact_mut(self.dim))
        {
            self.score(x, signal, noise, &mut score);
            for d in 0..self.dim {
                o[d] = -noise * score[d];
            }
        }
    }
}
