//! Histograms of pixel values, drawn against the N(0, 1) density.

/// A density histogram on [lo, hi]: each bin holds count / (total · bin width), so the bars
/// integrate to the fraction of values inside the range.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// The left edge.
    pub lo: f64,
    /// The right edge.
    pub hi: f64,
    /// The density of each bin.
    pub density: Vec<f64>,
}

impl Histogram {
    /// The histogram of `values` on [lo, hi] with `bins` bins (at least 1). Values outside the
    /// range (and NaN) are counted in the total but in no bin.
    pub fn new(values: &[f32], lo: f64, hi: f64, bins: usize) -> Self {
        let bins = bins.max(1);
        let mut counts = vec![0u64; bins];
        let width = (hi - lo) / bins as f64;
        for &v in values {
            let v = f64::from(v);
            if v >= lo && v <= hi {
                let k = (((v - lo) / width) as usize).min(bins - 1);
                counts[k] += 1;
            }
        }
        let total = values.len().max(1) as f64;
        Self {
            lo,
            hi,
            density: counts
                .into_iter()
                .map(|c| c as f64 / (total * width))
                .collect(),
        }
    }

    /// The width of one bin.
    pub fn bin_width(&self) -> f64 {
        (self.hi - self.lo) / self.density.len() as f64
    }

    /// The histogram as a frequency polygon through the bin centres, closed at zero at both
    /// ends, ready for a line plot.
    pub fn polygon_points(&self) -> Vec<[f64; 2]> {
        let w = self.bin_width();
        let mut pts = Vec::with_capacity(self.density.len() + 2);
        pts.push([self.lo, 0.0]);
        for (k, &d) in self.density.iter().enumerate() {
            pts.push([self.lo + (k as f64 + 0.5) * w, d]);
        }
        pts.push([self.hi, 0.0]);
        pts
    }

    /// ∫ density over the range (the fraction of values inside it).
    pub fn mass(&self) -> f64 {
        self.density.iter().sum::<f64>() * self.bin_width()
    }
}

/// The standard normal density φ(x).
pub fn normal_density(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// φ sampled at `n` points on [lo, hi], for a line plot.
pub fn normal_curve(lo: f64, hi: f64, n: usize) -> Vec<[f64; 2]> {
    let n = n.max(2);
    (0..n)
        .map(|k| {
            let x = lo + (hi - lo) * k as f64 / (n - 1) as f64;
            [x, normal_density(x)]
        })
        .collect()
}
