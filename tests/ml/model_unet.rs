//! The UNet: the canonical config equals the PyTorch reference, shapes, and it can learn.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use diffusion_lab::diffusion::Rng;
use diffusion_lab::model::{ToyMlpConfig, UNetConfig};

#[test]
fn canonical_parameter_counts_match_the_pytorch_reference() {
    // ../shared/bench/README.md: 793,697 for 28x28x1 and 794,851 for 32x32x3.
    let dev = Device::flex();
    assert_eq!(
        UNetConfig::canonical(1, 28).init(&dev).num_params(),
        793_697
    );
    assert_eq!(
        UNetConfig::canonical(3, 32).init(&dev).num_params(),
        794_851
    );
}

#[test]
fn output_shape_equals_input_shape_for_every_preset() {
    let dev = Device::flex();
    for cfg in [
        UNetConfig::tiny(1, 16),
        UNetConfig::canonical(3, 32),
        UNetConfig::larger(1, 32),
        UNetConfig {
            res_blocks: 2,
            attention_resolutions: vec![8],
            ..UNetConfig::canonical(1, 16)
        },
    ] {
        cfg.validate().unwrap();
        let m = cfg.init(&dev);
        let x = Tensor::<4>::zeros(
            [2, cfg.image_channels, cfg.image_size, cfg.image_size],
            &dev,
        );
        let y = m.forward(x, &[1.0, 500.0]);
        assert_eq!(
            y.dims(),
            [2, cfg.image_channels, cfg.image_size, cfg.image_size],
            "{cfg:?}"
        );
    }
}

#[test]
fn invalid_configs_are_refused_with_the_field_named() {
    let e = UNetConfig {
        image_size: 30,
        ..UNetConfig::canonical(1, 30)
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("channel_mults"), "{e}");
    let e = UNetConfig {
        groups: 5,
        ..UNetConfig::canonical(1, 28)
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("groups"), "{e}");
    let e = UNetConfig {
        image_channels: 2,
        ..UNetConfig::canonical(1, 28)
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("image_channels"), "{e}");
}

#[test]
fn absurd_configs_are_refused_before_anything_is_allocated() {
    // Each of these aborted the process with a failed allocation before (#18 item 6).
    for (cfg, field) in [
        (
            UNetConfig {
                base_channels: 100_000,
                ..UNetConfig::canonical(1, 28)
            },
            "base_channels",
        ),
        (
            UNetConfig {
                time_embed_dim: 1_000_000_000,
                ..UNetConfig::canonical(1, 28)
            },
            "time_embed_dim",
        ),
        (
            UNetConfig {
                channel_mults: vec![1, 1_000_000],
                ..UNetConfig::canonical(1, 28)
            },
            "channel_mults",
        ),
        (
            UNetConfig {
                res_blocks: 100_000,
                ..UNetConfig::canonical(1, 28)
            },
            "res_blocks",
        ),
    ] {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}

#[test]
fn the_memory_estimate_counts_parameters_within_1_percent_of_the_built_model() {
    // The estimate is a formula on the config; the count comes from building the model.
    let dev = Device::flex();
    for cfg in [
        UNetConfig::tiny(1, 28),
        UNetConfig::canonical(1, 28),
        UNetConfig::canonical(3, 32),
        UNetConfig::larger(1, 32),
        UNetConfig {
            res_blocks: 2,
            attention_resolutions: vec![8],
            num_classes: 10,
            ..UNetConfig::canonical(3, 16)
        },
    ] {
        let built = cfg.init(&dev).num_params() as f64;
        let est = cfg.train_memory();
        let ratio = est.params / built;
        assert!(
            (0.99..=1.01).contains(&ratio),
            "{cfg:?}: {est:?} vs {built}"
        );
        // Memory grows with the batch, and the largest batch that fits a limit fits it.
        assert!(est.bytes(64) > est.bytes(1));
        let limit = est.bytes(100);
        let fit = est.largest_batch(limit);
        assert!(fit >= 99 && est.bytes(fit) <= limit, "{fit}");
        assert_eq!(est.largest_batch(est.fixed_bytes), 0);
    }
}

#[test]
fn tiny_unet_overfits_one_fixed_batch_by_10x() {
    let dev = Device::flex().autodiff();
    dev.seed(0);
    let cfg = UNetConfig::tiny(1, 16);
    let mut model = cfg.init(&dev);
    let mut optim = AdamConfig::new().init();
    let mut rng = Rng::seed(5);
    let n = 8 * 16 * 16;
    let x = Tensor::<4>::from_data(
        TensorData::new(rng.normal_vec::<f32>(n), [8, 1, 16, 16]),
        &dev,
    );
    let y = Tensor::<4>::from_data(
        TensorData::new(rng.normal_vec::<f32>(n), [8, 1, 16, 16]),
        &dev,
    );
    let t: Vec<f32> = (0..8).map(|i| (i * 100 + 1) as f32).collect();
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..150 {
        let loss = (model.forward(x.clone(), &t) - y.clone())
            .powi_scalar(2)
            .mean();
        last = loss.clone().into_scalar::<f32>();
        first.get_or_insert(last);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    let first = first.unwrap();
    assert!(last * 10.0 <= first, "loss went from {first} to {last}");
}

#[test]
fn toy_mlp_overfits_a_fixed_batch() {
    let dev = Device::flex().autodiff();
    dev.seed(1);
    let mut model = ToyMlpConfig::default().init(&dev);
    let mut optim = AdamConfig::new().init();
    let mut rng = Rng::seed(2);
    let x = Tensor::<2>::from_data(TensorData::new(rng.normal_vec::<f32>(64), [32, 2]), &dev);
    let y = Tensor::<2>::from_data(TensorData::new(rng.normal_vec::<f32>(64), [32, 2]), &dev);
    let t: Vec<f32> = (0..32).map(|i| (i * 30 + 1) as f32).collect();
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..300 {
        let loss = (model.forward(x.clone(), &t) - y.clone())
            .powi_scalar(2)
            .mean();
        last = loss.clone().into_scalar::<f32>();
        first.get_or_insert(last);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    assert!(
        last * 10.0 <= first.unwrap(),
        "loss went from {first:?} to {last}"
    );
}

/// The nearest IEEE half-precision value of a normal-range x, ties to even, computed from the
/// spacing of the f16 grid (2^(e − 10) in [2^e, 2^(e+1))), not from a conversion routine.
fn nearest_f16(x: f32) -> f32 {
    let x = f64::from(x);
    if x == 0.0 {
        return 0.0;
    }
    let e = x.abs().log2().floor().max(-14.0); // below 2^-14 the grid is the subnormals'
    let ulp = (e - 10.0).exp2();
    let q = x / ulp;
    let r = q.round();
    let r = if (q - q.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - q.signum()
    } else {
        r
    };
    (r * ulp) as f32
}

#[test]
fn weights_rounded_to_f16_land_on_the_half_precision_grid() {
    let dev = Device::flex();
    let net = UNetConfig::tiny(1, 16).init(&dev);
    let before = super::train::param_values(&net);
    let after = super::train::param_values(&diffusion_lab::model::round_weights_to_f16(net));
    assert_eq!(before.len(), after.len());
    let mut changed = 0;
    for (&x, &r) in before.iter().zip(&after) {
        assert_eq!(r, nearest_f16(x), "{x} rounded to {r}");
        // Relative error of half precision: at most 2^-11 in the normal range.
        if x.abs() > 6.2e-5 {
            assert!(((r - x) / x).abs() <= 4.9e-4, "{x} → {r}");
        }
        changed += usize::from(r != x);
    }
    // Kaiming-initialised weights are almost never f16 values already.
    assert!(changed * 2 > before.len(), "{changed} of {}", before.len());
}

#[test]
fn a_checkpoint_with_half_precision_ema_loads_back_as_the_rounded_f32_weights() {
    use diffusion_lab::train::{Trainer, save_checkpoint};
    let tmp = tempfile::tempdir().unwrap();
    let ck = tmp.path().join("ck");
    let t = Trainer::new(super::train::tiny_run(3), super::train::cpu()).unwrap();
    save_checkpoint(&t, &ck).unwrap();
    let dev = Device::flex();
    let (_, _, raw0, ema0) = diffusion_lab::store::load_for_inference(&ck, &dev).unwrap();
    let size = |f: &str| std::fs::metadata(ck.join(f)).unwrap().len();
    let (model_before, ema_before) = (size("model.bpk"), size("ema.bpk"));

    let (before, after) = diffusion_lab::store::checkpoint::write_ema_half(&ck).unwrap();
    assert_eq!(before, ema_before);
    assert_eq!(after, size("ema.bpk"));
    // Two bytes per weight instead of four, plus a header of a few kilobytes.
    let n = ema0.num_params() as u64;
    assert!(
        after >= 2 * n && after < 2 * n + 32 * 1024 && ema_before >= 4 * n,
        "{ema_before} → {after} bytes for {n} weights"
    );
    // The raw weights, which a resume needs, are untouched.
    assert_eq!(size("model.bpk"), model_before);

    let (_, _, raw1, ema1) = diffusion_lab::store::load_for_inference(&ck, &dev).unwrap();
    assert_eq!(
        super::train::param_values(&raw1),
        super::train::param_values(&raw0)
    );
    let want = super::train::param_values(&ema0);
    let got = super::train::param_values(&ema1);
    assert_eq!(got.len(), want.len());
    for (&g, &w) in got.iter().zip(&want) {
        assert_eq!(g, nearest_f16(w), "{w} loaded back as {g}");
    }
    // The loaded model computes in f32 like any other.
    let x = Tensor::<4>::zeros([1, 1, 16, 16], &dev);
    let y = ema1.forward(x, &[10.0]);
    assert_eq!(y.dtype(), burn::tensor::DType::F32);
    // And the run resumes from it.
    diffusion_lab::train::load_checkpoint(&ck, super::train::cpu()).unwrap();
}
