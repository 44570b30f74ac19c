//! Seed 000's samplers (digest §1.1), without a network: the v-space DDIM loop of its
//! `sample(model, x, steps, eta)` on t = linspace(1, 0, steps + 1)[:-1], and the fan-out
//! plans of the additional layer's `sample_new_v1` and `sample_new_v2`.
//!
//! With a = √ᾱ (the code's `alphas`) and s = √(1 − ᾱ) (`sigmas`) at step i:
//! - pred = a_i·x − s_i·v and ε = s_i·x + a_i·v (digest R5);
//! - ddim_σ = η·√(s_{i+1}²/s_i²)·√(1 − a_i²/a_{i+1}²), adjusted_σ = √(s_{i+1}² − ddim_σ²);
//! - x ← pred·a_{i+1} + ε·adjusted_σ (+ ddim_σ·z when η > 0); the last step returns pred.
//!
//! The continuous t of step i is T·(1 − i/steps), read from the schedule's interpolated ln ᾱ
//! ([`ScheduleTable::at_continuous`]); for `VDiffusion` that is the seed's own ᾱ(t).

use super::{Rng, ScheduleTable};

/// Which of the table's columns a chain belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain000 {
    /// Folder_1: the class-conditional UNet, N images with their labels from the start.
    Folder1,
    /// Folder_2: the unconditional UNet alone.
    Folder2,
    /// Folder_3 with `sample_new_v1`: N/10 noise images, fanned out ×10 (one per class) by the
    /// layer at i = 0, then the layer steers v for i ≤ steps/2.
    V1,
    /// Folder_3 with `sample_new_v2`: one noise image per N/10/Π(factors) (that is, one), fanned
    /// out ×10 at i = 0, then by the prime factors of N/10 (largest first) with v + w·z, then
    /// steered for i ≤ steps/2.
    V2,
}

impl Chain000 {
    /// Every column, in the table's order.
    pub const ALL: [Chain000; 4] = [
        Chain000::Folder1,
        Chain000::Folder2,
        Chain000::V1,
        Chain000::V2,
    ];

    /// The column's name in files.
    pub fn name(self) -> &'static str {
        match self {
            Chain000::Folder1 => "folder1",
            Chain000::Folder2 => "folder2",
            Chain000::V1 => "v1",
            Chain000::V2 => "v2",
        }
    }

    /// The column's label.
    pub fn label(self) -> &'static str {
        match self {
            Chain000::Folder1 => "Folder_1 (class-conditional)",
            Chain000::Folder2 => "Folder_2 (unconditional)",
            Chain000::V1 => "Folder_3 sample_new_v1",
            Chain000::V2 => "Folder_3 sample_new_v2",
        }
    }
}

/// What happens to the batch at one step of a chain, after the UNet gives v.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Nothing: the UNet's v is used.
    None,
    /// The layer fans each velocity out into one per class (×classes); x is tiled alike.
    FanOutClasses,
    /// The batch is tiled ×k: the first tile keeps v, the others take layer(v + w·z).
    FanOutNoise(usize),
    /// The layer steers v towards each image's class.
    Steer,
}

/// The prime factors of `n` in ascending order (`find_all_factor`; 50 → [2, 5, 5]).
pub fn prime_factors(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut p = 2;
    while p * p <= n {
        while n.is_multiple_of(p) {
            out.push(p);
            n /= p;
        }
        p += 1;
    }
    if n > 1 {
        out.push(n);
    }
    out
}

/// The plan of one chain: how many noise images it starts from and what happens at each step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan000 {
    /// Noise images at i = 0.
    pub start: usize,
    /// One hook per step.
    pub hooks: Vec<Hook>,
}

/// The plan of `chain` for `images` outputs over `steps` steps with `classes` classes.
/// Errors: `images` not a multiple of `classes` for the layer's chains, and too few steps for
/// v2's fan-out (it needs one step per prime factor of N/classes after the first).
pub fn plan(
    chain: Chain000,
    images: usize,
    steps: usize,
    classes: usize,
) -> Result<Plan000, String> {
    if steps == 0 || images == 0 {
        return Err("a chain needs at least one step and one image".into());
    }
    let layered = matches!(chain, Chain000::V1 | Chain000::V2);
    if layered && (classes == 0 || !images.is_multiple_of(classes)) {
        return Err(format!(
            "seed 000's {} needs the number of images to be a multiple of {classes} (one per \
             class), got {images}",
            chain.label()
        ));
    }
    let steer = |i: usize| {
        if i <= steps / 2 {
            Hook::Steer
        } else {
            Hook::None
        }
    };
    Ok(match chain {
        Chain000::Folder1 | Chain000::Folder2 => Plan000 {
            start: images,
            hooks: vec![Hook::None; steps],
        },
        Chain000::V1 => Plan000 {
            start: images / classes,
            hooks: (0..steps)
                .map(|i| {
                    if i == 0 {
                        Hook::FanOutClasses
                    } else {
                        steer(i)
                    }
                })
                .collect(),
        },
        Chain000::V2 => {
            let mut factors = prime_factors(images / classes);
            factors.reverse();
            if factors.len() >= steps {
                return Err(format!(
                    "sample_new_v2 fans out once per prime factor of N/{classes} = {} ({:?}) \
                     after its first step, so it needs more than {} steps, got {steps}",
                    images / classes,
                    factors,
                    factors.len()
                ));
            }
            Plan000 {
                start: 1,
                hooks: (0..steps)
                    .map(|i| match i {
                        0 => Hook::FanOutClasses,
                        i if i <= factors.len() => Hook::FanOutNoise(factors[i - 1]),
                        i => steer(i),
                    })
                    .collect(),
            }
        }
    })
}

/// The batch size after each step's hook (the worked example: 100 images → 1, 10, 50, 100).
pub fn batch_sizes(p: &Plan000, classes: usize) -> Vec<usize> {
    let mut n = p.start;
    p.hooks
        .iter()
        .map(|h| {
            n *= match h {
                Hook::FanOutClasses => classes,
                Hook::FanOutNoise(k) => *k,
                _ => 1,
            };
            n
        })
        .collect()
}

/// (a, s) = (√ᾱ, √(1 − ᾱ)) at the continuous t = T·(1 − i/steps) for i in 0..=steps
/// (i = steps is t = 0: (1, 0)), and the network's time input t for i < steps.
pub fn rates(table: &ScheduleTable, steps: usize) -> Vec<(f64, f64, f32)> {
    let big_t = table.steps() as f64;
    (0..=steps)
        .map(|i| {
            let t = big_t * (1.0 - i as f64 / steps as f64);
            if i == steps {
                (1.0, 0.0, 0.0)
            } else {
                let p = table.at_continuous(t);
                (p.alpha_bar.sqrt(), p.one_minus_alpha_bar.sqrt(), t as f32)
            }
        })
        .collect()
}

/// The seed's `ddim_sigma = eta·√(sigmas[i+1]²/sigmas[i]²)·√(1 − alphas[i]²/alphas[i+1]²)`
/// between rates `cur` = (a_i, s_i) and `next`; 0 where it is undefined (s_i = 0).
pub fn ddim_sigma(cur: (f64, f64), next: (f64, f64), eta: f64) -> f64 {
    let ((a, s), (a1, s1)) = (cur, next);
    if s > 0.0 && a1 > 0.0 {
        eta * (s1 * s1 / (s * s)).sqrt() * (1.0 - (a * a) / (a1 * a1)).max(0.0).sqrt()
    } else {
        0.0
    }
}

/// One step of seed 000's loop on `x` with the velocity `v`, from rates `cur` to `next`:
/// returns pred (x̂₀) and, unless `last`, writes the next x into `x`.
pub fn step(
    x: &mut [f32],
    v: &[f32],
    cur: (f64, f64),
    next: (f64, f64),
    eta: f64,
    last: bool,
    rng: &mut Rng,
) -> Vec<f32> {
    let (a, s) = cur;
    let (a1, s1) = next;
    let pred: Vec<f32> = x
        .iter()
        .zip(v)
        .map(|(&xi, &vi)| (a * f64::from(xi) - s * f64::from(vi)) as f32)
        .collect();
    if last {
        return pred;
    }
    let ddim_sigma = ddim_sigma(cur, next, eta);
    let adjusted = (s1 * s1 - ddim_sigma * ddim_sigma).max(0.0).sqrt();
    for ((xi, &vi), &p) in x.iter_mut().zip(v).zip(&pred) {
        let eps = s * f64::from(*xi) + a * f64::from(vi);
        let mut nx = f64::from(p) * a1 + eps * adjusted;
        if eta > 0.0 {
            nx += rng.normal() * ddim_sigma;
        }
        *xi = nx as f32;
    }
    pred
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::diffusion::{ScheduleKind, ScheduleSpec};

    #[test]
    fn factors_and_the_reports_worked_example() {
        assert_eq!(prime_factors(50), vec![2, 5, 5]);
        assert_eq!(prime_factors(1), Vec::<usize>::new());
        assert_eq!(prime_factors(97), vec![97]);
        assert_eq!(prime_factors(100), vec![2, 2, 5, 5]);
        // "1 noisy image → 10 → 50 → 100" for 100 images (factors of 10 reversed: [5, 2]).
        let p = plan(Chain000::V2, 100, 10, 10).unwrap();
        assert_eq!(p.start, 1);
        assert_eq!(&batch_sizes(&p, 10)[..4], &[10, 50, 100, 100]);
        assert_eq!(p.hooks[3], Hook::Steer);
        assert_eq!(p.hooks[5], Hook::Steer);
        assert_eq!(p.hooks[6], Hook::None);
        let v1 = plan(Chain000::V1, 500, 5, 10).unwrap();
        assert_eq!(v1.start, 50);
        assert_eq!(
            v1.hooks,
            vec![
                Hook::FanOutClasses,
                Hook::Steer,
                Hook::Steer,
                Hook::None,
                Hook::None
            ]
        );
        assert!(
            plan(Chain000::V2, 105, 10, 10)
                .unwrap_err()
                .contains("multiple of 10")
        );
        // N = 1000: 100 = 2·2·5·5, four fan-outs after the first step: 5 steps suffice, 4 do not.
        assert!(plan(Chain000::V2, 1000, 5, 10).is_ok());
        assert!(
            plan(Chain000::V2, 1000, 4, 10)
                .unwrap_err()
                .contains("more than 4 steps")
        );
    }

    /// The loop against seed 000's own schedule written out from the digest (R5):
    /// ᾱ(u) = exp(−1e−4 − 10u²), and with a perfect velocity for a single data point x₀ the
    /// deterministic chain lands on x₀ exactly.
    #[test]
    fn rates_follow_the_seeds_schedule_and_a_perfect_v_lands_on_x0() {
        let table = ScheduleSpec::new(ScheduleKind::VDiffusion, 1000)
            .table()
            .unwrap();
        let r = rates(&table, 10);
        for (i, &(a, s, t)) in r.iter().enumerate().take(10) {
            let u = 1.0 - i as f64 / 10.0;
            let ab = (-1e-4 - 10.0 * u * u).exp();
            assert!((a - ab.sqrt()).abs() < 1e-12, "i={i}");
            assert!((s - (1.0 - ab).sqrt()).abs() < 1e-12);
            assert!((f64::from(t) - 1000.0 * u).abs() < 1e-3);
        }
        assert_eq!(r[10], (1.0, 0.0, 0.0));
        let x0 = [0.25f32, -0.5];
        let mut rng = Rng::stream(1, 0);
        let mut x: Vec<f32> = rng.normal_vec(2);
        let mut pred = Vec::new();
        for i in 0..10 {
            let (a, s, _) = r[i];
            // v = a·ε − s·x₀ with ε = (x − a·x₀)/s.
            let v: Vec<f32> = x
                .iter()
                .zip(&x0)
                .map(|(&xi, &x0i)| {
                    let e = (f64::from(xi) - a * f64::from(x0i)) / s;
                    (a * e - s * f64::from(x0i)) as f32
                })
                .collect();
            pred = step(
                &mut x,
                &v,
                (a, s),
                (r[i + 1].0, r[i + 1].1),
                0.0,
                i == 9,
                &mut rng,
            );
        }
        for (p, want) in pred.iter().zip(&x0) {
            assert!((p - want).abs() < 1e-5, "{p} vs {want}");
        }
    }

    /// The seed's ddim_σ at t = T(1 − i/S) equals the DDIM sampler's σ(η) between the same
    /// integer steps (`sampler::ddim_sigma`, written from the digest's eq. 7).
    #[test]
    fn the_seeds_ddim_sigma_is_the_samplers() {
        let table = ScheduleSpec::new(ScheduleKind::VDiffusion, 1000)
            .table()
            .unwrap();
        let r = rates(&table, 20);
        for i in 0..19 {
            let (t, t1) = (1000 - 50 * i, 1000 - 50 * (i + 1));
            for eta in [0.0, 0.5, 1.0] {
                let ours = ddim_sigma((r[i].0, r[i].1), (r[i + 1].0, r[i + 1].1), eta);
                let theirs = crate::diffusion::sampler::ddim_sigma(&table, t, t1, eta);
                assert!(
                    (ours - theirs).abs() < 1e-12,
                    "i={i} η={eta}: {ours} vs {theirs}"
                );
            }
        }
    }

    /// η = 1's ddim_σ equals the DDPM posterior's σ = √β̃ between the two levels.
    #[test]
    fn eta_one_sigma_is_the_posterior_std() {
        let (ab, ab1): (f64, f64) = (0.3, 0.6);
        let (a, s, a1, s1) = (ab.sqrt(), (1.0 - ab).sqrt(), ab1.sqrt(), (1.0 - ab1).sqrt());
        let sigma = ddim_sigma((a, s), (a1, s1), 1.0);
        let beta = 1.0 - ab / ab1;
        let beta_tilde = (1.0 - ab1) / (1.0 - ab) * beta;
        assert!((sigma - beta_tilde.sqrt()).abs() < 1e-12);
    }
}
