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
