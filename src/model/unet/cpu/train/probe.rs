//! One layer at a time: the canonical UNet's building blocks at their real shapes, timed on
//! burn's Flex backend and on the native training pass (`diffusion-lab bench layers`), so the
//! per-layer table in BENCHMARKS.md has both columns and names the layers to work on.

use super::{Act, TAttn, TConv, TNorm, TUp};
use crate::diffusion::Rng;
use crate::mem::AllocError;
use crate::model::unet::Attention;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use std::time::Instant;

/// A building block of the UNet at one shape.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// A k×k convolution (padding k/2) of a `size`×`size` input.
    Conv {
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        size: usize,
    },
    /// Nearest ×2 upsampling of a `size`×`size` input, then a 3×3 convolution.
    Up { c: usize, size: usize },
    /// GroupNorm (8 groups) then SiLU.
    NormSilu { c: usize, size: usize },
    /// The UNet's single-head self-attention with its GroupNorm and residual.
    Attention { c: usize, size: usize },
}

impl LayerSpec {
    /// Multiply-adds × 2 of the forward pass as a framework counts them (the up-convolution
    /// at its output size, as PyTorch computes it), per image.
    pub fn forward_flops(&self) -> f64 {
        match *self {
            Self::Conv {
                cin,
                cout,
                k,
                stride,
                size,
            } => {
                let o = (size + 2 * (k / 2) - k) / stride + 1;
                2.0 * (o * o * cin * cout * k * k) as f64
            }
            Self::Up { c, size } => 2.0 * (4 * size * size * c * c * 9) as f64,
            Self::NormSilu { .. } => 0.0,
            Self::Attention { c, size } => {
                let n = size * size;
                2.0 * (n * c * 3 * c + 2 * n * n * c + n * c * c) as f64
            }
        }
    }

    /// Input shape [channels, height, width].
    fn input(&self) -> [usize; 3] {
        match *self {
            Self::Conv { cin, size, .. } => [cin, size, size],
            Self::Up { c, size } | Self::NormSilu { c, size } | Self::Attention { c, size } => {
                [c, size, size]
            }
        }
    }

    /// A short name: "conv3×3 64→32 @28", "up 64 @7→14", ….
    pub fn label(&self) -> String {
        match *self {
            Self::Conv {
                cin,
                cout,
                k,
                stride,
                size,
            } => {
                let s = if stride > 1 {
                    format!(" /{stride}")
                } else {
                    String::new()
                };
                format!("conv{k}×{k}{s} {cin}→{cout} @{size}")
            }
            Self::Up { c, size } => format!("up+conv3×3 {c} @{size}→{}", 2 * size),
            Self::NormSilu { c, size } => format!("groupnorm+silu {c} @{size}"),
            Self::Attention { c, size } => format!("attention {c} @{size}"),
        }
    }
}

/// Median milliseconds of one layer: its forward pass, and its backward pass (input and
/// parameter gradients) timed alone after an untimed forward pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerTimes {
    pub forward_ms: f64,
    pub backward_ms: f64,
}

/// Times of one layer on both engines.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerProfile {
    pub spec: LayerSpec,
    pub flex: LayerTimes,
    pub native: LayerTimes,
}

/// The canonical UNet's layers at batch-independent shapes for a `size`×`size` image with
/// `channels` channels, each with how many times one forward pass runs it.
pub fn canonical_layers(channels: usize, size: usize) -> Vec<(LayerSpec, usize)> {
    let (s1, s2, s4) = (size, size / 2, size / 4);
    let conv = |cin, cout, k, stride, size| LayerSpec::Conv {
        cin,
        cout,
        k,
        stride,
        size,
    };
    vec![
        (conv(channels, 32, 3, 1, s1), 1),
        (conv(32, 32, 3, 1, s1), 3),
        (conv(96, 32, 3, 1, s1), 1),
        (conv(32, 32, 3, 2, s1), 1),
        (conv(32, 64, 3, 1, s2), 1),
        (conv(64, 64, 3, 1, s2), 2),
        (conv(128, 64, 3, 1, s2), 1),
        (conv(64, 64, 3, 2, s2), 1),
        (conv(64, 64, 3, 1, s4), 7),
        (conv(128, 64, 3, 1, s4), 1),
        (conv(32, channels, 3, 1, s1), 1),
        (conv(32, 64, 1, 1, s2), 1),
        (conv(96, 32, 1, 1, s1), 1),
        (conv(128, 64, 1, 1, s2), 1),
        (conv(128, 64, 1, 1, s4), 1),
        (LayerSpec::Up { c: 64, size: s4 }, 1),
        (LayerSpec::Up { c: 64, size: s2 }, 1),
        (LayerSpec::NormSilu { c: 32, size: s1 }, 4),
        (LayerSpec::NormSilu { c: 96, size: s1 }, 1),
        (LayerSpec::NormSilu { c: 32, size: s2 }, 1),
        (LayerSpec::NormSilu { c: 64, size: s2 }, 2),
        (LayerSpec::NormSilu { c: 128, size: s2 }, 1),
        (LayerSpec::NormSilu { c: 64, size: s4 }, 7),
        (LayerSpec::NormSilu { c: 128, size: s4 }, 1),
        (LayerSpec::Attention { c: 64, size: s4 }, 1),
    ]
}

/// Median of `reps` timings of `timed(setup())` (only `timed` is timed) after two warm-ups,
/// in ms.
fn median_ms<T>(
    reps: usize,
    mut setup: impl FnMut() -> Result<T, AllocError>,
    mut timed: impl FnMut(T) -> Result<(), AllocError>,
) -> Result<f64, AllocError> {
    for _ in 0..2 {
        timed(setup()?)?;
    }
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let input = setup()?;
        let t = Instant::now();
        timed(input)?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// A layer on both engines, with the same weights (one per timing: boxing would only add a
/// pointer chase).
#[allow(clippy::large_enum_variant)]
enum Pair {
    Conv(Conv2d, TConv),
    Up(Conv2d, TUp),
    Norm(GroupNorm, TNorm),
    Attn(Attention, TAttn),
}

impl Pair {
    fn new(spec: &LayerSpec, device: &Device) -> Result<Self, AllocError> {
        Ok(match *spec {
            LayerSpec::Conv {
                cin,
                cout,
                k,
                stride,
                ..
            } => {
                let p = k / 2;
                let conv = Conv2dConfig::new([cin, cout], [k, k])
                    .with_stride([stride, stride])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .init(device);
                let native = TConv::from(&conv)?;
                Self::Conv(conv, native)
            }
            LayerSpec::Up { c, .. } => {
                let conv = Conv2dConfig::new([c, c], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device);
                let native = TUp::from(&conv)?;
                Self::Up(conv, native)
            }
            LayerSpec::NormSilu { c, .. } => {
                let gn = GroupNormConfig::new(8, c).init(device);
                let native = TNorm::from(&gn, true);
                Self::Norm(gn, native)
            }
            LayerSpec::Attention { c, .. } => {
                let a = Attention::new(c, 8, device);
                let native = TAttn::from(&a)?;
                Self::Attn(a, native)
            }
        })
    }

    fn burn_forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Conv(conv, _) => conv.forward(x),
            Self::Up(conv, _) => conv.forward(interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
            )),
            Self::Norm(gn, _) => silu(gn.forward(x)),
            Self::Attn(a, _) => a.forward(x),
        }
    }

    /// What the forward pass is given: the network moves its activation into a norm (which
    /// keeps it for the backward pass), so the norm's copy is made here, untimed.
    fn native_input(&self, x: &Act) -> Result<Option<Act>, AllocError> {
        match self {
            Self::Norm(..) => x.try_clone().map(Some),
            _ => Ok(None),
        }
    }

    fn native_forward(&mut self, x: &Act, owned: Option<Act>) -> Result<Act, AllocError> {
        match (self, owned) {
            (Self::Norm(_, t), Some(owned)) => t.forward_owned(owned),
            (Self::Conv(_, t), _) => t.forward(x, None, None),
            (Self::Up(_, t), _) => t.forward(x),
            (Self::Norm(_, t), None) => t.forward(x),
            (Self::Attn(_, t), _) => t.forward(x),
        }
    }

    fn native_backward(&mut self, dy: &Act) -> Result<(), AllocError> {
        match self {
            Self::Conv(_, t) => t.backward(dy, true).map(drop),
            Self::Up(_, t) => t.backward(dy).map(drop),
            Self::Norm(_, t) => t.backward(dy).map(drop),
            Self::Attn(_, t) => t.backward(dy).map(drop),
        }
    }
}

/// Times `spec` at `batch` on burn's Flex backend (forward; forward + backward through
/// autodiff) and on the native training pass, `reps` runs each (median).
pub fn profile_layer(
    spec: &LayerSpec,
    batch: usize,
    reps: usize,
) -> Result<LayerProfile, AllocError> {
    let flex = Device::flex();
    let ad = flex.clone().autodiff();
    let [c, h, w] = spec.input();
    let mut rng = Rng::seed(7);
    let x: Vec<f32> = rng.normal_vec(batch * c * h * w);
    let shape = [batch, c, h, w];
    // Burn: one module per device (the weights do not matter for timing).
    let layer_flex = Pair::new(spec, &flex)?;
    let xf = Tensor::<4>::from_data(TensorData::new(x.clone(), shape), &flex);
    let flex_fwd = median_ms(
        reps,
        || Ok(()),
        |()| {
            let _ = layer_flex.burn_forward(xf.clone()).sum().into_data();
            Ok(())
        },
    )?;
    let layer_ad = Pair::new(spec, &ad)?;
    let xa = Tensor::<4>::from_data(TensorData::new(x.clone(), shape), &ad).require_grad();
    let out_dims = layer_ad.burn_forward(xa.clone()).dims();
    let dy: Vec<f32> = rng.normal_vec(out_dims.iter().product());
    let dya = Tensor::<4>::from_data(TensorData::new(dy.clone(), out_dims), &ad);
    // The forward pass (computed eagerly, with its graph recorded) untimed, then the
    // backward pass alone.
    let flex_bwd = median_ms(
        reps,
        || Ok((layer_ad.burn_forward(xa.clone()) * dya.clone()).sum()),
        |loss| {
            let _ = loss.backward();
            Ok(())
        },
    )?;
    // Native, channels-last, with the Flex module's weights.
    let native = layer_flex;
    let xn = super::channels_last(&x, shape)?;
    let dyn_ = super::channels_last(&dy, out_dims)?;
    let native = std::cell::RefCell::new(native);
    let native_fwd = median_ms(
        reps,
        || native.borrow().native_input(&xn),
        |owned| native.borrow_mut().native_forward(&xn, owned).map(drop),
    )?;
    let native_bwd = median_ms(
        reps,
        || {
            let owned = native.borrow().native_input(&xn)?;
            native.borrow_mut().native_forward(&xn, owned).map(drop)
        },
        |()| native.borrow_mut().native_backward(&dyn_),
    )?;
    Ok(LayerProfile {
        spec: spec.clone(),
        flex: LayerTimes {
            forward_ms: flex_fwd,
            backward_ms: flex_bwd,
        },
        native: LayerTimes {
            forward_ms: native_fwd,
            backward_ms: native_bwd,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical list accounts for the canonical UNet's convolution weights: the sum of
    /// cin·cout·k² over the listed convolutions (with their counts) is the number of
    /// convolution weights of `UNetConfig::canonical`, counted from the burn model.
    #[test]
    fn the_canonical_layer_list_matches_the_model() {
        use burn::module::Module;
        let device = Device::flex();
        let model = crate::model::UNetConfig::canonical(1, 28).init_seeded(&device, 0);
        let mut conv_weights = 0usize;
        for (spec, count) in canonical_layers(1, 28) {
            match spec {
                LayerSpec::Conv { cin, cout, k, .. } => conv_weights += count * cin * cout * k * k,
                LayerSpec::Up { c, .. } => conv_weights += count * c * c * 9,
                _ => {}
            }
        }
        struct Count(usize);
        impl burn::module::ModuleVisitor for Count {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                if D == 4 {
                    self.0 += param.shape().num_elements();
                }
            }
        }
        let mut count = Count(0);
        model.visit(&mut count);
        assert_eq!(conv_weights, count.0);
    }

    #[test]
    fn a_layer_is_timed_on_both_engines() {
        let spec = LayerSpec::Conv {
            cin: 4,
            cout: 8,
            k: 3,
            stride: 1,
            size: 8,
        };
        let p = profile_layer(&spec, 2, 1).expect("a small layer fits");
        for t in [p.flex, p.native] {
            assert!(t.forward_ms > 0.0 && t.backward_ms > 0.0);
        }
        assert_eq!(spec.forward_flops(), 2.0 * (64 * 4 * 8 * 9) as f64);
    }
}
