//! Class conditioning and classifier-free guidance: the guided ε against two independent burn
//! forward passes, batching, training a conditional model on both engines, fine-tuning an
//! unconditional checkpoint into a conditional one, and the errors that name both kinds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::{Device, Tensor, TensorData};
use diffusion_lab::config::{DataSpec, Target};
use diffusion_lab::diffusion::{Rng, SamplerKind, SamplerPlan, ScheduleSpec, Spacing};
use diffusion_lab::model::TrainEngine;
use diffusion_lab::model::UNetConfig;
use diffusion_lab::sampling::{ChainSpec, Denoiser, Guidance, run_chain, sample_batched};
use diffusion_lab::train::{Trainer, save_checkpoint};
use std::sync::atomic::AtomicBool;

fn cond_config() -> UNetConfig {
    UNetConfig {
        num_classes: 10,
        ..UNetConfig::tiny(1, 16)
    }
}

fn burn_out(model: &diffusion_lab::model::UNet, x: &[f32], t: usize, labels: &[usize]) -> Vec<f32> {
    let b = labels.len();
    let input =
        Tensor::<4>::from_data(TensorData::new(x.to_vec(), [b, 1, 16, 16]), &Device::flex());
    model
        .forward_labeled(input, &vec![t as f32; b], Some(labels))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn the_guided_eps_is_the_digest_combination_of_two_burn_passes() {
    let device = Device::flex();
    let model = cond_config().init_seeded(&device, 3);
    assert_eq!(model.num_classes(), 10);
    let table = ScheduleSpec::default().table().unwrap();
    // The CPU path computes the guided ε; burn's forward pass, called twice, is the reference.
    let den = Denoiser::new(&model, &device, &table, Target::Eps, [1, 16, 16]);
    assert!(den.uses_cpu_path());
    let x = Rng::seed(9).normal_vec::<f32>(3 * 256);
    let t = 400;
    for w in [0.0, 2.0, 7.5] {
        let g = Guidance {
            labels: vec![1, 7, 4],
            w,
            gamma: 0.0,
        };
        let mut got = vec![0f32; x.len()];
        den.predict_guided(t, &x, 0, Some(&g), &mut got);
        let cond = burn_out(&model, &x, t, &[1, 7, 4]);
        let uncond = burn_out(&model, &x, t, &[10, 10, 10]);
        let mut worst = 0f64;
        for i in 0..x.len() {
            let want = (1.0 + w) * f64::from(cond[i]) - w * f64::from(uncond[i]);
            worst = worst.max((want - f64::from(got[i])).abs());
        }
        assert!(
            worst < 1e-4 * (1.0 + w),
            "w = {w}: worst difference {worst:e}"
        );
    }
    // Different labels give different predictions once the class table is non-zero, and the
    // null label is what `predict` (no guidance) uses.
    let a = burn_out(&model, &x[..256], t, &[1]);
    let b = burn_out(&model, &x[..256], t, &[2]);
    assert!(a.iter().zip(&b).any(|(p, q)| (p - q).abs() > 1e-3));
    let mut plain = vec![0f32; 256];
    den.predict(t, &x[..256], &mut plain);
    let null = burn_out(&model, &x[..256], t, &[10]);
    let d = plain
        .iter()
        .zip(&null)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-4, "predict uses the null label: {d}");
}

#[test]
fn guided_samples_do_not_depend_on_the_batch_size() {
    let device = Device::flex();
    let model = cond_config().init_seeded(&device, 4);
    let table = ScheduleSpec {
        steps: 100,
        ..ScheduleSpec::default()
    }
    .table()
    .unwrap();
    let den = Denoiser::new(&model, &device, &table, Target::Eps, [1, 16, 16]);
    let kind = SamplerKind::Ddim {
        steps: 5,
        eta: 0.5,
        spacing: Spacing::Trailing,
    };
    let plan = SamplerPlan::new(&table, kind).unwrap();
    let mut spec = ChainSpec::new(plan, 5, 11, true);
    spec.stride = usize::MAX;
    spec.guidance = Some(Guidance::rows_of_classes(5, 1, 10, 3.0));
    let never = AtomicBool::new(false);
    let whole = run_chain(&den, &spec, &never, |_, _| {}).unwrap();
    let parts = sample_batched(&den, &spec, 2, &never, &mut |_, _| true).unwrap();
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
    };
    assert_eq!(whole.len(), parts.len());
    // Only the summation order of the products changes with the batch.
    let d = max_diff(&whole, &parts);
    assert!(
        d < 1e-3,
        "sample i keeps its class and noise in any batch: {d}"
    );
    // A different class for sample 3 changes sample 3 only.
    let mut other = spec.clone();
    other.guidance = Some(Guidance {
        labels: vec![0, 1, 2, 9, 4],
        w: 3.0,
        gamma: 0.0,
    });
    let changed = run_chain(&den, &other, &never, |_, _| {}).unwrap();
    for i in 0..5 {
        let d = max_diff(
            &whole[i * 256..(i + 1) * 256],
            &changed[i * 256..(i + 1) * 256],
        );
        assert_eq!(d > 1e-2, i == 3, "sample {i}: largest change {d}");
    }
}

fn cond_run(steps: usize, engine: TrainEngine) -> diffusion_lab::config::RunConfig {
    let mut c = super::train::tiny_run(steps);
    c.data = DataSpec::Bundled {
        name: "mnist".into(),
        limit: 256,
    };
    c.num_classes = 10;
    c.train.engine = engine;
    c.train.val_every = 0;
    c
}

#[test]
fn a_conditional_model_trains_alike_on_both_engines() {
    let _serial = super::train::serial();
    let mut native = Trainer::new(cond_run(3, TrainEngine::Native), super::train::cpu()).unwrap();
    let mut burn = Trainer::new(cond_run(3, TrainEngine::Burn), super::train::cpu()).unwrap();
    assert_eq!(native.num_classes(), 10);
    for _ in 0..3 {
        let (a, b) = (native.step().unwrap(), burn.step().unwrap());
        let rel = f64::from((a.loss - b.loss).abs() / b.loss);
        assert!(rel < 1e-4, "step {}: {} vs {}", a.step, a.loss, b.loss);
    }
    let (p, q) = (
        super::native_train::params(&native),
        super::native_train::params(&burn),
    );
    let err = super::native_train::rel_l2(&q, &p);
    assert!(err < 1e-4, "weights after 3 steps differ by {err:e}");
}

#[test]
fn a_conditional_model_needs_labelled_data() {
    let mut c = super::train::tiny_run(1);
    c.num_classes = 10;
    let Err(e) = Trainer::new(c, super::train::cpu()) else {
        panic!("triangles have no labels");
    };
    assert!(e.to_string().contains("labelled"), "{e}");
    // The bundled MNIST is grouped by label, so the whole set is needed to meet label 9.
    let mut c = cond_run(1, TrainEngine::Native);
    c.data = DataSpec::Bundled {
        name: "mnist".into(),
        limit: 0,
    };
    c.num_classes = 9;
    let Err(e) = Trainer::new(c, super::train::cpu()) else {
        panic!("the data has label 9");
    };
    assert!(
        e.to_string()
            .contains("label 9, outside the model's 9 classes"),
        "{e}"
    );
}

#[test]
fn fine_tuning_starts_from_the_unconditional_weights_and_mismatches_name_both() {
    let _serial = super::train::serial();
    let dir = tempfile::tempdir().unwrap();
    let uncond_dir = dir.path().join("uncond");
    let mut uncond = super::train::tiny_run(2);
    uncond.data = cond_run(1, TrainEngine::Native).data;
    let mut t = Trainer::new(uncond, super::train::cpu()).unwrap();
    t.step().unwrap();
    t.step().unwrap();
    save_checkpoint(&t, &uncond_dir).unwrap();
    let before = t.ema_snapshot();

    let mut c = cond_run(1, TrainEngine::Native);
    c.train.init_from = uncond_dir.to_string_lossy().into_owned();
    let ft = Trainer::new(c, super::train::cpu()).unwrap();
    let after = ft.raw_snapshot();
    assert_eq!(after.num_classes(), 10);
    // Step 0 of the fine-tune predicts what the unconditional model predicts, for any label.
    let x = Rng::seed(5).normal_vec::<f32>(2 * 256);
    let input = |v: &[f32]| {
        Tensor::<4>::from_data(TensorData::new(v.to_vec(), [2, 1, 16, 16]), &Device::flex())
    };
    let want = before
        .forward(input(&x), &[50.0, 80.0])
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let got = after
        .forward_labeled(input(&x), &[50.0, 80.0], Some(&[3, 8]))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let d = want
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-5, "fine-tuning starts where the old model was: {d}");

    // Training moves the class table off zero: after a few steps the labels matter.
    let mut ft = ft;
    for _ in 0..3 {
        ft.step().unwrap();
    }
    let trained = ft.raw_snapshot();
    let by_label = |y: usize| {
        trained
            .forward_labeled(input(&x), &[50.0, 80.0], Some(&[y, y]))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (by_label(0), by_label(10));
    let d = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(
        d > 1e-5,
        "after 3 steps label 0 and the null label still predict alike: {d}"
    );

    // An unconditional checkpoint read as a conditional one: the error names both.
    let text = std::fs::read_to_string(uncond_dir.join("config.json")).unwrap();
    std::fs::write(
        uncond_dir.join("config.json"),
        text.replace("\"num_classes\": 0", "\"num_classes\": 10"),
    )
    .unwrap();
    let Err(e) = diffusion_lab::store::load_for_inference(&uncond_dir, &Device::flex()) else {
        panic!("the weights have no class table");
    };
    let e = e.to_string();
    assert!(
        e.contains("unconditional model")
            && e.contains("class-conditional model (num_classes = 10)"),
        "{e}"
    );
}

/// A small noisy classifier with random weights for [1, 16, 16] images.
fn noisy_classifier() -> diffusion_lab::model::NoisyClassifier {
    use diffusion_lab::model::{NoisyClassifier, NoisyClassifierInfo, NoisyClassifierNet};
    let device = NoisyClassifier::device();
    NoisyClassifier {
        net: NoisyClassifierNet::new([1, 16, 16], 10, 4, &device),
        info: NoisyClassifierInfo {
            shape: [1, 16, 16],
            classes: (0..10).map(|c| c.to_string()).collect(),
            width: 4,
            data: "test".into(),
            schedule: "linear".into(),
            steps: 100,
            train_steps: 0,
            accuracy_by_t: Vec::new(),
            seed: 0,
        },
    }
}

#[test]
fn the_classifier_gradient_matches_finite_differences() {
    let c = noisy_classifier();
    let x = Rng::seed(21).normal_vec::<f32>(2 * 256);
    let labels = [3usize, 8];
    let t = 40;
    let (logp, grad) = c.grad_log_prob(&x, t, &labels);
    // log p from the softmax of the plain (no autodiff) forward pass, in f64.
    let log_p = |v: &[f32]| -> f64 {
        let p = c.probs(v, t);
        labels
            .iter()
            .enumerate()
            .map(|(i, &y)| f64::from(p[i * 10 + y]).ln())
            .sum()
    };
    assert!((log_p(&x) - logp.iter().map(|&v| f64::from(v)).sum::<f64>()).abs() < 1e-4);
    let h = 1e-2f32;
    for &i in &[0usize, 17, 100, 255, 256 + 3, 256 + 130, 511] {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (log_p(&up) - log_p(&down)) / (2.0 * f64::from(h));
        let g = f64::from(grad[i]);
        assert!(
            (fd - g).abs() <= 2e-3 + 3e-2 * g.abs(),
            "pixel {i}: autodiff {g:e}, finite difference {fd:e}"
        );
    }
}

#[test]
fn classifier_guidance_shifts_eps_by_the_corrected_formula_and_gamma_zero_changes_nothing() {
    let device = Device::flex();
    let model = UNetConfig::tiny(1, 16).init_seeded(&device, 5);
    let table = ScheduleSpec {
        steps: 100,
        ..ScheduleSpec::default()
    }
    .table()
    .unwrap();
    let c = std::sync::Arc::new(noisy_classifier());
    let plain = Denoiser::new(&model, &device, &table, Target::Eps, [1, 16, 16]);
    let guided = Denoiser::new(&model, &device, &table, Target::Eps, [1, 16, 16])
        .with_classifier(Some(c.clone()));
    let x = Rng::seed(8).normal_vec::<f32>(2 * 256);
    let t = 60;
    let g = Guidance {
        labels: vec![2, 5],
        w: 0.0,
        gamma: 3.0,
    };
    let mut eps = vec![0f32; x.len()];
    plain.predict(t, &x, &mut eps);
    let mut got = vec![0f32; x.len()];
    guided.predict_guided(t, &x, 0, Some(&g), &mut got);
    let (_, grad) = c.grad_log_prob(&x, t, &[2, 5]);
    let k = 3.0 * (1.0 - table.alpha_bar_at(t)).sqrt();
    for i in 0..x.len() {
        let want = f64::from(eps[i]) - k * f64::from(grad[i]);
        assert!((want - f64::from(got[i])).abs() < 1e-5, "pixel {i}");
    }
    // γ = 0: the chain with the classifier attached is the unguided chain, bit for bit.
    let kind = SamplerKind::Ddim {
        steps: 4,
        eta: 1.0,
        spacing: Spacing::Trailing,
    };
    let plan = SamplerPlan::new(&table, kind).unwrap();
    let mut spec = ChainSpec::new(plan, 2, 3, true);
    spec.stride = usize::MAX;
    let never = AtomicBool::new(false);
    let unguided = run_chain(&plain, &spec, &never, |_, _| {}).unwrap();
    spec.guidance = Some(Guidance {
        labels: vec![2, 5],
        w: 0.0,
        gamma: 0.0,
    });
    let zero = run_chain(&guided, &spec, &never, |_, _| {}).unwrap();
    assert!(unguided == zero, "γ = 0 must not change a single bit");
    spec.guidance = Some(g);
    let steered = run_chain(&guided, &spec, &never, |_, _| {}).unwrap();
    assert!(unguided != steered, "γ = 3 steers the chain");
}
