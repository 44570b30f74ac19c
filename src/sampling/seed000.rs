//! Seed 000's chains with their networks: Folder_1 and Folder_2 UNets, and Folder_3's frozen
//! UNet plus the additional layer (`sample_new_v1`, `sample_new_v2`). The arithmetic and the
//! fan-out plans are in [`crate::diffusion::seed000`]; this runs the UNet (the CPU path, in
//! chunks) and the layer on the batch as the plan says.

use crate::diffusion::seed000::{self, Chain000, Hook};
use crate::diffusion::{Rng, ScheduleTable};
use crate::model::{AddLayer, CpuUNet};

/// One chain's settings.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    /// The column.
    pub chain: Chain000,
    /// Images out (N).
    pub images: usize,
    /// Steps.
    pub steps: usize,
    /// DDIM η.
    pub eta: f64,
    /// v2's velocity-noise degree w.
    pub noise_degree: f64,
    /// The seed of x_T and of every noise.
    pub seed: u64,
    /// Images per UNet call.
    pub chunk: usize,
}

/// The networks of a chain.
pub struct Nets<'a> {
    /// The UNet (Folder_1's conditional one for `Folder1`, else Folder_2's).
    pub unet: &'a CpuUNet,
    /// The additional layer (needed by v1 and v2).
    pub layer: Option<&'a AddLayer>,
    /// The schedule the UNet was trained on.
    pub table: &'a ScheduleTable,
    /// [C, H, W].
    pub shape: [usize; 3],
    /// Classes (10 for MNIST).
    pub classes: usize,
}

/// Tiles `v` (flat, `n` images of `p` pixels) `k` times: [v, v, …].
fn tile<T: Clone>(v: &[T], k: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len() * k);
    for _ in 0..k {
        out.extend_from_slice(v);
    }
    out
}

/// What a chain made.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainOut {
    /// The N images (flat [N, C, H, W], x̂₀ of the last step).
    pub images: Vec<f32>,
    /// The class each image was asked for (empty for Folder_2, which asks for none). The
    /// fan-outs tile the batch, so v2's classes interleave: they are not in blocks.
    pub labels: Vec<usize>,
}

/// Runs one chain. `cancel()` is polled between steps.
pub fn run_chain(
    nets: &Nets<'_>,
    spec: &ChainSpec,
    cancel: &dyn Fn() -> bool,
) -> Result<ChainOut, String> {
    let plan = seed000::plan(spec.chain, spec.images, spec.steps, nets.classes)?;
    let layered = matches!(spec.chain, Chain000::V1 | Chain000::V2);
    let layer = match (layered, nets.layer) {
        (true, None) => return Err(format!("{} needs the additional layer", spec.chain.label())),
        (_, l) => l,
    };
    if let Some(l) = layer
        && (l.info.shape != nets.shape || l.info.classes != nets.classes)
    {
        return Err(format!(
            "the additional layer was trained on {:?} images with {} classes, the UNet makes \
             {:?} with {}",
            l.info.shape, l.info.classes, nets.shape, nets.classes
        ));
    }
    let pixels: usize = nets.shape.iter().product();
    let mut rng = Rng::stream(spec.seed, 61);
    let mut x: Vec<f32> = rng.normal_vec(plan.start * pixels);
    // Folder_1 asks for N/classes images of each class; the layer's chains get theirs at the
    // first fan-out (tile j is class j).
    let mut labels: Vec<usize> = match spec.chain {
        Chain000::Folder1 => (0..spec.images)
            .map(|i| i * nets.classes / spec.images)
            .collect(),
        _ => Vec::new(),
    };
    let rates = seed000::rates(nets.table, spec.steps);
    let chunk = spec.chunk.max(1);
    for (i, hook) in plan.hooks.iter().enumerate() {
        if cancel() {
            return Err("cancelled".into());
        }
        let n = x.len() / pixels;
        let t = vec![rates[i].2; n];
        let mut v = Vec::with_capacity(x.len());
        for start in (0..n).step_by(chunk) {
            let end = (start + chunk).min(n);
            let xs = &x[start * pixels..end * pixels];
            let ts = &t[start..end];
            v.extend(if spec.chain == Chain000::Folder1 {
                nets.unet
                    .forward_labeled(xs, nets.shape, ts, Some(&labels[start..end]))
            } else {
                nets.unet.forward(xs, nets.shape, ts)
            });
        }
        match (hook, layer) {
            (Hook::None, _) | (_, None) => {}
            (Hook::FanOutClasses, Some(l)) => {
                labels = (0..nets.classes).flat_map(|c| vec![c; n]).collect();
                v = l.apply(&tile(&v, nets.classes), &labels);
                x = tile(&x, nets.classes);
            }
            (Hook::FanOutNoise(k), Some(l)) => {
                let mut out = v.clone();
                for _ in 1..*k {
                    let noisy: Vec<f32> = v
                        .iter()
                        .map(|&vi| vi + (spec.noise_degree * rng.normal()) as f32)
                        .collect();
                    out.extend(l.apply(&noisy, &labels));
                }
                v = out;
                labels = tile(&labels, *k);
                x = tile(&x, *k);
            }
            (Hook::Steer, Some(l)) => v = l.apply(&v, &labels),
        }
        let last = i + 1 == spec.steps;
        let cur = (rates[i].0, rates[i].1);
        let next = (rates[i + 1].0, rates[i + 1].1);
        let pred = seed000::step(&mut x, &v, cur, next, spec.eta, last, &mut rng);
        if last {
            return Ok(ChainOut {
                images: pred,
                labels,
            });
        }
    }
    Ok(ChainOut { images: x, labels })
}
