//! Sampling with a trained network: the core's sampler steps driven by the UNet's ε̂.

use crate::data::unit_to_u8;
use crate::diffusion::{Rng, SamplerPlan, ScheduleTable, StepOutput};
use crate::model::UNet;
use crate::train::Target;
use burn::tensor::{Device, Tensor, TensorData};

/// Wraps `model` as an ε-predictor on flat batches of images of `shape` [C, H, W].
/// Networks trained for v or x₀ are converted to ε with the schedule's rates.
pub fn eps_predictor<'a>(
    model: &'a UNet,
    device: &'a Device,
    table: &'a ScheduleTable,
    target: Target,
    shape: [usize; 3],
) -> impl FnMut(usize, &[f32], &mut [f32]) + 'a {
    move |t, x, eps_out| {
        let n = shape[0] * shape[1] * shape[2];
        let b = x.len() / n;
        let input = Tensor::<4>::from_data(
            TensorData::new(x.to_vec(), [b, shape[0], shape[1], shape[2]]),
            device,
        );
        let tf = vec![t as f32; b];
        let out: Vec<f32> = model
            .forward(input, &tf)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let (a, s) = (
            table.sqrt_alpha_bar[t - 1],
            table.sqrt_one_minus_alpha_bar[t - 1],
        );
        for i in 0..x.len() {
            let (xi, o) = (
                f64::from(x[i]),
                f64::from(out.get(i).copied().unwrap_or(0.0)),
            );
            eps_out[i] = match target {
                Target::Eps => o,
                Target::X0 => (xi - a * o) / s.max(1e-12),
                Target::V => s * xi + a * o,
            } as f32;
        }
    }
}

/// x_T for `n` samples: sample i always gets the same noise for a seed, whatever n is.
pub fn initial_noise(n: usize, pixels: usize, seed: u64) -> Vec<f32> {
    let mut x = Vec::with_capacity(n * pixels);
    for i in 0..n {
        let mut rng = Rng::stream(seed, i as u64);
        x.extend(rng.normal_vec::<f32>(pixels));
    }
    x
}

/// Draws `n` samples with `plan`; returns x₀ as a flat [n, C, H, W] vector in [−1, 1]-ish.
#[expect(
    clippy::too_many_arguments,
    reason = "a flat call used by CLI, worker and tests alike"
)]
pub fn sample_images(
    model: &UNet,
    device: &Device,
    table: &ScheduleTable,
    target: Target,
    plan: &SamplerPlan,
    n: usize,
    shape: [usize; 3],
    seed: u64,
    clip: bool,
) -> Vec<f32> {
    // One sampling loop for everything: the chain recorder with no intermediate frames.
    sample_chain(
        model,
        device,
        table,
        target,
        plan,
        n,
        shape,
        seed,
        clip,
        usize::MAX,
    )
    .0
}

/// A recorded reverse chain, stored compactly as u8 frames.
#[derive(Clone, Debug, Default)]
pub struct ChainRecord {
    /// The timestep of each frame (the x_t shown), starting at T.
    pub ts: Vec<usize>,
    /// x_t frames, [n, C, H, W] as u8.
    pub xt: Vec<Vec<u8>>,
    /// x̂₀ frames, same layout.
    pub x0: Vec<Vec<u8>>,
}

/// Runs `plan` recording x_t and x̂₀ every `stride` steps (and the last), as u8.
#[expect(clippy::too_many_arguments, reason = "mirrors sample_images")]
pub fn sample_chain(
    model: &UNet,
    device: &Device,
    table: &ScheduleTable,
    target: Target,
    plan: &SamplerPlan,
    n: usize,
    shape: [usize; 3],
    seed: u64,
    clip: bool,
    stride: usize,
) -> (Vec<f32>, ChainRecord) {
    let pixels: usize = shape.iter().product();
    let mut x = initial_noise(n, pixels, seed);
    let mut rng = Rng::stream(seed, u64::MAX);
    let mut predict = eps_predictor(model, device, table, target, shape);
    let len = x.len();
    let (mut eps, mut z, mut next) = (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
    let (mut x0, mut e_used, mut noise) = (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
    let mut rec = ChainRecord::default();
    let to_u8 = |v: &[f32]| v.iter().map(|&p| unit_to_u8(p)).collect::<Vec<u8>>();
    let stride = stride.max(1);
    let last = plan.steps.len().saturating_sub(1);
    for (k, step) in plan.steps.iter().enumerate() {
        predict(step.t, &x, &mut eps);
        if step.is_stochastic() {
            rng.fill_normal(&mut z);
        } else {
            z.iter_mut().for_each(|v| *v = 0.0);
        }
        step.apply(
            &x,
            &eps,
            &z,
            clip,
            &mut next,
            StepOutput {
                x0: &mut x0,
                eps: &mut e_used,
                noise: &mut noise,
            },
        );
        if k % stride == 0 || k == last {
            rec.ts.push(step.t);
            rec.xt.push(to_u8(&x));
            rec.x0.push(to_u8(&x0));
        }
        std::mem::swap(&mut x, &mut next);
    }
    rec.ts.push(0);
    rec.xt.push(to_u8(&x));
    rec.x0.push(to_u8(&x));
    (x, rec)
}
