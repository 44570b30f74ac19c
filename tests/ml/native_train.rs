//! The native CPU training pass (`TrainNet`) against burn's autodiff on the same weights:
//! every parameter's gradient and the input's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor, TensorData};
use diffusion_lab::diffusion::Rng;
use diffusion_lab::model::TrainEngine;
use diffusion_lab::model::{TrainNet, UNetConfig};
use diffusion_lab::train::{TrainError, Trainer, load_checkpoint_with, save_checkpoint};
use std::collections::HashMap;

/// Relative L2 difference ‖a − b‖ / ‖a‖.
pub(crate) fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut d, mut n) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        d += f64::from(x - y).powi(2);
        n += f64::from(x).powi(2);
    }
    (d / n.max(1e-30)).sqrt()
}

/// Every parameter's gradient from burn's autodiff, by parameter id.
pub(crate) fn burn_param_grads(
    model: &diffusion_lab::model::UNet,
    grads: &burn::tensor::Gradients,
) -> HashMap<ParamId, Vec<f32>> {
    let mut c = Collector {
        grads,
        out: HashMap::new(),
    };
    model.visit(&mut c);
    c.out
}

struct Collector<'a> {
    grads: &'a burn::tensor::Gradients,
    out: HashMap<ParamId, Vec<f32>>,
}

impl ModuleVisitor for Collector<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param
            .val()
            .grad(self.grads)
            .map(|g| g.into_data().try_to_vec::<f32>().expect("f32"))
            .unwrap_or_default();
        self.out.insert(param.id, g);
    }
}

fn check(config: &UNetConfig, batch: usize, seed: u64) {
    check_labeled(config, batch, seed, None);
}

fn check_labeled(config: &UNetConfig, batch: usize, seed: u64, labels: Option<&[usize]>) {
    let device = Device::flex().autodiff();
    let model = config.init_seeded(&device, seed);
    let shape = [config.image_channels, config.image_size, config.image_size];
    let n = batch * shape.iter().product::<usize>();
    // A learned-Σ model outputs twice the image channels.
    let out_c = config.image_channels * if config.learn_sigma { 2 } else { 1 };
    let mut rng = Rng::seed(seed + 1);
    let x = rng.normal_vec::<f32>(n);
    // The loss Σ out ⊙ r has output gradient r.
    let r = rng.normal_vec::<f32>(n / config.image_channels * out_c);
    let t: Vec<f32> = (0..batch).map(|i| (1 + 137 * i % 1000) as f32).collect();
    let [c, h, w] = shape;

    let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, c, h, w]), &device)
        .require_grad();
    let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [batch, out_c, h, w]), &device);
    let out = model.forward_labeled(xt.clone(), &t, labels);
    let want_out = out.clone().into_data().try_to_vec::<f32>().expect("f32");
    let grads = (out * rt).sum().backward();
    let want_dx = xt
        .grad(&grads)
        .expect("input gradient")
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let collected = burn_param_grads(&model, &grads);

    let mut net = TrainNet::from_unet(&model).expect("weights fit");
    let got_out = net
        .forward_labeled(&x, shape, &t, labels, &mut Rng::seed(0))
        .expect("activations fit");
    let got_dx = net.backward(&r).expect("gradients fit");
    let out_err = rel_l2(&want_out, &got_out);
    assert!(
        out_err < 1e-5,
        "{config:?}: output differs by {out_err:.2e}"
    );
    let dx_err = rel_l2(&want_dx, &got_dx);
    eprintln!("{config:?}: output {out_err:.1e}, input gradient {dx_err:.1e}");
    assert!(dx_err < 1e-4, "input gradient differs by {dx_err:.2e}");
    let got = net.param_grads().expect("gradients fit");
    assert_eq!(
        got.len(),
        collected.len(),
        "the native pass covers every parameter"
    );
    let mut worst = 0.0f64;
    for (i, (id, _shape, g)) in got.iter().enumerate() {
        let want = collected.get(id).expect("a parameter burn knows");
        let err = rel_l2(want, g);
        worst = worst.max(err);
        assert!(
            err < 1e-4,
            "{config:?}: gradient {i} ({} values) differs by {err:.2e}",
            g.len()
        );
    }
    eprintln!(
        "  worst parameter gradient {worst:.1e} over {} tensors",
        got.len()
    );
}

#[test]
fn tiny_gradients_match_burn_autodiff() {
    check(&UNetConfig::tiny(1, 28), 3, 5);
}

/// Channel counts that are not multiples of 8 (12 and 36): the norms' backward then runs its
/// blocks of eight channels and its one-channel path for the rest.
#[test]
fn odd_channel_count_gradients_match_burn_autodiff() {
    let config = UNetConfig {
        base_channels: 12,
        groups: 4,
        ..UNetConfig::tiny(1, 16)
    };
    check(&config, 2, 11);
}

#[test]
fn log_snr_gradients_match_burn_autodiff() {
    // Seed 000's Folder_2 network: the time embedding reads 50·λ(t) (#14 §3).
    let config = UNetConfig {
        time_input: diffusion_lab::model::TimeInput::LogSnr {
            schedule: diffusion_lab::diffusion::ScheduleSpec::new(
                diffusion_lab::diffusion::ScheduleKind::VDiffusion,
                1000,
            ),
        },
        ..UNetConfig::tiny(1, 16)
    };
    check(&config, 3, 31);
}

#[test]
fn class_conditional_gradients_match_burn_autodiff() {
    // Two real labels and the null label (10): the class table's gradient lands on their rows.
    let config = UNetConfig {
        num_classes: 10,
        ..UNetConfig::tiny(1, 16)
    };
    check_labeled(&config, 3, 11, Some(&[3, 10, 3]));
    // No labels: every sample takes the null row.
    check_labeled(&config, 2, 12, None);
}

#[test]
fn learned_sigma_gradients_match_burn_autodiff() {
    // 2·C output channels (ε̂ and o), on grey and on RGB images.
    check(
        &UNetConfig {
            learn_sigma: true,
            ..UNetConfig::tiny(1, 16)
        },
        3,
        13,
    );
    check(
        &UNetConfig {
            learn_sigma: true,
            ..UNetConfig::tiny(3, 16)
        },
        2,
        14,
    );
}

#[test]
fn canonical_gradients_match_burn_autodiff() {
    check(&UNetConfig::canonical(1, 28), 2, 7);
}

#[test]
fn rgb_attention_two_levels_two_blocks_gradients_match_burn_autodiff() {
    let config = UNetConfig {
        res_blocks: 2,
        attention_resolutions: vec![8, 4],
        ..UNetConfig::tiny(3, 16)
    };
    let config = UNetConfig {
        channel_mults: vec![1, 2, 2],
        ..config
    };
    check(&config, 2, 9);
}

/// Every parameter of the raw weights, flattened in visiting order.
pub(crate) fn params(t: &Trainer) -> Vec<f32> {
    super::train::param_values(&t.raw_snapshot())
}

pub(crate) fn run_on(engine: TrainEngine, steps: usize) -> diffusion_lab::config::RunConfig {
    let mut c = super::train::tiny_run(steps);
    c.train.engine = engine;
    c
}

#[test]
fn both_engines_give_the_same_weights_after_five_steps() {
    let _serial = super::train::serial();
    let mut native = Trainer::new(run_on(TrainEngine::Native, 5), super::train::cpu()).unwrap();
    let mut burn = Trainer::new(run_on(TrainEngine::Burn, 5), super::train::cpu()).unwrap();
    assert!(native.is_native() && !burn.is_native());
    assert!(
        native.pick.label.contains("native"),
        "{}",
        native.pick.label
    );
    for _ in 0..5 {
        let (a, b) = (native.step().unwrap(), burn.step().unwrap());
        let rel = f64::from((a.loss - b.loss).abs() / b.loss);
        assert!(
            rel < 1e-4,
            "step {}: losses {} vs {}",
            a.step,
            a.loss,
            b.loss
        );
    }
    let err = rel_l2(&params(&burn), &params(&native));
    eprintln!("weights after 5 steps differ by {err:.1e} (relative L2)");
    assert!(err < 1e-4, "weights differ by {err:.2e}");
}

/// The native engine runs its own Adam and EMA: with weight decay, active gradient clipping
/// and a short EMA, its raw and EMA weights after 5 steps still equal burn's optimiser's.
#[test]
fn both_engines_agree_with_weight_decay_clipping_and_the_ema() {
    let _serial = super::train::serial();
    let run = |engine| {
        let mut c = run_on(engine, 5);
        c.train.weight_decay = 0.05;
        // Every gradient's norm of the tiny model is above this: clipping acts each step.
        c.train.grad_clip = 1e-3;
        c.train.ema_decay = 0.5;
        Trainer::new(c, super::train::cpu()).unwrap()
    };
    let (mut native, mut burn) = (run(TrainEngine::Native), run(TrainEngine::Burn));
    let start = super::train::param_values(&burn.ema_snapshot());
    for _ in 0..5 {
        native.step().unwrap();
        burn.step().unwrap();
    }
    let raw = rel_l2(&params(&burn), &params(&native));
    let burn_ema = super::train::param_values(&burn.ema_snapshot());
    let ema = rel_l2(
        &burn_ema,
        &super::train::param_values(&native.ema_snapshot()),
    );
    eprintln!("after 5 steps: raw weights differ by {raw:.1e}, EMA by {ema:.1e}");
    assert!(raw < 1e-4, "raw weights differ by {raw:.2e}");
    assert!(ema < 1e-4, "EMA weights differ by {ema:.2e}");
    // The EMA moved, and is not the raw weights.
    assert!(rel_l2(&start, &burn_ema) > 1e-3);
    assert!(rel_l2(&params(&burn), &burn_ema) > 1e-4);
}

#[test]
fn both_engines_track_each_other_over_300_steps() {
    let _serial = super::train::serial();
    let mut native = Trainer::new(run_on(TrainEngine::Native, 300), super::train::cpu()).unwrap();
    let mut burn = Trainer::new(run_on(TrainEngine::Burn, 300), super::train::cpu()).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        a.push(native.step().unwrap().loss);
        b.push(burn.step().unwrap().loss);
    }
    for (i, (x, y)) in a.chunks(50).zip(b.chunks(50)).enumerate() {
        let (mx, my) = (
            x.iter().sum::<f32>() / x.len() as f32,
            y.iter().sum::<f32>() / y.len() as f32,
        );
        eprintln!(
            "steps {}..{}: native {mx:.4}, burn {my:.4}",
            i * 50,
            i * 50 + 50
        );
        assert!(
            ((mx - my) / my).abs() <= 0.03,
            "50-step means {mx} (native) and {my} (burn) differ by more than 3%"
        );
    }
    assert!(
        a[250..].iter().sum::<f32>() < a[..50].iter().sum::<f32>(),
        "the loss falls"
    );
}

#[test]
fn a_checkpoint_continues_on_the_other_engine() {
    let _serial = super::train::serial();
    let dir = tempfile::tempdir().unwrap();
    for (first, second) in [
        (TrainEngine::Burn, TrainEngine::Native),
        (TrainEngine::Native, TrainEngine::Burn),
    ] {
        let ck = dir.path().join(format!("{first:?}"));
        // Reference: 6 steps on the second engine... after 3 on the first.
        let mut a = Trainer::new(run_on(first, 6), super::train::cpu()).unwrap();
        for _ in 0..3 {
            a.step().unwrap();
        }
        save_checkpoint(&a, &ck).unwrap();
        let mut b = load_checkpoint_with(&ck, super::train::cpu(), Some(second)).unwrap();
        assert_eq!(b.is_native(), second == TrainEngine::Native);
        assert_eq!(b.step, 3);
        // The uninterrupted run on the first engine, for comparison.
        for _ in 0..3 {
            a.step().unwrap();
            b.step().unwrap();
        }
        let err = rel_l2(&params(&a), &params(&b));
        assert!(
            err < 1e-4,
            "{first:?} → {second:?}: weights differ by {err:.2e}"
        );
    }
}

#[test]
fn native_resume_is_exact() {
    let _serial = super::train::serial();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    // Weight decay and gradient clipping on: the native optimiser's whole state goes through
    // the checkpoint's burn record.
    let run = || {
        let mut c = run_on(TrainEngine::Native, 6);
        c.train.weight_decay = 0.01;
        c.train.grad_clip = 0.05;
        c
    };
    let mut full = Trainer::new(run(), super::train::cpu()).unwrap();
    let want: Vec<f32> = (0..6).map(|_| full.step().unwrap().loss).collect();
    let mut a = Trainer::new(run(), super::train::cpu()).unwrap();
    let mut got: Vec<f32> = (0..3).map(|_| a.step().unwrap().loss).collect();
    save_checkpoint(&a, &ck).unwrap();
    let mut b = load_checkpoint_with(&ck, super::train::cpu(), None).unwrap();
    assert!(b.is_native());
    got.extend((0..3).map(|_| b.step().unwrap().loss));
    assert_eq!(
        got, want,
        "a resumed native run repeats the uninterrupted one bit for bit"
    );
    assert_eq!(params(&full), params(&b));
}

/// A step whose loss is not finite changes nothing on the native engine: the weights, and so
/// what a checkpoint would save, stay those of the last good step.
#[test]
fn a_non_finite_loss_leaves_the_native_weights_as_they_were() {
    let _serial = super::train::serial();
    let mut run = run_on(TrainEngine::Native, 200);
    run.train.lr = 1e9;
    run.train.warmup_steps = 0;
    run.train.grad_clip = 0.0;
    let mut t = Trainer::new(run, super::train::cpu()).unwrap();
    for _ in 0..200 {
        let (before, ema_before) = (params(&t), super::train::param_values(&t.ema_snapshot()));
        match t.step() {
            Ok(_) => continue,
            Err(e) => {
                assert!(matches!(e, TrainError::Diverged { .. }), "{e}");
                assert_eq!(params(&t), before, "the weights of the last good step");
                assert_eq!(
                    super::train::param_values(&t.ema_snapshot()),
                    ema_before,
                    "the EMA of the last good step"
                );
                assert!(before.iter().all(|v| v.is_finite()));
                return;
            }
        }
    }
    panic!("a learning rate of 1e9 must blow up within 200 steps");
}

/// An allocation the system cannot give (2^60 bytes) is an error that says what and how much,
/// and a training step reports it as one instead of aborting (issue #18 item 6).
#[test]
fn an_impossible_allocation_is_a_train_error_not_an_abort() {
    let e = std::hint::black_box(diffusion_lab::mem::try_zeroed(1 << 58, "activations"))
        .expect_err("2^60 bytes");
    let msg = TrainError::from(e).to_string();
    assert!(
        msg.starts_with("out of memory: could not allocate 1099511627776 MiB for activations: "),
        "{msg}"
    );
    assert!(msg.contains("lower the batch size"), "{msg}");
}
