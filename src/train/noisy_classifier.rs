//! Training the noisy classifier of classifier guidance (seed 001 Alg. 4): images from the
//! metrics classifier's training split, noised to a random t with the run's schedule, and a
//! cross-entropy loss on their labels.

use crate::config::NoisyClassifierConfig;
use crate::data::Dataset;
use crate::diffusion::{Rng, ScheduleTable};
use crate::metrics::classifier::{HELD_OUT_FRACTION, SPLIT_SEED};
use crate::model::{NoisyClassifier, NoisyClassifierInfo, NoisyClassifierNet, init_seeded};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Int, Tensor, TensorData};

/// Noises image `i` of `data` to timestep `t` with `table`, drawing ε from `rng`.
fn noised(
    data: &Dataset,
    i: usize,
    t: usize,
    table: &ScheduleTable,
    rng: &mut Rng,
    out: &mut Vec<f32>,
) {
    let (a, s) = (
        table.sqrt_alpha_bar[t - 1],
        table.sqrt_one_minus_alpha_bar[t - 1],
    );
    for &x0 in data.image(i) {
        out.push((a * f64::from(x0) + s * rng.normal()) as f32);
    }
}

/// Trains a noisy classifier on `data` (which must be labelled) for the noise levels of
/// `table`. `progress(step, total, loss)` returns false to cancel (then Err("cancelled")).
pub fn train_noisy_classifier(
    data: &Dataset,
    table: &ScheduleTable,
    schedule: &str,
    cfg: &NoisyClassifierConfig,
    progress: &mut dyn FnMut(usize, usize, f64) -> bool,
) -> Result<NoisyClassifier, String> {
    cfg.validate()?;
    let classes = match (data.labels(), data.classes()) {
        (Some(_), Some(c)) => c.to_vec(),
        _ => {
            return Err(format!(
                "data set `{}` has no labels; a classifier needs labelled images",
                data.name()
            ));
        }
    };
    let shape = [data.channels(), data.height(), data.width()];
    let (train, held) = data
        .split(HELD_OUT_FRACTION, SPLIT_SEED)
        .map_err(|e| e.to_string())?;
    let labels = train.labels().unwrap_or_default().to_vec();
    let device = NoisyClassifier::device();
    let mut net = init_seeded(&device, cfg.seed, || {
        NoisyClassifierNet::new(shape, classes.len(), cfg.width, &device)
    });
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = Rng::stream(cfg.seed, 41);
    let big_t = table.steps();
    let pixels: usize = shape.iter().product();
    for step in 0..cfg.steps {
        let mut xs = Vec::with_capacity(cfg.batch * pixels);
        let mut ys = Vec::with_capacity(cfg.batch);
        let mut ts = Vec::with_capacity(cfg.batch);
        for _ in 0..cfg.batch {
            let i = rng.below(train.len() as u64) as usize;
            let t = 1 + rng.below(big_t as u64) as usize;
            noised(&train, i, t, table, &mut rng, &mut xs);
            ys.push(i64::from(labels[i]));
            ts.push(t as f32);
        }
        let b = cfg.batch;
        let x = Tensor::<4>::from_data(
            TensorData::new(xs, [b, shape[0], shape[1], shape[2]]),
            &device,
        );
        let y = Tensor::<1, Int>::from_data(TensorData::new(ys, [b]), &device);
        let loss = loss_fn.forward(net.forward(x, &ts), y);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            return Err(format!(
                "the loss became {value} at step {}; lower lr",
                step + 1
            ));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(crate::model::cosine_lr(cfg.lr, step, cfg.steps), net, grads);
        if !progress(step + 1, cfg.steps, value) {
            return Err("cancelled".into());
        }
    }
    let mut model = NoisyClassifier {
        net,
        info: NoisyClassifierInfo {
            shape,
            classes,
            width: cfg.width,
            data: data.name().to_owned(),
            schedule: schedule.to_owned(),
            steps: big_t,
            train_steps: cfg.steps,
            accuracy_by_t: Vec::new(),
            seed: cfg.seed,
        },
    };
    model.info.accuracy_by_t = accuracy_by_t(&model, &held, table, 1000);
    Ok(model)
}

/// Held-out accuracy at a few noise levels (t = 1, T/4, T/2, 3T/4, T), on up to `n` images.
pub fn accuracy_by_t(
    model: &NoisyClassifier,
    held: &Dataset,
    table: &ScheduleTable,
    n: usize,
) -> Vec<(usize, f64)> {
    let big_t = table.steps();
    let labels = held.labels().unwrap_or_default();
    let n = n.min(held.len()).min(labels.len());
    let k = model.info.classes.len();
    let mut rng = Rng::stream(model.info.seed, 43);
    [1, big_t / 4, big_t / 2, 3 * big_t / 4, big_t]
        .into_iter()
        .map(|t| t.clamp(1, big_t))
        .map(|t| {
            let mut hits = 0;
            for start in (0..n).step_by(256) {
                let idx: Vec<usize> = (start..(start + 256).min(n)).collect();
                let mut xs = Vec::new();
                for &i in &idx {
                    noised(held, i, t, table, &mut rng, &mut xs);
                }
                let probs = model.probs(&xs, t);
                for (row, &i) in probs.chunks_exact(k).zip(&idx) {
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |a, (j, &p)| if p > a.1 { (j, p) } else { a },
                        )
                        .0;
                    hits += usize::from(best == labels[i] as usize);
                }
            }
            (t, hits as f64 / n.max(1) as f64)
        })
        .collect()
}
