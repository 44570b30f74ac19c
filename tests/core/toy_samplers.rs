//! Samplers on 2-D Gaussian mixtures with the closed-form score (seed 001 Figs. 2–3).
//!
//! With the exact score there is no learning error, so what these tests measure is the samplers
//! themselves: DDPM and annealed Langevin recover a mixture's means *and* mixing weights, while
//! plain Langevin recovers the means but not the weights. Tolerances are sampling error (stated
//! per test) plus the discretisation bias measured on these seeds, with a margin.
#![allow(clippy::unwrap_used)]

use diffusion_lab::diffusion::{
    ComponentStats, DdpmVariance, GaussianMixture, Rng, SamplerKind, SamplerPlan, ScheduleKind,
    ScheduleSpec, annealed_langevin, component_summary, energy_distance, geometric_sigmas,
    langevin,
};
use diffusion_lab::toy::Mixture2d;

/// Points per sampler run. Binomial standard error of a weight w: √(w(1 − w)/N) = 0.004 for
/// w = 0.2; standard error of a component mean: σ/√(w·N) = 0.1/√2000 = 0.0022 per coordinate.
const N: usize = 10_000;

/// A uniform initialisation on [−1, 1]², which straddles the decision boundary of both mixtures.
fn uniform_init(n: usize, rng: &mut Rng) -> Vec<f64> {
    (0..2 * n).map(|_| 2.0 * rng.uniform() - 1.0).collect()
}

/// The score of the σ-noised mixture x₀ + σ·z (signal 1, noise σ) for a flattened batch.
fn noised_score(gm: &GaussianMixture, points: &[f64], sigma: f64, out: &mut [f64]) {
    for (x, o) in points.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        gm.score(x, 1.0, sigma, o);
    }
}

/// Asserts that `stats` matches `gm` within `weight_tol` per weight and `mean_tol` per mean
/// coordinate.
#[track_caller]
fn assert_recovers(
    what: &str,
    stats: &[ComponentStats],
    gm: &GaussianMixture,
    weight_tol: f64,
    mean_tol: f64,
) {
    for (k, (s, c)) in stats.iter().zip(gm.components()).enumerate() {
        assert!(
            (s.weight - c.weight).abs() < weight_tol,
            "{what}: component {k} weight {:.4}, want {:.4} ± {weight_tol}",
            s.weight,
            c.weight
        );
        let mean = s.mean.as_ref().unwrap();
        for d in 0..2 {
            assert!(
                (mean[d] - c.mean[d]).abs() < mean_tol,
                "{what}: component {k} mean {mean:?}, want {:?} ± {mean_tol}",
                c.mean
            );
        }
    }
}

/// The standard deviation of the points assigned to each component, per coordinate.
fn component_stds(points: &[f64], gm: &GaussianMixture) -> Vec<[f64; 2]> {
    let stats = component_summary(points, gm).unwrap();
    let mut sq = vec![[0.0; 2]; stats.len()];
    for x in points.chunks_exact(2) {
        // Assign as component_summary does, by the largest noise-free log posterior.
        let k = gm
            .components()
            .iter()
            .map(|c| {
                c.weight.ln()
                    - (0..2)
                        .map(|d| 0.5 * ((x[d] - c.mean[d]) / c.std[d]).powi(2) + c.std[d].ln())
                        .sum::<f64>()
            })
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
            .0;
        let m = stats[k].mean.as_ref().unwrap();
        for d in 0..2 {
            sq[k][d] += (x[d] - m[d]).powi(2);
        }
    }
    sq.iter()
        .zip(&stats)
        .map(|(s, st)| {
            let n = st.count.max(1) as f64;
            [(s[0] / n).sqrt(), (s[1] / n).sqrt()]
        })
        .collect()
}

/// The energy distance between two independent draws of N points from the data, as a scale for
/// what "indistinguishable" means at this sample size (the estimator subsamples 2000 points).
fn data_energy_baseline(gm: &GaussianMixture) -> f64 {
    let a = gm.sample(N, &mut Rng::seed(900));
    let b = gm.sample(N, &mut Rng::seed(901));
    energy_distance(&a, &b, 2).unwrap().abs()
}

fn ddpm_samples(gm: &GaussianMixture, seed: u64) -> Vec<f64> {
    let table = ScheduleSpec::new(ScheduleKind::Linear, 1000)
        .table()
        .unwrap();
    let plan = SamplerPlan::new(
        &table,
        SamplerKind::Ddpm {
            variance: DdpmVariance::Beta,
        },
    )
    .unwrap();
    let mut rng = Rng::seed(seed);
    let mut x: Vec<f64> = rng.normal_vec(2 * N);
    diffusion_lab::diffusion::run_plan(&plan, &mut x, false, &mut rng, |t, xt, eps| {
        let signal = table.alpha_bar_at(t).sqrt();
        let noise = table.one_minus_alpha_bar_at(t).sqrt();
        gm.optimal_eps(xt, signal, noise, eps);
    });
    x
}

#[test]
fn ddpm_with_the_exact_denoiser_recovers_seed001_mixture() {
    // (a) Ancestral DDPM, linear β 1e-4 → 0.02, T = 1000, σ² = β (seed 001's Alg. 2), with the
    // exact ε-predictor, from x_T ~ N(0, I).
    let gm = GaussianMixture::seed001_two_gaussians();
    let x = ddpm_samples(&gm, 1);
    let stats = component_summary(&x, &gm).unwrap();
    // Weights: 4 binomial standard errors (4 × 0.004 = 0.016) plus 0.004 of margin for
    // discretisation bias. None was visible: this seed gave 0.195 (σ² = β), and three seeds with
    // σ² = β̃ gave 0.194, 0.203 and 0.207 (mean 0.201), all within sampling error of 0.2.
    // Means: 5 standard errors of the minor component (5 × 0.0022 = 0.011) plus 0.004; the
    // measured errors were ≤ 0.002.
    assert_recovers("DDPM", &stats, &gm, 0.02, 0.015);
    // Per-component spread: σ = 0.1; the standard error of a sample sd is σ/√(2n) ≤ 0.0016 for
    // the minor component, and 4 of them is 0.0064. With σ² = β this seed measured
    // 0.099–0.102. (With σ² = β̃ three seeds measured 0.095–0.098: the smaller reverse variance
    // loses about 3.5 % of the spread even with the exact denoiser, hence β here.)
    for s in component_stds(&x, &gm) {
        for v in s {
            assert!((v - 0.1).abs() < 0.0065, "component sd {v}");
        }
    }
    // Energy distance to fresh data: two data draws measured |D²| ≤ 4e-4 over 4 seeds, DDPM
    // −4e-4 .. 3e-4; plain Langevin's wrong weights give 0.21 (see below).
    let ed = energy_distance(&x, &gm.sample(N, &mut Rng::seed(2)), 2).unwrap();
    let base = data_energy_baseline(&gm);
    assert!(
        ed < 3.0 * base + 2e-3,
        "energy distance {ed} vs data baseline {base}"
    );
}

/// Annealed Langevin as in NCSN (seed 001 Alg. 3, erratum E001-8), σ from 1 down to 0.01.
///
/// Why these numbers: σ_max = 1 is about the distance between the modes (‖m₁ − m₂‖ = 1.41), so
/// at the first level the noised modes overlap and particles cross freely; σ_min = 0.01 is a
/// tenth of the component σ = 0.1, so the last level's density is the data's to 0.5 %.
/// Ten geometric levels, 100 steps each. The step at level i is α_i = ε·σ_i²/σ_min²; what sets
/// accuracy is α relative to the local variance s² = 0.1² + σ_i² (the Langevin update of a
/// Gaussian is stable for α < 4s², relaxes at rate α/(2s²) per step, and inflates the variance
/// by 1/(1 − α/(4s²))). ε = 2e-5 (the NCSN default) gives α/s² ≈ 0.2 at σ = 1 (10 relaxation
/// times per level, 5 % variance inflation) falling to 0.002 at σ = 0.01, where the levels no
/// longer change the density much.
fn annealed_samples(gm: &GaussianMixture, x: &mut [f64], seed: u64) {
    let sigmas = geometric_sigmas(1.0, 0.01, 10).unwrap();
    let mut rng = Rng::seed(seed);
    annealed_langevin(
        x,
        2,
        &sigmas,
        2e-5,
        100,
        |p, sigma, out| noised_score(gm, p, sigma, out),
        &mut rng,
    )
    .unwrap();
}

#[test]
fn annealed_langevin_recovers_seed001_mixture() {
    // (b) From a uniform start on [−1, 1]², which puts about half the particles on each side of
    // the 0.2 / 0.8 boundary: annealing must move about 30 % of them across.
    let gm = GaussianMixture::seed001_two_gaussians();
    let mut x = uniform_init(N, &mut Rng::seed(3));
    annealed_samples(&gm, &mut x, 4);
    let stats = component_summary(&x, &gm).unwrap();
    // Weights: annealing has a real, explainable bias here. Particles stop crossing between the
    // modes at σ ≈ 0.3–0.4, where the noised major component still spills over the boundary
    // (0.8·Φ(−0.707/0.37) ≈ 0.023 of the mass, minus the minor one's 0.006), so the minor side
    // keeps ≈ 0.217. Measured minor weights: 0.214 and 0.220 (ε = 2e-5, two seeds), 0.221
    // (ε = 5e-5), 0.224 (ε = 1e-5). Tolerance: that 0.02 of bias plus 4 binomial standard
    // errors (0.016). Means: 5 standard errors (0.011) plus 0.004; measured errors ≤ 0.004.
    assert_recovers("annealed Langevin", &stats, &gm, 0.036, 0.015);
    // The spread freezes at the level where particles stop relaxing, whose density has sd
    // √(0.1² + σ²), plus the step's variance inflation: measured 0.100–0.108. Allow 0.095–0.12.
    for s in component_stds(&x, &gm) {
        for v in s {
            assert!((0.095..0.12).contains(&v), "component sd {v}");
        }
    }
}

#[test]
fn annealed_langevin_recovers_a_three_component_mixture() {
    // (b) again on the lab's default mixture: means (−1, −0.6), (1, −0.6), (0, 1), weights
    // 0.5 / 0.3 / 0.2, σ = 0.15. Start from a uniform square on [−1.5, 1.5]².
    let mix = Mixture2d::default();
    let gm = mix.mixture();
    let mut rng = Rng::seed(5);
    let mut x: Vec<f64> = uniform_init(N, &mut rng).iter().map(|v| 1.5 * v).collect();
    annealed_samples(gm, &mut x, 6);
    let stats = component_summary(&x, gm).unwrap();
    // Binomial standard errors ≤ √(0.25/10⁴) = 0.005: 4 of them plus 0.01 of annealing bias
    // (the same freeze-out as above; two seeds measured 0.487/0.300/0.213 and 0.489/0.307/0.205,
    // so |Δw| ≤ 0.013). Mean standard error 0.15/√2000 = 0.0034: 5 of them plus 0.004; the
    // measured errors were ≤ 0.006.
    assert_recovers("annealed Langevin, 3 components", &stats, gm, 0.03, 0.021);
}

#[test]
fn plain_langevin_gets_seed001_weights_wrong() {
    // (c) Seed 001 Fig. 3: Langevin with the true score at a tiny σ (the annealed run's last
    // level, 0.01) from the same uniform start as the annealed test, which recovers 0.2. Between the modes the density is e⁻²⁵ of its
    // peak, so no particle crosses; each stays in the mode on its starting side of the
    // boundary x + y ≈ 0, and the weights come out near 0.5 / 0.5 instead of 0.2 / 0.8.
    let gm = GaussianMixture::seed001_two_gaussians();
    let init = uniform_init(N, &mut Rng::seed(3));
    let mut x = init.clone();
    // ε = 2e-3: α/s² = 0.2, as at the annealed run's top level; 300 steps is 30 relaxation times.
    langevin(
        &mut x,
        2,
        |p, out| noised_score(&gm, p, 0.01, out),
        2e-3,
        300,
        &mut Rng::seed(4),
    )
    .unwrap();
    let stats = component_summary(&x, &gm).unwrap();
    let init_below = init.chunks_exact(2).filter(|p| p[0] + p[1] < 0.0).count() as f64 / N as f64;
    // The minor weight equals the starting fraction below the boundary (≈ 0.5, binomial
    // standard error 0.005), not 0.2: a deviation of ≈ 0.3, asserted above 0.2.
    assert!(
        (stats[0].weight - init_below).abs() < 0.01,
        "plain Langevin kept the starting split: {:.4} vs {init_below:.4}",
        stats[0].weight
    );
    assert!(
        (stats[0].weight - 0.2).abs() > 0.2,
        "plain Langevin weight {:.4} should be far from 0.2",
        stats[0].weight
    );
    // The means are still right: each mode is sampled well locally (5 standard errors).
    let m = stats[1].mean.as_ref().unwrap();
    assert!(
        (m[0] - 0.5).abs() < 0.015 && (m[1] - 0.5).abs() < 0.015,
        "{m:?}"
    );
    // And the energy distance to fresh data sees the wrong weights: measured 0.21 (two seeds),
    // against |D²| ≤ 4e-4 between two data draws and 7e-4 for annealed Langevin.
    let ed_plain = energy_distance(&x, &gm.sample(N, &mut Rng::seed(2)), 2).unwrap();
    let base = data_energy_baseline(&gm);
    assert!(
        ed_plain > 0.1 && ed_plain > 100.0 * base,
        "plain {ed_plain} vs data baseline {base}"
    );
}

#[test]
fn small_t_score_points_to_the_nearest_mode() {
    // (d) At t = 5 of the linear T = 1000 schedule (√(1 − ᾱ) ≈ 0.024), on a grid over
    // [−1.5, 1.5]², the true score points towards the nearest (scaled) mode: its dot product with
    // (√ᾱ·m_k − x) is positive. Points within 0.05 of the bisector between the two nearest modes
    // are skipped: there the weights shift the true boundary (by ≈ 0.01 here) and both modes pull.
    let table = ScheduleSpec::new(ScheduleKind::Linear, 1000)
        .table()
        .unwrap();
    let (a, b) = (
        table.alpha_bar_at(5).sqrt(),
        table.one_minus_alpha_bar_at(5).sqrt(),
    );
    for gm in [
        GaussianMixture::seed001_two_gaussians(),
        Mixture2d::default().mixture().clone(),
    ] {
        let modes: Vec<[f64; 2]> = gm
            .components()
            .iter()
            .map(|c| [a * c.mean[0], a * c.mean[1]])
            .collect();
        let (mut checked, mut skipped) = (0, 0);
        let mut score = [0.0; 2];
        for i in 0..=60 {
            for j in 0..=60 {
                let x = [-1.5 + 0.05 * i as f64, -1.5 + 0.05 * j as f64];
                let d2 = |m: &[f64; 2]| (m[0] - x[0]).powi(2) + (m[1] - x[1]).powi(2);
                let mut order: Vec<usize> = (0..modes.len()).collect();
                order.sort_by(|&p, &q| d2(&modes[p]).total_cmp(&d2(&modes[q])));
                let (k, second) = (order[0], order[1]);
                let gap = ((modes[k][0] - modes[second][0]).powi(2)
                    + (modes[k][1] - modes[second][1]).powi(2))
                .sqrt();
                // Distance from x to the bisector of the two nearest modes.
                let to_bisector = (d2(&modes[second]) - d2(&modes[k])) / (2.0 * gap);
                if to_bisector < 0.05 {
                    skipped += 1;
                    continue;
                }
                gm.score(&x, a, b, &mut score);
                let dot = score[0] * (modes[k][0] - x[0]) + score[1] * (modes[k][1] - x[1]);
                assert!(
                    dot > 0.0,
                    "score {score:?} at {x:?} points away from mode {k}"
                );
                checked += 1;
            }
        }
        assert!(
            checked > 3000 && skipped < 400,
            "{checked} checked, {skipped} skipped"
        );
    }
}

/// The 2-D lab's own sampling path ([`sample_frames`] with [`TrueScore`]) on its schedule
/// (linear β 1e-4 → 0.2, T = 100), which the `toy` command and the view both use.
mod lab_path {
    use super::*;
    use diffusion_lab::diffusion::ScheduleTable;
    use diffusion_lab::toy::fields::score_at;
    use diffusion_lab::toy::sampling::t_for_sigma;
    use diffusion_lab::toy::{EpsModel, ToyLabConfig, ToySampler, TrueScore, sample_frames};

    fn lab_table() -> ScheduleTable {
        ToyLabConfig::default().schedule.table().unwrap()
    }

    fn run(gm: &GaussianMixture, sampler: ToySampler, seed: u64) -> Vec<f64> {
        let table = lab_table();
        let mut model = TrueScore {
            mixture: gm.clone(),
            table: table.clone(),
        };
        let frames = sample_frames(&sampler, &mut model, &table, N, seed, 5, &|| true).unwrap();
        // Start, three evenly spaced steps and the end (the last step is always kept).
        assert!(frames.len() <= 6 && frames.len() >= 3, "{}", frames.len());
        frames.last().unwrap().points.clone()
    }

    #[test]
    fn ddpm_and_annealed_recover_the_three_component_mixture() {
        // Means (−1, −0.6), (1, −0.6), (0, 1), weights 0.5 / 0.3 / 0.2, σ = 0.15. Standard
        // errors as above: weights ≤ 0.005, means 0.15/√2000 = 0.0034.
        let mix = Mixture2d::default();
        let gm = mix.mixture();
        // DDPM with the exact ε on T = 100: 4 binomial standard errors (0.02) of weight and 5 of
        // mean (0.017) plus 0.004 of margin for the coarser chain.
        let x = run(gm, ToySampler::Ddpm, 21);
        assert_recovers(
            "lab DDPM",
            &component_summary(&x, gm).unwrap(),
            gm,
            0.024,
            0.021,
        );
        // Annealed Langevin from the uniform square [−1.5, 1.5]²: the same freeze-out bias as in
        // `annealed_langevin_recovers_a_three_component_mixture` (≤ 0.013) plus 4 standard
        // errors.
        let x = run(gm, ToySampler::default_annealed(), 22);
        assert_recovers(
            "lab annealed",
            &component_summary(&x, gm).unwrap(),
            gm,
            0.03,
            0.021,
        );
    }

    #[test]
    fn ddim_with_the_exact_score_recovers_seed001_weights() {
        // Deterministic DDIM (η = 0, 50 steps): the same tolerances as DDPM above.
        let gm = GaussianMixture::seed001_two_gaussians();
        let x = run(
            &gm,
            ToySampler::Ddim {
                steps: 50,
                eta: 0.0,
            },
            23,
        );
        assert_recovers(
            "lab DDIM",
            &component_summary(&x, &gm).unwrap(),
            &gm,
            0.024,
            0.015,
        );
    }

    #[test]
    fn plain_langevin_in_the_lab_keeps_the_starting_split() {
        // Seed 001 Fig. 3 through the lab path: the minor mode gets about half of the uniform
        // start (the boundary x + y = 0 halves the square), far from its weight 0.2.
        let gm = GaussianMixture::seed001_two_gaussians();
        let x = run(&gm, ToySampler::default_langevin(), 24);
        let w = component_summary(&x, &gm).unwrap()[0].weight;
        assert!((w - 0.5).abs() < 0.03, "plain Langevin minor weight {w}");
    }

    /// Only ε: uses the trait's default σ → t mapping, as the learned MLP does.
    struct EpsOnly(TrueScore);

    impl EpsModel for EpsOnly {
        fn eps(&mut self, t: usize, x: &[f64], out: &mut [f64]) {
            self.0.eps(t, x, out);
        }
    }

    #[test]
    fn sigma_scores_from_an_eps_model_match_the_exact_ones() {
        // σ_t = √((1 − ᾱ_t)/ᾱ_t) of the nearest t: t = 1 is σ = 0.01 (β₁ = 1e-4).
        let table = lab_table();
        assert_eq!(t_for_sigma(&table, 0.01), 1);
        assert!(t_for_sigma(&table, 1.0) > t_for_sigma(&table, 0.1));
        let gm = GaussianMixture::seed001_two_gaussians();
        let exact = TrueScore {
            mixture: gm,
            table: table.clone(),
        };
        let mut mapped = EpsOnly(exact.clone());
        let mut exact = exact;
        let pts: Vec<f64> = uniform_init(200, &mut Rng::seed(30));
        for sigma in [1.0, 0.3, 0.1, 0.01] {
            let t = t_for_sigma(&table, sigma);
            let sigma_t = (table.one_minus_alpha_bar[t - 1] / table.alpha_bar[t - 1]).sqrt();
            let (mut a, mut b) = (vec![0.0; 400], vec![0.0; 400]);
            // At σ_t itself the mapping is exact: √ᾱ·s_t(√ᾱ·x) = s_σ(x).
            exact.score_sigma(&table, sigma_t, &pts, &mut a);
            mapped.score_sigma(&table, sigma, &pts, &mut b);
            for (u, v) in a.iter().zip(&b) {
                assert!(
                    (u - v).abs() <= 1e-9 * (1.0 + u.abs()),
                    "σ={sigma}: {u} vs {v}"
                );
            }
        }
    }

    #[test]
    fn small_t_arrows_of_the_lab_point_to_the_nearest_mode() {
        // The arrows the view draws (`score_at`, −ε̂/√(1 − ᾱ_t)) at t = 2 of the lab schedule,
        // on the view's 17×17 grid over [−2, 2]², for the lab's default mixture: each points
        // towards the nearest scaled mode, skipping points within 0.1 of a bisector.
        let table = lab_table();
        let t = 2;
        let a = table.sqrt_alpha_bar[t - 1];
        let mix = Mixture2d::default();
        let mut model = TrueScore {
            mixture: mix.mixture().clone(),
            table: table.clone(),
        };
        let grid = diffusion_lab::toy::fields::Grid { half: 2.0, n: 17 };
        let pts = grid.points();
        let s = score_at(&mut model, &table, t, &pts);
        let modes: Vec<[f64; 2]> = mix
            .components()
            .iter()
            .map(|c| [a * c.mean[0], a * c.mean[1]])
            .collect();
        let mut checked = 0;
        for (x, v) in pts.chunks_exact(2).zip(s.chunks_exact(2)) {
            let d = |m: &[f64; 2]| (m[0] - x[0]).hypot(m[1] - x[1]);
            let mut order: Vec<usize> = (0..modes.len()).collect();
            order.sort_by(|&p, &q| d(&modes[p]).total_cmp(&d(&modes[q])));
            let (k, j) = (order[0], order[1]);
            let gap = (modes[k][0] - modes[j][0]).hypot(modes[k][1] - modes[j][1]);
            if (d(&modes[j]).powi(2) - d(&modes[k]).powi(2)) / (2.0 * gap) < 0.1 {
                continue;
            }
            let to = [modes[k][0] - x[0], modes[k][1] - x[1]];
            let cos = (v[0] * to[0] + v[1] * to[1]) / (v[0].hypot(v[1]) * to[0].hypot(to[1]));
            // Near the mode the arrow is exactly radial; far away the other modes' tails can
            // bend it, but never by more than 60°.
            assert!(cos > 0.5, "arrow {v:?} at {x:?} vs mode {k}: cos {cos}");
            checked += 1;
        }
        assert!(checked > 200, "{checked}");
    }
}
