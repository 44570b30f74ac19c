//! The statistics of sample quality, on plain f64 feature vectors (row-major, `dim` columns):
//! FID, KID, the Inception Score, precision and recall on k-NN manifolds, the class histogram.
//! No network here: the features come from [`super::classifier`].

/// The mean and the unbiased (n − 1) covariance of the rows of `x` ([n, dim]).
pub fn mean_cov(x: &[f64], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / dim.max(1);
    let mut mu = vec![0.0; dim];
    for row in x.chunks_exact(dim) {
        for (m, v) in mu.iter_mut().zip(row) {
            *m += v;
        }
    }
    mu.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut cov = vec![0.0; dim * dim];
    let mut centred = vec![0.0; dim];
    for row in x.chunks_exact(dim) {
        for ((c, v), m) in centred.iter_mut().zip(row).zip(&mu) {
            *c = v - m;
        }
        for i in 0..dim {
            let ci = centred[i];
            if ci == 0.0 {
                continue;
            }
            let out = &mut cov[i * dim..(i + 1) * dim];
            for (o, cj) in out[i..].iter_mut().zip(&centred[i..]) {
                *o += ci * cj;
            }
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] / denom;
            cov[i * dim + j] = v;
            cov[j * dim + i] = v;
        }
    }
    (mu, cov)
}

/// The eigenvalues and eigenvectors of the symmetric matrix `a` ([n, n]) by cyclic Jacobi
/// rotations. Returns (λ, V) with the eigenvectors in V's columns (row-major [n, n]).
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The square root of a symmetric positive semi-definite matrix (negative eigenvalues from
/// rounding are taken as 0).
pub fn sqrt_psd(a: &[f64], n: usize) -> Vec<f64> {
    let (lambda, v) = symmetric_eigen(a, n);
    let roots: Vec<f64> = lambda.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            let s: f64 = (0..n).map(|k| v[i * n + k] * roots[k] * v[j * n + k]).sum();
            out[i * n + j] = s;
            out[j * n + i] = s;
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for (o, bkj) in out[i * n..(i + 1) * n]
                .iter_mut()
                .zip(&b[k * n..(k + 1) * n])
            {
                *o += aik * bkj;
            }
        }
    }
    out
}

/// The Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂), squared (the "FID" convention,
/// digest R8): ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½). The matrix square root is
/// taken of the symmetric form, so it is exact for any PSD pair.
pub fn frechet_distance(mu1: &[f64], s1: &[f64], mu2: &[f64], s2: &[f64], dim: usize) -> f64 {
    let mean_term: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b).powi(2)).sum();
    let r1 = sqrt_psd(s1, dim);
    let mut m = matmul(&matmul(&r1, s2, dim), &r1, dim);
    // Symmetrise against rounding before the eigen-decomposition.
    for i in 0..dim {
        for j in i + 1..dim {
            let v = 0.5 * (m[i * dim + j] + m[j * dim + i]);
            m[i * dim + j] = v;
            m[j * dim + i] = v;
        }
    }
    let (lambda, _) = symmetric_eigen(&m, dim);
    let tr_sqrt: f64 = lambda.iter().map(|&l| l.max(0.0).sqrt()).sum();
    let trace = |s: &[f64]| (0..dim).map(|i| s[i * dim + i]).sum::<f64>();
    (mean_term + trace(s1) + trace(s2) - 2.0 * tr_sqrt).max(0.0)
}

/// FID between two feature sets ([n, dim] each).
pub fn fid(a: &[f64], b: &[f64], dim: usize) -> f64 {
    let (m1, s1) = mean_cov(a, dim);
    let (m2, s2) = mean_cov(b, dim);
    frechet_distance(&m1, &s1, &m2, &s2, dim)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The unbiased MMD² of two feature sets under the cubic polynomial kernel
/// k(x, y) = (x·y / d + 1)³ (Bińkowski et al. 2018). Needs at least 2 rows in each.
pub fn mmd2_unbiased(x: &[f64], y: &[f64], dim: usize) -> f64 {
    let k = |a: &[f64], b: &[f64]| (dot(a, b) / dim as f64 + 1.0).powi(3);
    let (m, n) = (x.len() / dim, y.len() / dim);
    let within = |s: &[f64], len: usize| {
        let mut total = 0.0;
        for i in 0..len {
            for j in i + 1..len {
                total += k(&s[i * dim..(i + 1) * dim], &s[j * dim..(j + 1) * dim]);
            }
        }
        2.0 * total / (len * (len - 1)) as f64
    };
    let mut cross = 0.0;
    for a in x.chunks_exact(dim) {
        for b in y.chunks_exact(dim) {
            cross += k(a, b);
        }
    }
    within(x, m) + within(y, n) - 2.0 * cross / (m * n) as f64
}

/// KID with its standard error: the rows are cut into `blocks` disjoint blocks (in order),
/// the unbiased MMD² is computed on each pair of blocks, and the result is their mean and
/// standard deviation / √blocks. Disjoint blocks make the estimates independent, so the
/// standard error is honest. `blocks` is reduced so every block has at least 2 rows.
pub fn kid(x: &[f64], y: &[f64], dim: usize, blocks: usize) -> (f64, f64) {
    let (m, n) = (x.len() / dim, y.len() / dim);
    let blocks = blocks.min(m / 2).min(n / 2).max(1);
    let (bm, bn) = (m / blocks, n / blocks);
    let vals: Vec<f64> = (0..blocks)
        .map(|b| {
            mmd2_unbiased(
                &x[b * bm * dim..(b + 1) * bm * dim],
                &y[b * bn * dim..(b + 1) * bn * dim],
                dim,
            )
        })
        .collect();
    let (mean, sd) = mean_std(&vals);
    (mean, sd / (blocks as f64).sqrt())
}

/// The Inception Score exp(E_x KL(p(y|x) ‖ p(y))) of class probabilities ([n, classes]).
pub fn inception_score(probs: &[f64], classes: usize) -> f64 {
    let n = probs.len() / classes;
    if n == 0 {
        return f64::NAN;
    }
    let mut marginal = vec![0.0; classes];
    for row in probs.chunks_exact(classes) {
        marginal.iter_mut().zip(row).for_each(|(m, p)| *m += p);
    }
    marginal.iter_mut().for_each(|m| *m /= n as f64);
    let kl: f64 = probs
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .zip(&marginal)
                .filter(|(p, _)| **p > 0.0)
                .map(|(p, m)| p * (p.ln() - m.ln()))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    kl.exp()
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// The squared distance of each row of `x` to its k-th nearest neighbour among the other rows.
fn knn_radii(x: &[f64], dim: usize, k: usize) -> Vec<f64> {
    use rayon::prelude::*;
    let rows: Vec<&[f64]> = x.chunks_exact(dim).collect();
    rows.par_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut d: Vec<f64> = rows
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, b)| sq_dist(a, b))
                .collect();
            let k = k.min(d.len()).max(1) - 1;
            if d.is_empty() {
                return 0.0;
            }
            *d.select_nth_unstable_by(k, f64::total_cmp).1
        })
        .collect()
}

/// The fraction of `query` rows inside the manifold of `support`: within the k-NN radius of
/// at least one support row.
fn coverage(support: &[f64], radii: &[f64], query: &[f64], dim: usize) -> f64 {
    use rayon::prelude::*;
    let n = query.len() / dim;
    let inside = query
        .par_chunks_exact(dim)
        .filter(|q| {
            support
                .chunks_exact(dim)
                .zip(radii)
                .any(|(s, &r)| sq_dist(q, s) <= r)
        })
        .count();
    inside as f64 / n.max(1) as f64
}

/// Improved precision and recall (Kynkäänniemi et al. 2019) with k nearest neighbours:
/// precision is the fraction of generated rows inside the real manifold, recall the
/// fraction of real rows inside the generated one.
pub fn precision_recall(real: &[f64], fake: &[f64], dim: usize, k: usize) -> (f64, f64) {
    let real_r = knn_radii(real, dim, k);
    let fake_r = knn_radii(fake, dim, k);
    (
        coverage(real, &real_r, fake, dim),
        coverage(fake, &fake_r, real, dim),
    )
}

/// How many rows the classifier puts in each class (argmax of the probabilities).
pub fn class_histogram(probs: &[f64], classes: usize) -> Vec<usize> {
    let mut h = vec![0; classes];
    for row in probs.chunks_exact(classes) {
        let best = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        h[best] += 1;
    }
    h
}

/// The mean and the sample standard deviation (n − 1; 0 for one value).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_reconstructs_a_symmetric_matrix() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, -0.2, 0.5, -0.2, 2.0];
        let (l, v) = symmetric_eigen(&a, 3);
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| v[i * 3 + k] * l[k] * v[j * 3 + k]).sum();
                assert!((r - a[i * 3 + j]).abs() < 1e-12, "{i} {j}: {r}");
            }
        }
        let s = sqrt_psd(&a, 3);
        let back = matmul(&s, &s, 3);
        back.iter()
            .zip(&a)
            .for_each(|(x, y)| assert!((x - y).abs() < 1e-12));
    }

    #[test]
    fn mean_std_of_known_values() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
    }
}
