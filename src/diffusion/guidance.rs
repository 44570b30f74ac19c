//! Guidance: steering a sampler towards a class.
//!
//! - **Classifier-free guidance** (seed 004 §5.3, digest §2 item 16): one class-conditional
//!   network gives ε(x, y) and, with the null label, ε(x, ∅); the sampler uses
//!   ε̃ = (1 + w)·ε(x, y) − w·ε(x, ∅) with w ≥ 0. w = 0 is the plain conditional model.
//!   The other common convention (Ho & Salimans' "guidance scale" s, as in diffusers) writes
//!   ε̃ = ε(x, ∅) + s·(ε(x, y) − ε(x, ∅)): the same thing with s = 1 + w, so w = 2 here is
//!   s = 3 there, and seed 001's γ is 1 + w as well.
//! - **Classifier guidance** (seed 001 Alg. 4, corrected in the digest): a noisy classifier
//!   p_φ(y | x_t) shifts ε by −γ·√(1 − ᾱ_t)·∇ₓ log p_φ(y | x_t).

/// Why a guidance setting is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GuidanceError {
    /// A weight that is negative, NaN or infinite.
    #[error("the guidance weight {name} must be a finite number ≥ 0, got {value}")]
    BadWeight {
        /// The weight's name (w or γ).
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A class index the model was not trained on.
    #[error("class {class} is outside the model's {classes} classes (0..={})", classes.saturating_sub(1))]
    BadClass {
        /// The class asked for.
        class: usize,
        /// The model's class count.
        classes: usize,
    },
    /// Guidance asked of an unconditional model.
    #[error(
        "this model is unconditional (trained without labels), so it cannot be asked for a \
         class; train one with num_classes = 10 (presets/mnist-cond-cpu.toml), or steer it \
         with a noisy classifier (sample --classifier, presets/mnist-classifier-guidance.toml)"
    )]
    Unconditional,
}

/// Checks a guidance weight (`name` is w or γ for the message).
pub fn check_weight(name: &'static str, value: f64) -> Result<f64, GuidanceError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(GuidanceError::BadWeight { name, value })
    }
}

/// Checks that `class` is one of a model's `classes` (0: an unconditional model).
pub fn check_class(class: usize, classes: usize) -> Result<usize, GuidanceError> {
    if classes == 0 {
        Err(GuidanceError::Unconditional)
    } else if class >= classes {
        Err(GuidanceError::BadClass { class, classes })
    } else {
        Ok(class)
    }
}

/// The classifier-free guided ε̃ = (1 + w)·ε_c − w·ε_u (seed 004's convention).
pub fn cfg_eps(eps_cond: f64, eps_uncond: f64, w: f64) -> f64 {
    (1.0 + w) * eps_cond - w * eps_uncond
}

/// The same, element by element: `cond` becomes ε̃.
pub fn cfg_combine<S: super::Real>(cond: &mut [S], uncond: &[S], w: f64) {
    for (c, &u) in cond.iter_mut().zip(uncond) {
        *c = S::from_f64(cfg_eps(c.to_f64(), u.to_f64(), w));
    }
}

/// Classifier guidance (seed 001 Alg. 4, the digest's corrected form): ε̂ = ε − γ·√(1 − ᾱ_t)·g
/// with g = ∇ₓ log p_φ(y | x_t), element by element; `eps` becomes ε̂.
pub fn classifier_guided_eps<S: super::Real>(
    eps: &mut [S],
    grad_log_p: &[S],
    gamma: f64,
    one_minus_alpha_bar: f64,
) {
    let k = gamma * one_minus_alpha_bar.max(0.0).sqrt();
    for (e, &g) in eps.iter_mut().zip(grad_log_p) {
        *e = S::from_f64(e.to_f64() - k * g.to_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_worked_value() {
        // Digest §3.3: w = 3, ε_c = 0.2, ε_u = 0.1 gives 0.5.
        assert!((cfg_eps(0.2, 0.1, 3.0) - 0.5).abs() < 1e-12);
        // The guidance-scale convention with s = 1 + w gives the same number.
        let s: f64 = 1.0 + 3.0;
        assert!((0.1 + s * (0.2 - 0.1) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(check_weight("w", -0.5).is_err());
        assert!(check_weight("w", f64::NAN).is_err());
        assert!(check_weight("γ", f64::INFINITY).is_err());
        assert_eq!(check_weight("w", 2.0), Ok(2.0));
        assert_eq!(check_class(3, 0), Err(GuidanceError::Unconditional));
        assert_eq!(
            check_class(10, 10),
            Err(GuidanceError::BadClass {
                class: 10,
                classes: 10
            })
        );
        assert_eq!(check_class(9, 10), Ok(9));
    }
}
