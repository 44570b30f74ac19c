//! The shaped 2-D toy datasets: two moons, swiss roll, circles, checkerboard and drawn points.
//!
//! Each draws flattened (x, y) pairs from a seeded [`Rng`], scaled to about [−2, 2]².

use super::ToyError;
use crate::diffusion::Rng;
use std::f64::consts::PI;

/// Two interleaved half circles (scikit-learn's `make_moons`), centred on the origin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moons {
    /// The standard deviation of the Gaussian noise added to each coordinate.
    pub noise: f64,
}

impl Default for Moons {
    fn default() -> Self {
        Self { noise: 0.05 }
    }
}

impl Moons {
    /// Draws `n` points: each picks a moon with probability ½ and an angle θ uniform on [0, π];
    /// upper moon (cos θ, sin θ), lower moon (1 − cos θ, ½ − sin θ), both shifted by
    /// (−½, −¼) so the pair spans [−1.5, 1.5] × [−0.75, 0.75].
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let theta = PI * rng.uniform();
            let (s, c) = theta.sin_cos();
            let (x, y) = if rng.uniform() < 0.5 {
                (c, s)
            } else {
                (1.0 - c, 0.5 - s)
            };
            out.push(x - 0.5 + self.noise * rng.normal());
            out.push(y - 0.25 + self.noise * rng.normal());
        }
        out
    }
}

/// The 2-D swiss roll (scikit-learn's `make_swiss_roll` seen from above), scaled by 1/7.5.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SwissRoll {
    /// The standard deviation of the Gaussian noise added to each coordinate (after scaling).
    pub noise: f64,
}

impl Default for SwissRoll {
    fn default() -> Self {
        Self { noise: 0.05 }
    }
}

impl SwissRoll {
    /// Draws `n` points (t·cos t, t·sin t)/7.5 with t = 1.5π(1 + 2u), u uniform on [0, 1), so the
    /// roll spans about [−1.3, 1.9] × [−1.6, 1.2].
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
            let (s, c) = t.sin_cos();
            out.push(t * c / 7.5 + self.noise * rng.normal());
            out.push(t * s / 7.5 + self.noise * rng.normal());
        }
        out
    }
}

/// Two concentric circles (scikit-learn's `make_circles`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Circles {
    /// The radius of the outer circle.
    pub radius: f64,
    /// The inner radius as a fraction of the outer one.
    pub factor: f64,
    /// The standard deviation of the Gaussian noise added to each coordinate.
    pub noise: f64,
}

impl Default for Circles {
    fn default() -> Self {
        Self {
            radius: 1.5,
            factor: 0.5,
            noise: 0.05,
        }
    }
}

impl Circles {
    /// Draws `n` points: each picks a circle with probability ½ and a uniform angle.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let theta = 2.0 * PI * rng.uniform();
            let r = if rng.uniform() < 0.5 {
                self.radius
            } else {
                self.radius * self.factor
            };
            let (s, c) = theta.sin_cos();
            out.push(r * c + self.noise * rng.normal());
            out.push(r * s + self.noise * rng.normal());
        }
        out
    }
}

/// A checkerboard: uniform on the "black" cells ((row + column) even) of a grid over
/// [−w, w]².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checkerboard {
    /// Cells per side (0 is read as 1).
    pub cells: usize,
    /// Half the side of the board, w.
    pub half_width: f64,
}

impl Default for Checkerboard {
    fn default() -> Self {
        Self {
            cells: 4,
            half_width: 2.0,
        }
    }
}

impl Checkerboard {
    /// Draws `n` points, uniform over the black cells (a uniform cell is redrawn while white,
    /// which keeps every black cell equally likely for any grid size).
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let cells = self.cells.max(1) as u64;
        let side = 2.0 * self.half_width / cells as f64;
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let (row, col) = loop {
                let (r, c) = (rng.below(cells), rng.below(cells));
                if (r + c) % 2 == 0 {
                    break (r, c);
                }
            };
            out.push(-self.half_width + (col as f64 + rng.uniform()) * side);
            out.push(-self.half_width + (row as f64 + rng.uniform()) * side);
        }
        out
    }
}

/// Points the user drew, sampled with a small Gaussian jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    points: Vec<[f64; 2]>,
    jitter: f64,
}

impl Drawn {
    /// The default jitter σ of drawn points.
    pub const DEFAULT_JITTER: f64 = 0.04;

    /// A dataset from at least one finite point and a jitter σ ≥ 0.
    pub fn new(points: Vec<[f64; 2]>, jitter: f64) -> Result<Self, ToyError> {
        if points.is_empty() {
            return Err(ToyError::EmptyDrawing);
        }
        if let Some(index) = points
            .iter()
            .position(|p| !(p[0].is_finite() && p[1].is_finite()))
        {
            return Err(ToyError::BadPoint { index });
        }
        if !(jitter.is_finite() && jitter >= 0.0) {
            return Err(ToyError::BadJitter(jitter));
        }
        Ok(Self { points, jitter })
    }

    /// A dataset from flattened (x, y) pairs (as read from CSV).
    pub fn from_flat(flat: &[f64], jitter: f64) -> Result<Self, ToyError> {
        if !flat.len().is_multiple_of(2) {
            return Err(ToyError::OddLength(flat.len()));
        }
        Self::new(flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect(), jitter)
    }

    /// The drawn points.
    pub fn points(&self) -> &[[f64; 2]] {
        &self.points
    }

    /// The jitter σ.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Draws `n` points: a uniformly chosen drawn point plus N(0, jitter²) per coordinate.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let p = self.points[rng.below(self.points.len() as u64) as usize];
            out.push(p[0] + self.jitter * rng.normal());
            out.push(p[1] + self.jitter * rng.normal());
        }
        out
    }
}

impl Default for Drawn {
    /// A heart outline of 48 points, (16 sin³t, 13 cos t − 5 cos 2t − 2 cos 3t − cos 4t)/12
    /// shifted up by 0.2, so the "drawn" dataset shows something before the user draws.
    fn default() -> Self {
        let points = (0..48)
            .map(|k| {
                let t = 2.0 * PI * k as f64 / 48.0;
                let x = 16.0 * t.sin().powi(3);
                let y = 13.0 * t.cos()
                    - 5.0 * (2.0 * t).cos()
                    - 2.0 * (3.0 * t).cos()
                    - (4.0 * t).cos();
                [x / 12.0, y / 12.0 + 0.2]
            })
            .collect();
        Self {
            points,
            jitter: Self::DEFAULT_JITTER,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checkerboard_uses_only_black_cells() {
        let board = Checkerboard {
            cells: 3,
            half_width: 1.5,
        };
        let pts = board.sample(3000, &mut Rng::seed(1));
        let mut counts = [0usize; 9];
        for p in pts.chunks_exact(2) {
            let cell = |v: f64| ((v + 1.5) as usize).min(2);
            let (c, r) = (cell(p[0]), cell(p[1]));
            assert_eq!((r + c) % 2, 0, "{p:?}");
            counts[3 * r + c] += 1;
        }
        // 5 black cells, 600 points each on average; binomial sd ≈ 22, so ±120 is > 5σ.
        for k in [0, 2, 4, 6, 8] {
            assert!((counts[k] as i64 - 600).abs() < 120, "{counts:?}");
        }
    }

    #[test]
    fn drawn_needs_points_and_jitters_them() {
        assert_eq!(Drawn::new(vec![], 0.1), Err(ToyError::EmptyDrawing));
        assert_eq!(
            Drawn::new(vec![[0.0, 0.0], [f64::NAN, 1.0]], 0.1),
            Err(ToyError::BadPoint { index: 1 })
        );
        assert_eq!(
            Drawn::new(vec![[0.0, 0.0]], -1.0),
            Err(ToyError::BadJitter(-1.0))
        );
        assert_eq!(Drawn::from_flat(&[1.0], 0.1), Err(ToyError::OddLength(1)));
        let d = Drawn::new(vec![[1.0, -1.0]], 0.0).unwrap();
        assert_eq!(d.sample(2, &mut Rng::seed(0)), vec![1.0, -1.0, 1.0, -1.0]);
        let d = Drawn::from_flat(&[1.0, -1.0, -1.0, 1.0], 0.01).unwrap();
        let pts = d.sample(200, &mut Rng::seed(0));
        assert!(pts.chunks_exact(2).all(|p| {
            ((p[0] - 1.0).abs() < 0.06 && (p[1] + 1.0).abs() < 0.06)
                || ((p[0] + 1.0).abs() < 0.06 && (p[1] - 1.0).abs() < 0.06)
        }));
        assert_eq!(Drawn::default().points().len(), 48);
    }
}
