//! What the 2-D lab draws at a timestep t: the forward scatter x_t, the score field on a grid,
//! and the marginal density of x_t as a heatmap. Pure maths on slices.

use super::ToyDataset;
use super::sampling::EpsModel;
use crate::diffusion::ScheduleTable;

/// A square view [−h, h]² sampled on an `n`×`n` grid of cell centres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// Half the side of the square.
    pub half: f64,
    /// Cells per side.
    pub n: usize,
}

impl Grid {
    /// The centre of cell (column i, row j), row 0 at the bottom.
    pub fn centre(&self, i: usize, j: usize) -> [f64; 2] {
        let cell = 2.0 * self.half / self.n as f64;
        [
            -self.half + (i as f64 + 0.5) * cell,
            -self.half + (j as f64 + 0.5) * cell,
        ]
    }

    /// Every cell centre, row by row from the bottom, flattened (x, y).
    pub fn points(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(2 * self.n * self.n);
        for j in 0..self.n {
            for i in 0..self.n {
                out.extend(self.centre(i, j));
            }
        }
        out
    }
}

/// x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε for flattened points and matching noise (t = 0 gives x₀).
pub fn forward_points(table: &ScheduleTable, t: usize, x0: &[f64], eps: &[f64]) -> Vec<f64> {
    let (a, b) = (
        table.alpha_bar_at(t).sqrt(),
        table.one_minus_alpha_bar_at(t).sqrt(),
    );
    x0.iter().zip(eps).map(|(x, e)| a * x + b * e).collect()
}

/// The score s_t = −ε̂/√(1 − ᾱ_t) of `model` at the flattened points, t ∈ 1..=T.
pub fn score_at(
    model: &mut dyn EpsModel,
    table: &ScheduleTable,
    t: usize,
    points: &[f64],
) -> Vec<f64> {
    let mut out = vec![0.0; points.len()];
    model.eps(t, points, &mut out);
    let b = table.sqrt_one_minus_alpha_bar[t - 1];
    out.iter_mut().for_each(|v| *v = -*v / b);
    out
}

/// The smallest kernel width of the empirical density estimate (the data's own jitter).
const MIN_BANDWIDTH: f64 = 0.05;

/// The marginal density p_t on `grid` (row by row from the bottom). For a Gaussian mixture it is
/// exact; otherwise it is the density of the noised empirical distribution of `data` (a mixture
/// of N(√ᾱ·x_i, (1 − ᾱ + h²)I) with a small floor h), which is what the forward process does to
/// those points.
pub fn density_grid(
    dataset: &ToyDataset,
    data: &[f64],
    table: &ScheduleTable,
    t: usize,
    grid: &Grid,
) -> Vec<f64> {
    let (a, b) = (
        table.alpha_bar_at(t).sqrt(),
        table.one_minus_alpha_bar_at(t).sqrt(),
    );
    let pts = grid.points();
    if let Some(m) = dataset.mixture() {
        return pts.chunks_exact(2).map(|p| m.density(p, a, b)).collect();
    }
    let var = b * b + MIN_BANDWIDTH * MIN_BANDWIDTH;
    let norm = 1.0 / (2.0 * std::f64::consts::PI * var) / (data.len() / 2).max(1) as f64;
    let centres: Vec<[f64; 2]> = data.chunks_exact(2).map(|c| [a * c[0], a * c[1]]).collect();
    pts.chunks_exact(2)
        .map(|p| {
            centres
                .iter()
                .map(|c| {
                    let d2 = (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2);
                    (-0.5 * d2 / var).exp()
                })
                .sum::<f64>()
                * norm
        })
        .collect()
}
