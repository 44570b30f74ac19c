//! The quality statistics and the likelihood bound against closed forms: FID's matrix square
//! root on diagonal covariances, KID's unbiasedness, IS and precision/recall at their extremes,
//! and the bound of an exact denoiser on Gaussian data against its closed-form expectation.

use diffusion_lab::diffusion::process::prior_kl;
use diffusion_lab::diffusion::vlb::{gaussian_data_expected_term, reverse_variance};
use diffusion_lab::diffusion::{DdpmVariance, Rng, ScheduleKind, ScheduleSpec};
use diffusion_lab::metrics::stats::{
    frechet_distance, inception_score, kid, mean_std, precision_recall, sqrt_psd,
};
use diffusion_lab::metrics::{NllOptions, nll_bound};

fn random_spd(dim: usize, rng: &mut Rng) -> Vec<f64> {
    let a: Vec<f64> = (0..dim * dim).map(|_| rng.normal()).collect();
    let mut s = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..dim {
            s[i * dim + j] = (0..dim)
                .map(|k| a[i * dim + k] * a[j * dim + k])
                .sum::<f64>()
                / dim as f64
                + if i == j { 0.1 } else { 0.0 };
        }
    }
    s
}

#[test]
fn fid_of_two_identical_gaussians_is_zero() {
    let mut rng = Rng::seed(1);
    let dim = 24;
    let s = random_spd(dim, &mut rng);
    let mu: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let d = frechet_distance(&mu, &s, &mu, &s, dim);
    assert!(d.abs() <= 1e-6, "{d}");
}

#[test]
fn fid_matches_the_closed_form_for_diagonal_covariances() {
    // Diagonal Σ₁ = diag(a), Σ₂ = diag(b): FID = ‖μ₁ − μ₂‖² + Σ (√a − √b)².
    let a: [f64; 5] = [1.0, 4.0, 0.25, 9.0, 2.0];
    let b: [f64; 5] = [2.0, 1.0, 0.36, 16.0, 2.0];
    let (m1, m2) = ([0.0, 1.0, -1.0, 0.5, 2.0], [0.3, 1.0, -0.2, 0.5, -1.0]);
    let diag = |v: &[f64]| {
        let mut s = vec![0.0; 25];
        v.iter().enumerate().for_each(|(i, x)| s[i * 5 + i] = *x);
        s
    };
    let want: f64 = m1
        .iter()
        .zip(&m2)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        + a.iter()
            .zip(&b)
            .map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2))
            .sum::<f64>();
    let got = frechet_distance(&m1, &diag(&a), &m2, &diag(&b), 5);
    assert!((got - want).abs() < 1e-10, "{got} vs {want}");
    // A rotated pair (same rotation of both) keeps the distance: the square root of a
    // non-diagonal matrix is exercised.
    let (c, s) = (0.6f64, 0.8f64);
    let mut r = [0.0; 25];
    for i in 0..5 {
        r[i * 5 + i] = 1.0;
    }
    r[0] = c;
    r[1] = -s;
    r[5] = s;
    r[6] = c;
    let rot = |m: &[f64]| {
        // R M Rᵀ.
        let mut out = vec![0.0; 25];
        for i in 0..5 {
            for j in 0..5 {
                out[i * 5 + j] = (0..5)
                    .flat_map(|k| (0..5).map(move |l| (k, l)))
                    .map(|(k, l)| r[i * 5 + k] * m[k * 5 + l] * r[j * 5 + l])
                    .sum();
            }
        }
        out
    };
    let got = frechet_distance(&m1, &rot(&diag(&a)), &m2, &rot(&diag(&b)), 5);
    assert!((got - want).abs() < 1e-9, "rotated: {got} vs {want}");
    // The square root itself: √diag(a) = diag(√a).
    let root = sqrt_psd(&diag(&a), 5);
    for i in 0..5 {
        assert!((root[i * 5 + i] - a[i].sqrt()).abs() < 1e-12);
    }
}

#[test]
fn kid_is_unbiased_for_two_samples_of_one_distribution() {
    // Two independent sets from the same distribution: the mean KID over shuffles is within
    // 2 standard errors of 0 (a biased estimator sits clearly above).
    let dim = 16;
    let mut rng = Rng::seed(7);
    let mut values = Vec::new();
    for _ in 0..20 {
        let x: Vec<f64> = (0..400 * dim).map(|_| rng.normal().abs()).collect();
        let y: Vec<f64> = (0..400 * dim).map(|_| rng.normal().abs()).collect();
        values.push(kid(&x, &y, dim, 10).0);
    }
    let (mean, sd) = mean_std(&values);
    let se = sd / (values.len() as f64).sqrt();
    assert!(
        mean.abs() <= 2.0 * se,
        "mean KID {mean} with standard error {se}"
    );
    // A shifted set is clearly apart.
    let x: Vec<f64> = (0..400 * dim).map(|_| rng.normal().abs()).collect();
    let y: Vec<f64> = (0..400 * dim).map(|_| rng.normal().abs() + 0.5).collect();
    let (k, k_se) = kid(&x, &y, dim, 10);
    assert!(k > 5.0 * k_se, "{k} ± {k_se}");
}

#[test]
fn inception_score_at_its_extremes() {
    // Confident and balanced over 10 classes: IS = 10. All-uniform predictions: IS = 1.
    let mut confident = vec![0.0; 100 * 10];
    for i in 0..100 {
        confident[i * 10 + i % 10] = 1.0;
    }
    assert!((inception_score(&confident, 10) - 10.0).abs() < 1e-12);
    let uniform = vec![0.1; 100 * 10];
    assert!((inception_score(&uniform, 10) - 1.0).abs() < 1e-12);
    // Confident but all one class: IS = 1.
    let mut one = vec![0.0; 50 * 10];
    (0..50).for_each(|i| one[i * 10 + 3] = 1.0);
    assert!((inception_score(&one, 10) - 1.0).abs() < 1e-12);
}

#[test]
fn precision_and_recall_at_their_extremes() {
    let dim = 4;
    let mut rng = Rng::seed(3);
    let real: Vec<f64> = (0..200 * dim).map(|_| rng.normal()).collect();
    let (p, r) = precision_recall(&real, &real, dim, 3);
    assert_eq!((p, r), (1.0, 1.0));
    let far: Vec<f64> = real.iter().map(|v| v + 100.0).collect();
    assert_eq!(precision_recall(&real, &far, dim, 3), (0.0, 0.0));
    // Generated points collapsed onto one real point: precise, but with no recall to speak of.
    let collapsed: Vec<f64> = (0..200).flat_map(|_| real[..dim].to_vec()).collect();
    let (p, r) = precision_recall(&real, &collapsed, dim, 3);
    assert_eq!(p, 1.0);
    assert!(r < 0.05, "{r}");
}

#[test]
fn the_prior_term_matches_the_digest() {
    // Digest §3.1: L_T per dimension for x₀ = 1 is 2.018e-5 nats (2.91e-5 bits), for x₀ = 0
    // 4.07e-10 nats.
    let table = ScheduleSpec::new(ScheduleKind::Linear, 1000)
        .table()
        .expect("table");
    assert!((prior_kl(&table, 1.0) - 2.018e-5).abs() < 5e-9);
    assert!((prior_kl(&table, 1.0) / std::f64::consts::LN_2 - 2.91e-5).abs() < 5e-8);
    assert!((prior_kl(&table, 0.0) - 4.07e-10).abs() < 5e-12);
}

#[test]
fn an_exact_denoiser_of_gaussian_data_reaches_the_closed_form_bound() {
    // 1-D data x₀ ~ N(m, s²) and its Bayes-optimal ε-predictor (linear in x_t). The
    // Monte-Carlo terms L_{t−1} (t ≥ 2) and L_T of `nll_bound` must match their closed-form
    // expectations. The decoder term L_0 is left out: it needs data on the 8-bit grid.
    let table = ScheduleSpec::new(ScheduleKind::Linear, 1000)
        .table()
        .expect("table");
    let (m, s) = (0.2f64, 0.3f64);
    let n = 20_000;
    let mut rng = Rng::seed(11);
    let images: Vec<f32> = (0..n).map(|_| (m + s * rng.normal()) as f32).collect();
    let opts = NllOptions {
        clip: false,
        t_samples: Some(40),
        batch: n,
        ..NllOptions::default()
    };
    let mut predict = |t: usize, x: &[f32], eps: &mut [f32]| {
        let ab = table.alpha_bar_at(t);
        let (sa, om) = (ab.sqrt(), 1.0 - ab);
        for (e, &xt) in eps.iter_mut().zip(x) {
            // E[ε | x_t] = √(1−ᾱ)·(x_t − √ᾱ·m) / (ᾱ·s² + 1 − ᾱ).
            *e = (om.sqrt() * (f64::from(xt) - sa * m) / (ab * s * s + om)) as f32;
        }
    };
    let report = nll_bound(&table, &images, 1, &opts, &mut predict, &mut |_, _| true)
        .expect("not cancelled");
    let ln2 = std::f64::consts::LN_2;
    let mut checked = 0;
    for t in 2..=1000 {
        let got = report.terms[t - 1];
        if !got.is_finite() {
            continue;
        }
        let sigma2 = reverse_variance(&table, t, DdpmVariance::Beta);
        let want = gaussian_data_expected_term(&table, t, s * s, sigma2) / ln2;
        // One draw per image: the mean over 20,000 images is within a few percent.
        assert!(
            (got - want).abs() <= 0.05 * want.abs() + 1e-7,
            "t = {t}: {got} vs {want} bits"
        );
        checked += 1;
    }
    assert_eq!(checked, 49 + 40); // t = 2..=50 exactly, 40 strata above
    // L_T: E[KL] over the data, in closed form.
    let t_big = 1000;
    let (ab, om) = (
        table.alpha_bar_at(t_big),
        table.one_minus_alpha_bar_at(t_big),
    );
    let want_prior = 0.5 * (ab * (m * m + s * s) + om - 1.0 - om.ln()) / ln2;
    assert!(
        (report.prior_bpd - want_prior).abs() < 0.05 * want_prior,
        "{} vs {want_prior}",
        report.prior_bpd
    );
}

#[test]
fn the_stratified_estimate_of_the_bound_agrees_with_the_full_sum() {
    // Same data, same exact denoiser: every t against t ≤ 50 plus 60 strata above.
    let table = ScheduleSpec::new(ScheduleKind::Linear, 1000)
        .table()
        .expect("table");
    let (m, s) = (-0.1f64, 0.4f64);
    let mut rng = Rng::seed(12);
    let images: Vec<f32> = (0..2000).map(|_| (m + s * rng.normal()) as f32).collect();
    let mut predict = |t: usize, x: &[f32], eps: &mut [f32]| {
        let ab = table.alpha_bar_at(t);
        let (sa, om) = (ab.sqrt(), 1.0 - ab);
        for (e, &xt) in eps.iter_mut().zip(x) {
            *e = (om.sqrt() * (f64::from(xt) - sa * m) / (ab * s * s + om)) as f32;
        }
    };
    let mut run = |t_samples| {
        let opts = NllOptions {
            clip: false,
            t_samples,
            batch: 2000,
            ..NllOptions::default()
        };
        nll_bound(&table, &images, 1, &opts, &mut predict, &mut |_, _| true).expect("runs")
    };
    let (full, est) = (run(None), run(Some(60)));
    assert_eq!((full.timesteps, est.timesteps), (1000, 110));
    // Compare the sums without the shared decoder term L_0.
    let (a, b) = (
        full.bits_per_dim - full.decoder_bpd,
        est.bits_per_dim - est.decoder_bpd,
    );
    assert!((a - b).abs() < 0.03 * a, "full {a} vs stratified {b}");
}

#[test]
fn the_forward_variance_reference_matches_noised_mnist() {
    // Issue: the player's reference curve was 1 − ᾱ_t (0.103 at t = 100); the forward
    // process gives Var(x_t) = ᾱ_t·Var(x₀) + 1 − ᾱ_t (≈ 0.344 at t = 100 on MNIST). Check the
    // formula with Var(x₀) from `mean_pixel_variance` against MNIST actually noised to t = 100.
    let data = diffusion_lab::data::bundled("mnist").expect("mnist");
    let var0 = data.mean_pixel_variance();
    let table = ScheduleSpec::new(ScheduleKind::Linear, 1000)
        .table()
        .expect("table");
    let ab = table.alpha_bar_at(100);
    let want = ab * var0 + 1.0 - ab;
    assert!((want - 0.344).abs() < 0.01, "{want}");
    let (n, p) = (2000, 784);
    let mut rng = Rng::seed(4);
    let (sa, so) = (ab.sqrt(), (1.0 - ab).sqrt());
    let mut total = 0.0;
    let xt: Vec<f64> = (0..n * p)
        .map(|k| sa * f64::from(data.data()[k]) + so * rng.normal())
        .collect();
    for j in 0..p {
        let col: Vec<f64> = (0..n).map(|i| xt[i * p + j]).collect();
        total += mean_std(&col).1.powi(2);
    }
    let measured = total / p as f64;
    // The first 2,000 digits (0s and 1s … grouped by label) have their own Var(x₀).
    let first = diffusion_lab::data::bundled("mnist")
        .expect("mnist")
        .take(n);
    let want_first = ab * first.mean_pixel_variance() + 1.0 - ab;
    assert!(
        (measured - want_first).abs() < 0.01,
        "{measured} vs {want_first}"
    );
}
