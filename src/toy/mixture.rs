//! An editable 2-D Gaussian mixture: the toy dataset with a closed-form score.

use super::ToyError;
use crate::diffusion::{Component, GaussianMixture, Rng};

/// A 2-D [`GaussianMixture`] whose components can be edited one at a time.
///
/// Every edit is validated and rebuilds the mixture, so [`Mixture2d::mixture`] is always a valid
/// 2-D mixture. Weights are relative: the mixture normalises them after each edit.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture2d {
    mixture: GaussianMixture,
}

/// Checks one component: 2-D, finite positive weight and σ, finite mean.
fn check_component(index: usize, c: &Component) -> Result<(), ToyError> {
    let ok = c.mean.len() == 2
        && c.std.len() == 2
        && c.weight.is_finite()
        && c.weight > 0.0
        && c.mean.iter().all(|m| m.is_finite())
        && c.std.iter().all(|s| s.is_finite() && *s > 0.0);
    if ok {
        Ok(())
    } else {
        Err(ToyError::BadComponent { index })
    }
}

impl Mixture2d {
    /// Wraps a 2-D mixture.
    pub fn new(mixture: GaussianMixture) -> Result<Self, ToyError> {
        if mixture.dim() != 2 {
            return Err(ToyError::NotTwoD { dim: mixture.dim() });
        }
        Ok(Self { mixture })
    }

    /// Builds a mixture from components, checking each one.
    pub fn from_components(components: Vec<Component>) -> Result<Self, ToyError> {
        if components.is_empty() {
            return Err(ToyError::NoComponents);
        }
        for (i, c) in components.iter().enumerate() {
            check_component(i, c)?;
        }
        let mixture =
            GaussianMixture::new(components).ok_or(ToyError::BadComponent { index: 0 })?;
        Ok(Self { mixture })
    }

    /// A mixture of round Gaussians with the same standard deviation `std`, one per mean.
    pub fn isotropic(means: &[[f64; 2]], weights: &[f64], std: f64) -> Result<Self, ToyError> {
        if means.len() != weights.len() {
            return Err(ToyError::WeightCount {
                means: means.len(),
                weights: weights.len(),
            });
        }
        Self::from_components(
            means
                .iter()
                .zip(weights)
                .map(|(m, &w)| Component {
                    weight: w,
                    mean: m.to_vec(),
                    std: vec![std; 2],
                })
                .collect(),
        )
    }

    /// The mixture.
    pub fn mixture(&self) -> &GaussianMixture {
        &self.mixture
    }

    /// The components, weights normalised.
    pub fn components(&self) -> &[Component] {
        self.mixture.components()
    }

    /// Replaces component `index`; the weights are then normalised again.
    pub fn set_component(&mut self, index: usize, component: Component) -> Result<(), ToyError> {
        let len = self.components().len();
        if index >= len {
            return Err(ToyError::ComponentIndex { index, len });
        }
        check_component(index, &component)?;
        let mut all = self.components().to_vec();
        all[index] = component;
        *self = Self::from_components(all)?;
        Ok(())
    }

    /// Adds a component; the weights are then normalised again.
    pub fn push(&mut self, component: Component) -> Result<(), ToyError> {
        let mut all = self.components().to_vec();
        check_component(all.len(), &component)?;
        all.push(component);
        *self = Self::from_components(all)?;
        Ok(())
    }

    /// Removes component `index`; the last component cannot be removed.
    pub fn remove(&mut self, index: usize) -> Result<(), ToyError> {
        let len = self.components().len();
        if index >= len {
            return Err(ToyError::ComponentIndex { index, len });
        }
        if len == 1 {
            return Err(ToyError::NoComponents);
        }
        let mut all = self.components().to_vec();
        all.remove(index);
        *self = Self::from_components(all)?;
        Ok(())
    }

    /// Draws `n` points, flattened (x, y) pairs.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        self.mixture.sample(n, rng)
    }
}

impl Default for Mixture2d {
    /// Three well-separated round components with unequal weights 0.5 / 0.3 / 0.2, σ = 0.15.
    fn default() -> Self {
        let c = |w: f64, m: [f64; 2]| Component {
            weight: w,
            mean: m.to_vec(),
            std: vec![0.15, 0.15],
        };
        let mixture = GaussianMixture::new(vec![
            c(0.5, [-1.0, -0.6]),
            c(0.3, [1.0, -0.6]),
            c(0.2, [0.0, 1.0]),
        ]);
        // The literal components above are valid, so `new` cannot fail; fall back to seed 001's
        // mixture rather than panic.
        Self {
            mixture: mixture.unwrap_or_else(GaussianMixture::seed001_two_gaussians),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn edits_are_validated_and_renormalised() {
        let mut m = Mixture2d::default();
        assert_eq!(m.components().len(), 3);
        let mut c = m.components()[0].clone();
        c.weight = 1.0;
        m.set_component(0, c.clone()).unwrap();
        let w: Vec<f64> = m.components().iter().map(|c| c.weight).collect();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((w[0] - 1.0 / 1.5).abs() < 1e-12, "{w:?}");
        c.std = vec![0.0, 0.1];
        assert_eq!(
            m.set_component(1, c.clone()),
            Err(ToyError::BadComponent { index: 1 })
        );
        assert_eq!(
            m.set_component(7, c),
            Err(ToyError::ComponentIndex { index: 7, len: 3 })
        );
        m.remove(2).unwrap();
        m.remove(1).unwrap();
        assert_eq!(m.remove(0), Err(ToyError::NoComponents));
        m.push(Component {
            weight: 2.0,
            mean: vec![0.0, 0.0],
            std: vec![0.2, 0.3],
        })
        .unwrap();
        assert_eq!(m.components().len(), 2);
        assert!(matches!(
            Mixture2d::new(
                GaussianMixture::new(vec![Component {
                    weight: 1.0,
                    mean: vec![0.0],
                    std: vec![1.0]
                }])
                .unwrap()
            ),
            Err(ToyError::NotTwoD { dim: 1 })
        ));
        assert_eq!(
            Mixture2d::isotropic(&[[0.0, 0.0]], &[1.0, 2.0], 0.1),
            Err(ToyError::WeightCount {
                means: 1,
                weights: 2
            })
        );
    }
}
