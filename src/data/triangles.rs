//! Seed 003's synthetic triangles, in its three preparations.
//!
//! Each image is one filled triangle on an n×n canvas (ink = 1 → +1, background 0 → −1).
//! Canvas coordinates are continuous: x to the right, y down, pixel (i, j) is the square
//! [i, i+1) × [j, j+1) with its centre at (i + ½, j + ½). Triangle `k` of a set is drawn from
//! `Rng::stream(seed, k)`: three vertices uniform on [0, n]², redrawn while the area is below
//! [`MIN_AREA_FRACTION`] of the canvas. The vertices depend only on `(seed, k, n)`, so the three
//! preparations of one seed show the same triangles and can be compared.
//!
//! The preparations ([`TrianglePrep`]) reproduce the seed's three training sets:
//! - **Direct** ("low resolution"): drawn straight at n×n by an anti-aliasing rasteriser, a
//!   model of the seed's `ImageDraw` output: the fill's coverage is estimated from a 4×4
//!   supersample per pixel, and the outline is stroked with Xiaolin Wu's anti-aliased lines
//!   (composited with `max`). Wu's lines always light a *pair* of pixels across the edge and run
//!   half a pixel past the vertices, so grey dots appear in pixels next to the true edge and
//!   around the corners: the seed's "grey dots … noise in the data".
//! - **Downsampled** ("high resolution"): drawn hard-edged at 720×720 (pixel-centre test),
//!   then resized to n×n by area averaging (a box filter, PIL's `Image.BOX`). Instead of
//!   rasterising 720² pixels, every high-resolution row contributes its ink span as a
//!   continuous interval to the output pixels it overlaps, which gives the same result exactly
//!   (up to rounding) at about 1/40 of the cost.
//! - **Binary** ("array format"): hard-edged at n×n (a pixel is ink when its centre is inside),
//!   values in {−1, +1} only; no grey at all, but jagged edges.
//!
//! Direct and Downsampled are quantised to 8 bits, as an image file would be.
//!
//! **Stray grey pixels** ([`stray_grey_pixels`]) measure the seed's claim that direct drawing
//! leaves noise dots and the 720 → n route mitigates it: a pixel is *grey* when its ink value
//! lies strictly inside (`GREY_EPS`, 1 − `GREY_EPS`), and *stray* when, besides, its square
//! grown by [`BOUNDARY_MARGIN`] on every side does not meet the exact triangle outline — a grey
//! value there is not explained by partial coverage of the pixel by the triangle. The margin
//! absorbs the half-high-resolution-pixel (1/45 px at n = 32) quantisation of the 720 drawing.

use super::{DataError, Dataset};
use crate::diffusion::Rng;

/// Side of the high-resolution canvas of [`TrianglePrep::Downsampled`].
pub const HIGH_RES: usize = 720;
/// Triangles with area below this fraction of the canvas are redrawn (no slivers).
pub const MIN_AREA_FRACTION: f64 = 0.02;
/// Ink values within this distance of 0 or 1 do not count as grey.
pub const GREY_EPS: f64 = 0.02;
/// How far (in pixels) a pixel square is grown before testing whether it meets the outline.
pub const BOUNDARY_MARGIN: f64 = 0.05;
/// Supersampling factor per axis of the direct drawing's fill.
const SUPERSAMPLE: usize = 4;

/// How a triangle set is prepared (seed 003's three training sets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrianglePrep {
    /// Anti-aliased drawing straight at n×n: smooth edges with grey dots around them.
    #[default]
    Direct,
    /// Hard drawing at 720×720, area-averaged down to n×n: smooth, clean edges.
    Downsampled,
    /// Hard drawing at n×n (pixel-centre test): values in {−1, +1}, jagged edges.
    Binary,
}

impl TrianglePrep {
    /// All preparations, in the seed's order.
    pub const ALL: [TrianglePrep; 3] = [Self::Direct, Self::Downsampled, Self::Binary];

    /// A short lowercase name (`direct`, `downsampled`, `binary`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Downsampled => "downsampled",
            Self::Binary => "binary",
        }
    }
}

/// Parameters of a triangle set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TriangleConfig {
    /// Number of images (1..=100 000; the seed uses 10 000).
    pub count: usize,
    /// Canvas side n (4..=720; the seed uses 32).
    pub size: usize,
    /// Random seed; triangle k uses `Rng::stream(seed, k)`.
    pub seed: u64,
    /// The preparation.
    pub prep: TrianglePrep,
}

impl Default for TriangleConfig {
    /// 10 000 direct-drawn 32×32 triangles with seed 3.
    fn default() -> Self {
        Self {
            count: 10_000,
            size: 32,
            seed: 3,
            prep: TrianglePrep::Direct,
        }
    }
}

/// A triangle on the n×n canvas, vertices in pixel units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Triangle {
    /// The three vertices `[x, y]`.
    pub vertices: [[f64; 2]; 3],
}

impl Triangle {
    /// Triangle `index` of the set with this `seed`, on a `size`×`size` canvas.
    pub fn random(seed: u64, index: u64, size: usize) -> Self {
        let n = size as f64;
        let mut rng = Rng::stream(seed, index);
        for _ in 0..10_000 {
            let mut v = [[0.0; 2]; 3];
            for p in &mut v {
                *p = [rng.uniform() * n, rng.uniform() * n];
            }
            let t = Self { vertices: v };
            if t.area() >= MIN_AREA_FRACTION * n * n {
                return t;
            }
        }
        // Unreachable in practice (a draw is accepted with probability > 0.8).
        Self {
            vertices: [[0.1 * n, 0.9 * n], [0.5 * n, 0.1 * n], [0.9 * n, 0.9 * n]],
        }
    }

    /// The area in square pixels.
    pub fn area(&self) -> f64 {
        let [a, b, c] = self.vertices;
        0.5 * ((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])).abs()
    }

    /// The three edges as segments.
    fn edges(&self) -> [[[f64; 2]; 2]; 3] {
        let [a, b, c] = self.vertices;
        [[a, b], [b, c], [c, a]]
    }

    /// The triangle scaled by `s` about the origin.
    fn scaled(&self, s: f64) -> Self {
        let mut t = *self;
        for p in &mut t.vertices {
            p[0] *= s;
            p[1] *= s;
        }
        t
    }

    /// The horizontal extent `[x_left, x_right]` of the triangle at height `y`, if any.
    fn span(&self, y: f64) -> Option<(f64, f64)> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for [p, q] in self.edges() {
            let (y0, y1) = (p[1].min(q[1]), p[1].max(q[1]));
            if y < y0 || y > y1 {
                continue;
            }
            if y1 - y0 < 1e-12 {
                lo = lo.min(p[0].min(q[0]));
                hi = hi.max(p[0].max(q[0]));
            } else {
                let x = p[0] + (q[0] - p[0]) * (y - p[1]) / (q[1] - p[1]);
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// Whether the square `[x0, x1] × [y0, y1]` meets the triangle's outline (Liang–Barsky
    /// clipping of each edge against the square).
    fn outline_meets_box(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> bool {
        self.edges().iter().any(|&[p, q]| {
            let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
            let (mut t0, mut t1) = (0.0f64, 1.0f64);
            for (den, num) in [
                (-dx, p[0] - x0),
                (dx, x1 - p[0]),
                (-dy, p[1] - y0),
                (dy, y1 - p[1]),
            ] {
                if den == 0.0 {
                    if num < 0.0 {
                        return false;
                    }
                } else {
                    let t = num / den;
                    if den < 0.0 {
                        t0 = t0.max(t);
                    } else {
                        t1 = t1.min(t);
                    }
                }
            }
            t0 <= t1
        })
    }

    /// Whether pixel `(i, j)`'s square, grown by `margin`, meets the exact outline.
    pub fn pixel_on_outline(&self, i: usize, j: usize, margin: f64) -> bool {
        let (x, y) = (i as f64, j as f64);
        self.outline_meets_box(x - margin, y - margin, x + 1.0 + margin, y + 1.0 + margin)
    }

    /// Renders the triangle on a `size`×`size` canvas; values in [−1, 1], row-major.
    pub fn render(&self, size: usize, prep: TrianglePrep) -> Vec<f32> {
        let ink = match prep {
            TrianglePrep::Direct => self.ink_direct(size),
            TrianglePrep::Downsampled => self.ink_downsampled(size),
            TrianglePrep::Binary => return self.ink_binary(size),
        };
        ink.iter()
            .map(|&v| super::u8_to_unit((v.clamp(0.0, 1.0) * 255.0).round() as u8))
            .collect()
    }

    /// Pixel-centre test at n×n: ±1 only.
    fn ink_binary(&self, n: usize) -> Vec<f32> {
        let mut out = vec![-1.0f32; n * n];
        for j in 0..n {
            if let Some((lo, hi)) = self.span(j as f64 + 0.5) {
                // Columns i with lo <= i + 0.5 <= hi.
                let i0 = (lo - 0.5).ceil().max(0.0) as usize;
                let i1 = (hi - 0.5).floor().min(n as f64 - 1.0);
                if i1 >= 0.0 {
                    for v in out[j * n..].iter_mut().take(i1 as usize + 1).skip(i0) {
                        *v = 1.0;
                    }
                }
            }
        }
        out
    }

    /// Supersampled fill plus Wu-antialiased outline, as ink fractions in [0, 1].
    fn ink_direct(&self, n: usize) -> Vec<f64> {
        let s = SUPERSAMPLE;
        let sf = s as f64;
        let mut counts = vec![0u32; n * n];
        for sj in 0..n * s {
            let y = (sj as f64 + 0.5) / sf;
            let Some((lo, hi)) = self.span(y) else {
                continue;
            };
            // Sub-columns k (sample at (k + 0.5) / s) with lo <= x <= hi.
            let k0 = (lo * sf - 0.5).ceil().max(0.0) as usize;
            let k1 = (hi * sf - 0.5).floor().min((n * s) as f64 - 1.0);
            if k1 < 0.0 {
                continue;
            }
            let row = &mut counts[(sj / s) * n..(sj / s + 1) * n];
            for k in k0..=k1 as usize {
                row[k / s] += 1;
            }
        }
        let total = (s * s) as f64;
        let mut ink: Vec<f64> = counts.iter().map(|&c| f64::from(c) / total).collect();
        for [p, q] in self.edges() {
            wu_line(&mut ink, n, p, q);
        }
        ink
    }

    /// Hard fill at 720×720 area-averaged to n×n, as ink fractions in [0, 1].
    fn ink_downsampled(&self, n: usize) -> Vec<f64> {
        let scale = HIGH_RES as f64 / n as f64;
        let hi_tri = self.scaled(scale);
        let mut acc = vec![0.0f64; n * n];
        let last = HIGH_RES as f64 - 1.0;
        for row in 0..HIGH_RES {
            let Some((lo, hi)) = hi_tri.span(row as f64 + 0.5) else {
                continue;
            };
            // Ink pixels X with lo <= X + 0.5 <= hi, as the continuous interval [X0, X1 + 1).
            let x0 = (lo - 0.5).ceil().max(0.0);
            let x1 = (hi - 0.5).floor().min(last);
            if x1 < x0 {
                continue;
            }
            let (a, b) = (x0 / scale, (x1 + 1.0) / scale);
            let (ya, yb) = (row as f64 / scale, (row as f64 + 1.0) / scale);
            let (r0, r1) = (
                ya.floor() as usize,
                ((yb.ceil() as usize).min(n)).max(1) - 1,
            );
            let (c0, c1) = (a.floor() as usize, ((b.ceil() as usize).min(n)).max(1) - 1);
            for r in r0..=r1.min(n - 1) {
                let wy = yb.min(r as f64 + 1.0) - ya.max(r as f64);
                if wy <= 0.0 {
                    continue;
                }
                for c in c0..=c1.min(n - 1) {
                    let wx = b.min(c as f64 + 1.0) - a.max(c as f64);
                    if wx > 0.0 {
                        acc[r * n + c] += wx * wy;
                    }
                }
            }
        }
        acc
    }
}

/// Draws an anti-aliased line (Xiaolin Wu) from `p` to `q` into `ink` (n×n, composited with
/// `max`). Canvas coordinates are shifted by −½ so that pixel centres are integers, as Wu's
/// algorithm expects.
fn wu_line(ink: &mut [f64], n: usize, p: [f64; 2], q: [f64; 2]) {
    let (mut x0, mut y0, mut x1, mut y1) = (p[0] - 0.5, p[1] - 0.5, q[0] - 0.5, q[1] - 0.5);
    let steep = (y1 - y0).abs() > (x1 - x0).abs();
    if steep {
        std::mem::swap(&mut x0, &mut y0);
        std::mem::swap(&mut x1, &mut y1);
    }
    if x0 > x1 {
        std::mem::swap(&mut x0, &mut x1);
        std::mem::swap(&mut y0, &mut y1);
    }
    let mut plot = |x: f64, y: f64, c: f64| {
        let (px, py) = if steep { (y, x) } else { (x, y) };
        if px >= 0.0 && py >= 0.0 && px < n as f64 && py < n as f64 {
            let k = py as usize * n + px as usize;
            ink[k] = ink[k].max(c);
        }
    };
    let fpart = |x: f64| x - x.floor();
    let rfpart = |x: f64| 1.0 - fpart(x);
    let dx = x1 - x0;
    let gradient = if dx.abs() < 1e-12 {
        1.0
    } else {
        (y1 - y0) / dx
    };

    // First endpoint.
    let xend = (x0 + 0.5).floor();
    let yend = y0 + gradient * (xend - x0);
    let xgap = rfpart(x0 + 0.5);
    let xpxl1 = xend;
    plot(xpxl1, yend.floor(), rfpart(yend) * xgap);
    plot(xpxl1, yend.floor() + 1.0, fpart(yend) * xgap);
    let mut intery = yend + gradient;

    // Second endpoint.
    let xend = (x1 + 0.5).floor();
    let yend = y1 + gradient * (xend - x1);
    let xgap = fpart(x1 + 0.5);
    let xpxl2 = xend;
    plot(xpxl2, yend.floor(), rfpart(yend) * xgap);
    plot(xpxl2, yend.floor() + 1.0, fpart(yend) * xgap);

    let mut x = xpxl1 + 1.0;
    while x < xpxl2 {
        plot(x, intery.floor(), rfpart(intery));
        plot(x, intery.floor() + 1.0, fpart(intery));
        intery += gradient;
        x += 1.0;
    }
}

/// Counts the stray grey pixels of a rendered triangle (`image`: n×n values in [−1, 1]).
///
/// A pixel is *grey* when its ink value `(v + 1) / 2` lies strictly inside
/// (`GREY_EPS`, 1 − `GREY_EPS`), and *stray* when its square grown by [`BOUNDARY_MARGIN`]
/// does not meet the exact outline of `tri`: no partial coverage explains its grey.
pub fn stray_grey_pixels(image: &[f32], size: usize, tri: &Triangle) -> usize {
    grey_pixels(image, size)
        .filter(|&(i, j)| !tri.pixel_on_outline(i, j, BOUNDARY_MARGIN))
        .count()
}

/// Counts the grey pixels (see [`stray_grey_pixels`]) of an n×n image in [−1, 1].
pub fn grey_pixel_count(image: &[f32]) -> usize {
    let n = (image.len() as f64).sqrt() as usize;
    grey_pixels(image, n).count()
}

fn grey_pixels(image: &[f32], size: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    image.iter().enumerate().filter_map(move |(k, &v)| {
        let ink = (f64::from(v) + 1.0) / 2.0;
        (ink > GREY_EPS && ink < 1.0 - GREY_EPS).then_some((k % size, k / size))
    })
}

/// Generates a triangle set (one channel, `size`×`size`, values in [−1, 1]).
///
/// Fails when `count` is outside 1..=100 000 or `size` outside 4..=720.
pub fn triangles(config: &TriangleConfig) -> Result<Dataset, DataError> {
    let TriangleConfig {
        count,
        size,
        seed,
        prep,
    } = *config;
    if !(1..=100_000).contains(&count) {
        return Err(DataError::InvalidParameter {
            name: "triangle count",
            reason: format!("must be between 1 and 100000, got {count}"),
        });
    }
    if !(4..=HIGH_RES).contains(&size) {
        return Err(DataError::InvalidParameter {
            name: "triangle size",
            reason: format!("must be between 4 and {HIGH_RES}, got {size}"),
        });
    }
    let mut data = crate::mem::try_with_capacity(count * size * size, "the data set's images")?;
    for k in 0..count {
        data.extend(Triangle::random(seed, k as u64, size).render(size, prep));
    }
    Dataset::new(
        format!("triangles-{}-{size}", prep.name()),
        size,
        size,
        1,
        data,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tri(v: [[f64; 2]; 3]) -> Triangle {
        Triangle { vertices: v }
    }

    #[test]
    fn area_and_span() {
        let t = tri([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]]);
        assert_eq!(t.area(), 8.0);
        assert_eq!(t.span(1.0), Some((0.0, 3.0)));
        assert_eq!(t.span(5.0), None);
    }

    #[test]
    fn downsampled_mass_matches_area() {
        // Area averaging preserves ink mass up to the 720-grid and 8-bit quantisation.
        for k in 0..20 {
            let t = Triangle::random(11, k, 32);
            let ink = t.ink_downsampled(32);
            let mass: f64 = ink.iter().sum();
            assert!(
                (mass - t.area()).abs() < 0.02 * t.area() + 0.5,
                "{mass} vs {}",
                t.area()
            );
            assert!(ink.iter().all(|&v| (-1e-9..=1.0 + 1e-9).contains(&v)));
        }
    }

    #[test]
    fn downsampled_of_axis_aligned_square_block_is_exact() {
        // A right triangle covering exactly the lower-left half of the canvas diagonal:
        // pixels fully inside are 1, the diagonal ones 1/2 (up to the 720 grid).
        let t = tri([[0.0, 0.0], [8.0, 8.0], [0.0, 8.0]]);
        let ink = t.ink_downsampled(8);
        assert!((ink[7 * 8] - 1.0).abs() < 1e-9);
        assert!((ink[3 * 8 + 3] - 0.5).abs() < 0.05, "{}", ink[3 * 8 + 3]);
        assert!(ink[3].abs() < 1e-9);
    }

    #[test]
    fn outline_box_test() {
        let t = tri([[0.5, 0.5], [10.5, 0.5], [0.5, 10.5]]);
        assert!(t.pixel_on_outline(0, 0, 0.0));
        assert!(!t.pixel_on_outline(3, 3, 0.0));
        assert!(!t.pixel_on_outline(20, 20, 0.1));
    }

    #[test]
    fn config_bounds() {
        let bad = TriangleConfig {
            size: 2,
            ..TriangleConfig::default()
        };
        assert!(triangles(&bad).is_err());
        let bad = TriangleConfig {
            count: 0,
            ..TriangleConfig::default()
        };
        assert!(triangles(&bad).is_err());
    }
}

/// The grey and the stray-grey fractions of `n` sample images (size × size, values in
/// [−1, 1]), for seed 003 §5.2's claim on what the models *draw* (#15 §3). A sample has no
/// exact outline, so its own edge stands in for it: a grey pixel (as in
/// [`stray_grey_pixels`]) is stray when its eight neighbours hold no ink/background edge,
/// i.e. all of them fall on the same side of ink 1/2 (a grey dot in an even area). Returns
/// (grey, stray) as fractions of all pixels.
pub fn sample_grey_fractions(images: &[f32], n: usize, size: usize) -> (f64, f64) {
    let per = size * size;
    if n == 0 || per == 0 || images.len() < n * per {
        return (f64::NAN, f64::NAN);
    }
    let (mut grey, mut stray) = (0usize, 0usize);
    for img in images.chunks_exact(per).take(n) {
        let inked = |x: usize, y: usize| img[y * size + x] > 0.0;
        for (x, y) in grey_pixels(img, size) {
            grey += 1;
            let (x0, x1) = (x.saturating_sub(1), (x + 1).min(size - 1));
            let (y0, y1) = (y.saturating_sub(1), (y + 1).min(size - 1));
            let around = (y0..=y1)
                .flat_map(|yy| (x0..=x1).map(move |xx| (xx, yy)))
                .filter(|&p| p != (x, y));
            let (mut ink, mut background) = (false, false);
            for (xx, yy) in around {
                if inked(xx, yy) {
                    ink = true;
                } else {
                    background = true;
                }
            }
            let edge = ink && background;
            if !edge {
                stray += 1;
            }
        }
    }
    let total = (n * per) as f64;
    (grey as f64 / total, stray as f64 / total)
}

#[cfg(test)]
mod sample_grey_tests {
    use super::sample_grey_fractions;

    #[test]
    fn a_grey_dot_in_an_even_area_is_stray_and_one_on_an_edge_is_not() {
        // 4×4 images. First: all ink but one grey pixel inside → 1 grey, 1 stray. Second:
        // left half background, right half ink, one grey pixel on the edge → 1 grey, 0 stray.
        let mut a = vec![1.0f32; 16];
        a[5] = 0.0;
        let mut b: Vec<f32> = (0..16)
            .map(|k| if k % 4 < 2 { -1.0 } else { 1.0 })
            .collect();
        b[6] = 0.2;
        let both: Vec<f32> = a.iter().chain(&b).copied().collect();
        assert_eq!(sample_grey_fractions(&a, 1, 4), (1.0 / 16.0, 1.0 / 16.0));
        assert_eq!(sample_grey_fractions(&b, 1, 4), (1.0 / 16.0, 0.0));
        assert_eq!(sample_grey_fractions(&both, 2, 4), (2.0 / 32.0, 1.0 / 32.0));
        assert!(sample_grey_fractions(&a, 2, 4).0.is_nan(), "too few values");
    }
}
