//! Training seed 000's additional layer (Folder_3): the UNet is frozen, only the layer learns
//! (the seed's `eval_loss` passes the UNet's output through `add_net`). Each step noises
//! labelled images to a continuous t in the upper half of the chain, t ∈ [T/2, T] (the samplers
//! apply the layer only for i ≤ steps/2, that is t ≥ T/2; our choice, the seed gives none),
//! asks the frozen UNet for v, and regresses layer(v, y) on the true velocity
//! v = √ᾱ·ε − √(1 − ᾱ)·x₀ by mean squared error.

use crate::config::{RunConfig, Target, seed000::LayerTrain};
use crate::data::Dataset;
use crate::diffusion::{Rng, ScheduleTable};
use crate::metrics::classifier::{HELD_OUT_FRACTION, SPLIT_SEED};
use crate::model::{AddLayer, AddLayerInfo, AddLayerNet, CpuUNet, UNet, init_seeded};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

/// A batch for the layer: the frozen UNet's velocities, the true ones and the labels.
struct LayerBatch {
    v_unet: Vec<f32>,
    v_true: Vec<f32>,
    labels: Vec<usize>,
}

/// Draws `n` images of `data` (with replacement) at t ∈ [T/2, T] and runs the frozen UNet.
fn layer_batch(
    data: &Dataset,
    unet: &CpuUNet,
    table: &ScheduleTable,
    n: usize,
    rng: &mut Rng,
) -> LayerBatch {
    let shape = [data.channels(), data.height(), data.width()];
    let labels_all = data.labels().unwrap_or_default();
    let big_t = table.steps() as f64;
    let (mut xt, mut v_true, mut ts, mut labels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let i = rng.below(data.len() as u64) as usize;
        let t = big_t * (0.5 + 0.5 * rng.uniform());
        let p = table.at_continuous(t);
        let (a, s) = (p.alpha_bar.sqrt(), p.one_minus_alpha_bar.sqrt());
        for &x0 in data.image(i) {
            let e = rng.normal();
            let x0 = f64::from(x0);
            xt.push((a * x0 + s * e) as f32);
            v_true.push((a * e - s * x0) as f32);
        }
        ts.push(t as f32);
        labels.push(labels_all.get(i).map_or(0, |&l| l as usize));
    }
    LayerBatch {
        v_unet: unet.forward(&xt, shape, &ts),
        v_true,
        labels,
    }
}

/// The mean squared error of two equal-length slices.
fn mse(a: &[f32], b: &[f32]) -> f64 {
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    s / a.len().max(1) as f64
}

/// Trains the layer on `data` (labelled) over the frozen EMA UNet `unet` of a run with
/// `config` (unconditional, predicting v). `unet_name` and `unet_step` are recorded.
/// `progress(step, total, loss)` returns false to cancel (then Err("cancelled")).
pub fn train_add_layer(
    unet: &UNet,
    config: &RunConfig,
    unet_name: &str,
    unet_step: usize,
    data: &Dataset,
    cfg: &LayerTrain,
    progress: &mut dyn FnMut(usize, usize, f64) -> bool,
) -> Result<AddLayer, String> {
    if config.train.target != Target::V {
        return Err(format!(
            "the additional layer steers the velocity v; {unet_name} predicts {:?}, not v \
             (train it with train.target = \"v\")",
            config.train.target
        ));
    }
    if unet.num_classes() > 0 {
        return Err(format!(
            "{unet_name} is class-conditional; the additional layer goes on an unconditional \
             UNet (seed 000's Folder_2)"
        ));
    }
    let classes = match (data.labels(), data.classes()) {
        (Some(_), Some(c)) => c.len(),
        _ => {
            return Err(format!(
                "data set `{}` has no labels; the additional layer learns one map per class",
                data.name()
            ));
        }
    };
    let shape = [data.channels(), data.height(), data.width()];
    if shape[1] < crate::model::add_layer::LATENT_SIDE {
        return Err(format!(
            "the additional layer needs images of at least 16×16, got {}×{}",
            shape[1], shape[2]
        ));
    }
    let table = config
        .schedule
        .table()
        .map_err(|e| format!("schedule: {e}"))?;
    let (train, held) = data
        .split(HELD_OUT_FRACTION, SPLIT_SEED)
        .map_err(|e| e.to_string())?;
    let cpu = CpuUNet::from_unet(unet);
    let device: Device = AddLayer::device().autodiff();
    let mut net = init_seeded(&device, cfg.seed, || {
        AddLayerNet::new(shape, classes, cfg.width, &device)
    });
    let mut optim = AdamConfig::new().init();
    let mut rng = Rng::stream(cfg.seed, 51);
    let [c, h, w] = shape;
    for step in 0..cfg.steps {
        let b = layer_batch(&train, &cpu, &table, cfg.batch, &mut rng);
        let n = b.labels.len();
        let x = Tensor::<4>::from_data(TensorData::new(b.v_unet, [n, c, h, w]), &device);
        let y = Tensor::<4>::from_data(TensorData::new(b.v_true, [n, c, h, w]), &device);
        let loss = (net.forward(x, &b.labels) - y).powi_scalar(2).mean();
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            return Err(format!(
                "the layer's loss became {value} at step {}; lower seed000.layer_train.lr",
                step + 1
            ));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(crate::model::cosine_lr(cfg.lr, step, cfg.steps), net, grads);
        if !progress(step + 1, cfg.steps, value) {
            return Err("cancelled".into());
        }
    }
    let mut layer = AddLayer {
        net: net.valid(),
        info: AddLayerInfo {
            shape,
            classes,
            width: cfg.width,
            data: data.name().to_owned(),
            unet: unet_name.to_owned(),
            unet_step,
            train_steps: cfg.steps,
            held_out_loss: 0.0,
            unet_loss: 0.0,
            seed: cfg.seed,
        },
    };
    // Held-out: the layer against the frozen UNet alone on the same 512 noised images.
    let mut rng = Rng::stream(cfg.seed, 52);
    let hb = layer_batch(&held, &cpu, &table, 512.min(held.len() * 4), &mut rng);
    layer.info.held_out_loss = mse(&layer.apply(&hb.v_unet, &hb.labels), &hb.v_true);
    layer.info.unet_loss = mse(&hb.v_unet, &hb.v_true);
    Ok(layer)
}
