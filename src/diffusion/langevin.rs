//! Langevin dynamics and annealed Langevin (NCSN) samplers on slices.
//!
//! Plain Langevin dynamics (seed 001 §2.3.2, digest §2 eq. 20) moves every point along the score
//! and adds fresh noise:
//!
//! x ← x + (ε/2)·s(x) + √ε·z,  z ~ N(0, I).
//!
//! For small ε and many steps its stationary law is p(x). In practice the score is only known (or
//! only learnt) well where p is large, and a multimodal p mixes between its modes extremely
//! slowly, so the *relative weights* of the modes are not recovered (seed 001 Fig. 3).
//!
//! Annealed Langevin (NCSN, Song & Ermon 2019, seed 001 Alg. 3 read with erratum E001-8) runs T
//! inner Langevin steps at each noise level σ₁ > σ₂ > … > σ_L, from LARGE to SMALL, using the
//! score of the noised density p_σ = p ∗ N(0, σ²I) (x + σ·z, i.e. signal 1 and noise σ), with
//! step α_i = ε·σ_i²/σ_L² (σ_L = σ_min, so the last level steps by exactly ε). At large σ the
//! modes overlap and points move between them freely, so the weights settle before the modes
//! separate.
//!
//! The samplers are a list of [`LangevinStep`]s (like [`super::SamplerPlan`]) applied with
//! [`langevin_update`], so the app can also run them one step per frame. Randomness comes from
//! the seeded, platform-stable [`Rng`]: one `fill_normal` of the whole batch per step.

use super::Rng;

/// Why a Langevin run cannot start.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LangevinError {
    /// The dimension of a point is zero.
    #[error("the dimension of a point must be at least 1")]
    ZeroDim,
    /// The flattened points do not split into whole points.
    #[error("{len} values do not split into points of dimension {dim}")]
    Ragged {
        /// The length of the flattened slice.
        len: usize,
        /// The dimension of a point.
        dim: usize,
    },
    /// The base step size ε is not finite and positive.
    #[error("the step size ε must be finite and > 0, got {0}")]
    BadStepSize(f64),
    /// No noise levels were given.
    #[error("annealed Langevin needs at least one noise level σ")]
    NoLevels,
    /// A noise level is not finite and positive.
    #[error("noise level σ[{index}] = {value} must be finite and > 0")]
    BadSigma {
        /// The position of the level in the list.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The noise levels increase somewhere (they must run from large to small, erratum E001-8).
    #[error(
        "noise levels must run from large to small, but σ[{index}] = {value} > σ[{prev_index}] = {prev}",
        prev_index = .index - 1
    )]
    NotDecreasing {
        /// The position of the offending level (≥ 1).
        index: usize,
        /// Its value.
        value: f64,
        /// The level before it.
        prev: f64,
    },
    /// The range of a geometric σ ladder is invalid.
    #[error("σ_max = {sigma_max} and σ_min = {sigma_min} must be finite with σ_max ≥ σ_min > 0")]
    BadRange {
        /// The requested largest σ.
        sigma_max: f64,
        /// The requested smallest σ.
        sigma_min: f64,
    },
    /// A geometric σ ladder with no levels.
    #[error("the number of noise levels must be at least 1")]
    NoLevelCount,
}

/// One Langevin update x ← x + (α/2)·s(x; σ) + √α·z, with everything needed to show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LangevinStep {
    /// The position of this step in the run, from 0.
    pub index: usize,
    /// The number of steps in the run.
    pub total: usize,
    /// The noise level's position, from 0 (always 0 for plain Langevin).
    pub level: usize,
    /// The inner step within the level, from 0.
    pub inner: usize,
    /// The noise level σ the score is evaluated at; `None` for plain Langevin.
    pub sigma: Option<f64>,
    /// The step size α (ε for plain Langevin, ε·σ²/σ_min² when annealed).
    pub step_size: f64,
}

impl LangevinStep {
    /// Whether this is the last step of the run.
    pub fn is_last(&self) -> bool {
        self.index + 1 == self.total
    }
}

fn check_points(x: &[f64], dim: usize) -> Result<(), LangevinError> {
    if dim == 0 {
        return Err(LangevinError::ZeroDim);
    }
    if !x.len().is_multiple_of(dim) {
        return Err(LangevinError::Ragged { len: x.len(), dim });
    }
    Ok(())
}

fn check_step_size(eps: f64) -> Result<(), LangevinError> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(LangevinError::BadStepSize(eps))
    }
}

/// Checks that `sigmas` is non-empty, finite, positive and non-increasing (large → small).
pub fn validate_sigmas(sigmas: &[f64]) -> Result<(), LangevinError> {
    if sigmas.is_empty() {
        return Err(LangevinError::NoLevels);
    }
    for (index, &value) in sigmas.iter().enumerate() {
        if !(value.is_finite() && value > 0.0) {
            return Err(LangevinError::BadSigma { index, value });
        }
        if index > 0 && value > sigmas[index - 1] {
            return Err(LangevinError::NotDecreasing {
                index,
                value,
                prev: sigmas[index - 1],
            });
        }
    }
    Ok(())
}

/// `levels` noise levels spaced geometrically from `sigma_max` down to `sigma_min` (both
/// included; one level gives `[sigma_max]`), as in NCSN.
pub fn geometric_sigmas(
    sigma_max: f64,
    sigma_min: f64,
    levels: usize,
) -> Result<Vec<f64>, LangevinError> {
    if !(sigma_min.is_finite() && sigma_max.is_finite() && sigma_min > 0.0) || sigma_max < sigma_min
    {
        return Err(LangevinError::BadRange {
            sigma_max,
            sigma_min,
        });
    }
    if levels == 0 {
        return Err(LangevinError::NoLevelCount);
    }
    if levels == 1 {
        return Ok(vec![sigma_max]);
    }
    let ratio = (sigma_min / sigma_max).ln();
    let last = (levels - 1) as f64;
    Ok((0..levels)
        .map(|i| match i {
            0 => sigma_max,
            _ if i == levels - 1 => sigma_min,
            _ => sigma_max * (ratio * i as f64 / last).exp(),
        })
        .collect())
}

/// The steps of plain Langevin dynamics: `n_steps` steps of size `eps`.
pub fn langevin_plan(eps: f64, n_steps: usize) -> Result<Vec<LangevinStep>, LangevinError> {
    check_step_size(eps)?;
    Ok((0..n_steps)
        .map(|index| LangevinStep {
            index,
            total: n_steps,
            level: 0,
            inner: index,
            sigma: None,
            step_size: eps,
        })
        .collect())
}

/// The steps of annealed Langevin: `steps_per_level` steps at each σ_i (large → small) with step
/// size α_i = ε·σ_i²/σ_min² (seed 001 Alg. 3, erratum E001-8).
pub fn annealed_plan(
    sigmas: &[f64],
    eps: f64,
    steps_per_level: usize,
) -> Result<Vec<LangevinStep>, LangevinError> {
    validate_sigmas(sigmas)?;
    check_step_size(eps)?;
    let sigma_min = sigmas.iter().copied().fold(f64::INFINITY, f64::min);
    let total = sigmas.len() * steps_per_level;
    let mut steps = Vec::with_capacity(total);
    for (level, &sigma) in sigmas.iter().enumerate() {
        let step_size = eps * (sigma / sigma_min).powi(2);
        for inner in 0..steps_per_level {
            steps.push(LangevinStep {
                index: steps.len(),
                total,
                level,
                inner,
                sigma: Some(sigma),
                step_size,
            });
        }
    }
    Ok(steps)
}

/// One Langevin update in place: x ← x + (α/2)·score + √α·z, elementwise.
///
/// # Panics
/// If the three slices differ in length (a programming error, as in [`super::Step::apply`]).
pub fn langevin_update(x: &mut [f64], score: &[f64], z: &[f64], step_size: f64) {
    assert!(
        score.len() == x.len() && z.len() == x.len(),
        "slice lengths differ"
    );
    let (half, root) = (0.5 * step_size, step_size.sqrt());
    for ((v, s), n) in x.iter_mut().zip(score).zip(z) {
        *v += half * s + root * n;
    }
}

/// Runs `plan` on the flattened batch `x`; `score_fn(points, sigma, out)` fills the score of the
/// whole batch and `on_step(step, points)` sees the points after every update.
fn run(
    plan: &[LangevinStep],
    x: &mut [f64],
    rng: &mut Rng,
    mut score_fn: impl FnMut(&[f64], Option<f64>, &mut [f64]),
    mut on_step: impl FnMut(&LangevinStep, &[f64]),
) {
    let mut score = vec![0.0; x.len()];
    let mut z = vec![0.0; x.len()];
    for step in plan {
        score_fn(x, step.sigma, &mut score);
        rng.fill_normal(&mut z);
        langevin_update(x, &score, &z, step.step_size);
        on_step(step, x);
    }
}

/// Plain Langevin dynamics on the flattened batch `x` (`dim` values per point): `n_steps` steps
/// x ← x + (ε/2)·s(x) + √ε·z, where `score_fn(points, out)` fills the score of the whole batch.
pub fn langevin(
    x: &mut [f64],
    dim: usize,
    score_fn: impl FnMut(&[f64], &mut [f64]),
    eps: f64,
    n_steps: usize,
    rng: &mut Rng,
) -> Result<(), LangevinError> {
    langevin_traced(x, dim, score_fn, eps, n_steps, rng, |_, _| {})
}

/// [`langevin`], calling `on_step(step, points)` after every update (to record trails).
pub fn langevin_traced(
    x: &mut [f64],
    dim: usize,
    mut score_fn: impl FnMut(&[f64], &mut [f64]),
    eps: f64,
    n_steps: usize,
    rng: &mut Rng,
    on_step: impl FnMut(&LangevinStep, &[f64]),
) -> Result<(), LangevinError> {
    check_points(x, dim)?;
    let plan = langevin_plan(eps, n_steps)?;
    run(&plan, x, rng, |p, _, out| score_fn(p, out), on_step);
    Ok(())
}

/// Annealed Langevin (NCSN) on the flattened batch `x` (`dim` values per point): at each σ of
/// `sigmas` (large → small), `steps_per_level` steps of size ε·σ²/σ_min², where
/// `score_fn(points, sigma, out)` fills the score of the σ-noised density for the whole batch.
pub fn annealed_langevin(
    x: &mut [f64],
    dim: usize,
    sigmas: &[f64],
    eps: f64,
    steps_per_level: usize,
    score_fn: impl FnMut(&[f64], f64, &mut [f64]),
    rng: &mut Rng,
) -> Result<(), LangevinError> {
    annealed_langevin_traced(
        x,
        dim,
        sigmas,
        eps,
        steps_per_level,
        score_fn,
        rng,
        |_, _| {},
    )
}

/// [`annealed_langevin`], calling `on_step(step, points)` after every update (to record trails).
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors annealed_langevin plus the callback; a struct would hide the maths"
)]
pub fn annealed_langevin_traced(
    x: &mut [f64],
    dim: usize,
    sigmas: &[f64],
    eps: f64,
    steps_per_level: usize,
    mut score_fn: impl FnMut(&[f64], f64, &mut [f64]),
    rng: &mut Rng,
    on_step: impl FnMut(&LangevinStep, &[f64]),
) -> Result<(), LangevinError> {
    check_points(x, dim)?;
    let plan = annealed_plan(sigmas, eps, steps_per_level)?;
    run(
        &plan,
        x,
        rng,
        |p, sigma, out| score_fn(p, sigma.unwrap_or(0.0), out),
        on_step,
    );
    Ok(())
}

/// Frames of a run kept for drawing particle trails: the points every `every` steps, plus the
/// last step, at most `max_frames` frames (the oldest are dropped first).
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    every: usize,
    max_frames: usize,
    frames: Vec<(usize, Vec<f64>)>,
}

impl Trajectory {
    /// A recorder keeping every `every`-th step (0 is read as 1) and at most `max_frames` frames
    /// (0 is read as 1).
    pub fn new(every: usize, max_frames: usize) -> Self {
        Self {
            every: every.max(1),
            max_frames: max_frames.max(1),
            frames: Vec::new(),
        }
    }

    /// Clears the frames and stores the starting points as frame 0 (no updates applied yet).
    pub fn start(&mut self, points: &[f64]) {
        self.frames.clear();
        self.frames.push((0, points.to_vec()));
    }

    /// Keeps `points` if `step` is due; use as (or inside) the `on_step` callback.
    pub fn record(&mut self, step: &LangevinStep, points: &[f64]) {
        let n = step.index + 1;
        if n.is_multiple_of(self.every) || step.is_last() {
            if self.frames.len() == self.max_frames {
                self.frames.remove(0);
            }
            self.frames.push((n, points.to_vec()));
        }
    }

    /// The kept frames, oldest first, each with the number of updates applied so far.
    pub fn frames(&self) -> &[(usize, Vec<f64>)] {
        &self.frames
    }

    /// The path of point `i` (dimension `dim`) through the kept frames, oldest first.
    pub fn path(&self, i: usize, dim: usize) -> Vec<&[f64]> {
        self.frames
            .iter()
            .filter_map(|(_, f)| f.get(i * dim..(i + 1) * dim))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn geometric_ladder_ends_and_ratio() {
        let s = geometric_sigmas(1.0, 0.01, 5).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0], 1.0);
        assert_eq!(s[4], 0.01);
        for w in s.windows(2) {
            assert!((w[1] / w[0] - 0.01f64.powf(0.25)).abs() < 1e-12);
        }
        assert_eq!(geometric_sigmas(2.0, 0.5, 1).unwrap(), vec![2.0]);
        assert_eq!(geometric_sigmas(0.5, 0.5, 3).unwrap(), vec![0.5; 3]);
        assert!(matches!(
            geometric_sigmas(0.1, 1.0, 3),
            Err(LangevinError::BadRange { .. })
        ));
        assert!(matches!(
            geometric_sigmas(1.0, 0.0, 3),
            Err(LangevinError::BadRange { .. })
        ));
        assert_eq!(
            geometric_sigmas(1.0, 0.1, 0),
            Err(LangevinError::NoLevelCount)
        );
    }

    #[test]
    fn sigma_validation() {
        assert_eq!(validate_sigmas(&[]), Err(LangevinError::NoLevels));
        assert!(validate_sigmas(&[1.0, 0.5, 0.5, 0.1]).is_ok());
        assert_eq!(
            validate_sigmas(&[0.1, 1.0]),
            Err(LangevinError::NotDecreasing {
                index: 1,
                value: 1.0,
                prev: 0.1
            })
        );
        assert!(matches!(
            validate_sigmas(&[1.0, -0.1]),
            Err(LangevinError::BadSigma { index: 1, .. })
        ));
        assert!(matches!(
            validate_sigmas(&[f64::NAN]),
            Err(LangevinError::BadSigma { index: 0, .. })
        ));
        let msg = LangevinError::NotDecreasing {
            index: 2,
            value: 3.0,
            prev: 1.0,
        }
        .to_string();
        assert!(msg.contains("σ[2] = 3 > σ[1] = 1"), "{msg}");
    }

    #[test]
    fn annealed_step_sizes_follow_sigma_squared() {
        let plan = annealed_plan(&[1.0, 0.1], 2e-5, 3).unwrap();
        assert_eq!(plan.len(), 6);
        assert!((plan[0].step_size - 2e-5 * 100.0).abs() < 1e-15);
        assert_eq!(plan[5].step_size, 2e-5);
        assert_eq!(plan[4].sigma, Some(0.1));
        assert_eq!((plan[4].level, plan[4].inner, plan[4].index), (1, 1, 4));
        assert!(plan[5].is_last() && !plan[4].is_last());
        assert_eq!(
            annealed_plan(&[1.0], 0.0, 3),
            Err(LangevinError::BadStepSize(0.0))
        );
    }

    #[test]
    fn update_matches_formula() {
        let mut x = vec![1.0, -2.0];
        langevin_update(&mut x, &[0.5, 1.0], &[1.0, -1.0], 0.04);
        assert!((x[0] - (1.0 + 0.02 * 0.5 + 0.2)).abs() < 1e-15);
        assert!((x[1] - (-2.0 + 0.02 - 0.2)).abs() < 1e-15);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let mut rng = Rng::seed(0);
        let mut x = vec![0.0; 5];
        assert_eq!(
            langevin(&mut x, 2, |_, _| {}, 0.1, 1, &mut rng),
            Err(LangevinError::Ragged { len: 5, dim: 2 })
        );
        assert_eq!(
            langevin(&mut x, 0, |_, _| {}, 0.1, 1, &mut rng),
            Err(LangevinError::ZeroDim)
        );
        assert_eq!(
            langevin(&mut x, 1, |_, _| {}, f64::NAN, 1, &mut rng).map_err(|e| e.to_string()),
            Err("the step size ε must be finite and > 0, got NaN".to_owned())
        );
    }

    #[test]
    fn standard_normal_is_stationary() {
        // Score of N(0, 1) is −x; Langevin from N(0, 1) must stay near N(0, 1). With step ε the
        // chain's exact stationary variance is 1/(1 − ε/4) = 1.0025 for ε = 0.01.
        let mut rng = Rng::seed(11);
        let mut x: Vec<f64> = rng.normal_vec(20_000);
        langevin(
            &mut x,
            1,
            |p, out| {
                for (o, v) in out.iter_mut().zip(p) {
                    *o = -v;
                }
            },
            0.01,
            200,
            &mut rng,
        )
        .unwrap();
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        // Standard errors 0.007 (mean) and 0.01 (variance); 4σ bounds.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0025).abs() < 0.04, "var {var}");
    }

    #[test]
    fn same_seed_same_run_and_trajectory_frames() {
        let score = |p: &[f64], s: f64, out: &mut [f64]| {
            for (o, v) in out.iter_mut().zip(p) {
                *o = -v / (1.0 + s * s);
            }
        };
        let run_once = || {
            let mut rng = Rng::seed(5);
            let mut x = vec![3.0, -3.0, 1.0, 0.0];
            let mut traj = Trajectory::new(4, 100);
            traj.start(&x);
            annealed_langevin_traced(&mut x, 2, &[1.0, 0.1], 0.01, 5, score, &mut rng, |s, p| {
                traj.record(s, p)
            })
            .unwrap();
            (x, traj)
        };
        let (a, ta) = run_once();
        let (b, _) = run_once();
        assert_eq!(a, b);
        let counts: Vec<usize> = ta.frames().iter().map(|f| f.0).collect();
        assert_eq!(counts, vec![0, 4, 8, 10]);
        assert_eq!(ta.frames()[3].1, a);
        let path = ta.path(1, 2);
        assert_eq!(path.len(), 4);
        assert_eq!(path[0], &[1.0, 0.0]);
        let mut small = Trajectory::new(1, 2);
        for step in langevin_plan(0.1, 5).unwrap() {
            small.record(&step, &[step.index as f64]);
        }
        assert_eq!(small.frames().len(), 2);
        assert_eq!(small.frames()[1], (5, vec![4.0]));
    }
}
