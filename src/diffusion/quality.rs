//! Image-quality measures for noise-then-denoise: PSNR and SSIM of a reconstruction against its
//! original, on images stored as [C, H, W] slices in [−1, 1].

/// The dynamic range of images in [−1, 1].
const RANGE: f64 = 2.0;

/// Peak signal-to-noise ratio in dB, for values in [−1, 1] (peak-to-peak range 2).
/// Identical images give +∞.
pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    if a.is_empty() {
        return f64::INFINITY;
    }
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (RANGE * RANGE / mse).log10()
    }
}

/// Mean structural similarity (Wang et al. 2004), computed as scikit-image's default does:
/// `skimage.metrics.structural_similarity(a, b, data_range=2.0, channel_axis=0)` for images
/// of shape [C, H, W] in [−1, 1]. That is: 7×7 uniform windows; sample (co)variances, i.e.
/// the window's population moments times N/(N − 1) = 49/48; C₁ = (0.01·L)², C₂ = (0.03·L)²
/// with L = 2; the SSIM map averaged only over the pixels whose window lies wholly inside the
/// image (a border of (7 − 1)/2 = 3 pixels on every side is cropped); and, for several
/// channels, the mean of the per-channel values. Identical images give 1.
///
/// Images with a side under 7 pixels, which scikit-image refuses by default, use the largest
/// odd window that fits (5 or 3), as scikit-image does when that `win_size` is passed
/// explicitly. A side of 1 or 2 pixels (or an empty image) has no SSIM: with a 1×1 window the
/// sample variance divides by zero (scikit-image raises), so the result is NaN.
pub fn ssim(a: &[f32], b: &[f32], shape: [usize; 3]) -> f64 {
    let [c, h, w] = shape;
    assert_eq!(a.len(), c * h * w, "first image does not match the shape");
    assert_eq!(b.len(), c * h * w, "second image does not match the shape");
    let Some(win) = ssim_window(h, w) else {
        return f64::NAN;
    };
    if c == 0 {
        return f64::NAN;
    }
    let (c1, c2) = ((0.01 * RANGE).powi(2), (0.03 * RANGE).powi(2));
    let n = (win * win) as f64;
    let cov_norm = n / (n - 1.0);
    let pad = (win - 1) / 2;
    let inner = ((h - 2 * pad) * (w - 2 * pad)) as f64;
    let mut total = 0.0;
    for ch in 0..c {
        let plane = ch * h * w;
        let at = |v: &[f32], y: usize, x: usize| f64::from(v[plane + y * w + x]);
        let mut sum = 0.0;
        for y in pad..h - pad {
            for x in pad..w - pad {
                let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for yy in y - pad..=y + pad {
                    for xx in x - pad..=x + pad {
                        let (p, q) = (at(a, yy, xx), at(b, yy, xx));
                        sa += p;
                        sb += q;
                        saa += p * p;
                        sbb += q * q;
                        sab += p * q;
                    }
                }
                let (ma, mb) = (sa / n, sb / n);
                let va = cov_norm * (saa / n - ma * ma);
                let vb = cov_norm * (sbb / n - mb * mb);
                let cov = cov_norm * (sab / n - ma * mb);
                sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                    / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            }
        }
        total += sum / inner;
    }
    total / c as f64
}

/// The side of the SSIM window for an h × w image: 7, or the largest odd number that fits when
/// a side is smaller; None when a side is under 3 pixels.
pub fn ssim_window(h: usize, w: usize) -> Option<usize> {
    let side = h.min(w).min(7);
    let win = if side % 2 == 1 {
        side
    } else {
        side.saturating_sub(1)
    };
    (win >= 3).then_some(win)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_are_perfect() {
        let a: Vec<f32> = (0..64).map(|i| (i as f32 / 32.0) - 1.0).collect();
        assert!(psnr(&a, &a).is_infinite());
        assert!((ssim(&a, &a, [1, 8, 8]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn psnr_of_a_constant_offset() {
        // An offset of 0.2 on range 2: PSNR = 10·log10(4 / 0.04) = 20 dB.
        let a = vec![0.0f32; 100];
        let b = vec![0.2f32; 100];
        assert!((psnr(&a, &b) - 20.0).abs() < 1e-5);
    }

    #[test]
    fn ssim_drops_with_noise_and_is_symmetric() {
        let mut rng = crate::diffusion::Rng::seed(1);
        let a: Vec<f32> = (0..256).map(|i| ((i % 16) as f32 / 8.0) - 1.0).collect();
        let small: Vec<f32> = a.iter().map(|&v| v + 0.05 * rng.normal() as f32).collect();
        let big: Vec<f32> = a.iter().map(|&v| v + 0.8 * rng.normal() as f32).collect();
        let (s1, s2) = (ssim(&a, &small, [1, 16, 16]), ssim(&a, &big, [1, 16, 16]));
        assert!(s1 > s2 && s1 < 1.0 && s2 > -1.0, "{s1} {s2}");
        assert!((ssim(&a, &big, [1, 16, 16]) - ssim(&big, &a, [1, 16, 16])).abs() < 1e-12);
    }
}
