//! The CPU sampling path (`CpuUNet`) against burn's forward pass of the same weights.

use burn::tensor::{Device, Tensor, TensorData};
use diffusion_lab::diffusion::Rng;
use diffusion_lab::model::{CpuUNet, UNet, UNetConfig};

/// burn's forward pass of `model`, which lives on `device`.
fn burn_forward(
    model: &UNet,
    device: &Device,
    x: &[f32],
    shape: [usize; 3],
    t: &[f32],
) -> Vec<f32> {
    let [c, h, w] = shape;
    let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [t.len(), c, h, w]), device);
    model
        .forward(input, t)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 output")
}

/// Largest |a − b| relative to the largest |a|.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (&x, &y)| m.max(f64::from(x - y).abs()));
    diff / scale.max(1e-12)
}

fn check(config: &UNetConfig, batch: usize, seed: u64) {
    let device = Device::flex();
    let model = config.init_seeded(&device, seed);
    let shape = [config.image_channels, config.image_size, config.image_size];
    let mut rng = Rng::seed(seed + 1);
    let x = rng.normal_vec::<f32>(batch * shape.iter().product::<usize>());
    // Different timesteps per sample exercise the per-sample time embedding.
    let t: Vec<f32> = (0..batch).map(|i| (1 + 137 * i % 1000) as f32).collect();
    let want = burn_forward(&model, &device, &x, shape, &t);
    let got = CpuUNet::from_unet(&model).forward(&x, shape, &t);
    let err = rel_err(&want, &got);
    eprintln!("{config:?}: relative difference {err:.2e}");
    assert!(
        err < 1e-4,
        "{config:?}: CPU path differs from burn by {err:.2e} (relative)"
    );
    assert!(got.iter().all(|v| v.is_finite()));
}

#[test]
fn tiny_mnist_config_matches_burn() {
    check(&UNetConfig::tiny(1, 28), 5, 11);
}

#[test]
fn canonical_config_matches_burn() {
    check(&UNetConfig::canonical(1, 28), 3, 12);
}

#[test]
fn rgb_config_with_attention_levels_and_two_blocks_matches_burn() {
    // Attention inside a level, two residual blocks per level, four levels, 3 channels.
    let mut config = UNetConfig::larger(3, 16);
    config.base_channels = 16;
    config.time_embed_dim = 32;
    config.attention_resolutions = vec![8, 4];
    config.dropout = 0.0;
    check(&config, 2, 13);
    // A batch of 4 or more takes the other 3×3 path (no im2col), here with 3 input channels.
    check(&config, 4, 14);
}

#[test]
fn channel_counts_that_are_not_multiples_of_eight_match_burn() {
    // 12 and 24 channels: GroupNorm's statistics take their general loop.
    let mut config = UNetConfig::tiny(1, 16);
    config.base_channels = 12;
    config.time_embed_dim = 24;
    config.groups = 4;
    for batch in [1, 5] {
        check(&config, batch, 15);
    }
}

/// #15 §5: a rescaled model sees `time_scale`·t: the CPU path agrees with burn, and both
/// equal the same weights fed the scaled t raw.
#[test]
fn rescaled_time_input_matches_burn_and_is_the_scaled_t() {
    let mut config = UNetConfig::tiny(1, 16);
    config.time_scale = 0.01;
    check(&config, 3, 16);
    let device = Device::flex();
    let scaled = config.init_seeded(&device, 17);
    let raw = UNetConfig {
        time_scale: 1.0,
        ..config.clone()
    }
    .init_seeded(&device, 17);
    let shape = [1, 16, 16];
    let x = Rng::seed(18).normal_vec::<f32>(3 * 256);
    let t = [100_000.0, 50_000.0, 700.0];
    let t_scaled = [1000.0, 500.0, 7.0];
    let a = burn_forward(&scaled, &device, &x, shape, &t);
    let b = burn_forward(&raw, &device, &x, shape, &t_scaled);
    assert!(rel_err(&b, &a) < 1e-5, "{:.2e}", rel_err(&b, &a));
    let c = CpuUNet::from_unet(&scaled).forward(&x, shape, &t);
    assert!(rel_err(&b, &c) < 1e-4, "{:.2e}", rel_err(&b, &c));
}

/// Seed 000's log-SNR input (#14 §3): the network reads 50·λ(t) of its schedule. Against
/// the same weights conditioned on the step and fed 50·λ computed here from the seed's
/// formula ᾱ(u) = exp(−1e−4 − 10u²), u = t/T (integer t, where the table is exact); the CPU
/// path and burn agree.
#[test]
fn log_snr_input_is_fifty_lambda_of_the_seeds_schedule_on_both_paths() {
    use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};
    use diffusion_lab::model::TimeInput;
    let config = UNetConfig {
        time_input: TimeInput::LogSnr {
            schedule: ScheduleSpec::new(ScheduleKind::VDiffusion, 1000),
        },
        ..UNetConfig::tiny(1, 16)
    };
    check(&config, 3, 21);
    let device = Device::flex();
    let log_snr = config.init_seeded(&device, 22);
    let step = UNetConfig {
        time_input: TimeInput::Step,
        ..config.clone()
    }
    .init_seeded(&device, 22);
    let shape = [1, 16, 16];
    let x = Rng::seed(23).normal_vec::<f32>(3 * 256);
    let t = [1.0f32, 250.0, 1000.0];
    let lambda: Vec<f32> = t
        .iter()
        .map(|&t| {
            let u = f64::from(t) / 1000.0;
            let ab = (-1e-4 - 10.0 * u * u).exp();
            (50.0 * (ab / (1.0 - ab)).ln()) as f32
        })
        .collect();
    let a = burn_forward(&log_snr, &device, &x, shape, &t);
    let b = burn_forward(&step, &device, &x, shape, &lambda);
    assert!(rel_err(&b, &a) < 1e-5, "{:.2e}", rel_err(&b, &a));
    let c = CpuUNet::from_unet(&log_snr).forward(&x, shape, &t);
    assert!(rel_err(&b, &c) < 1e-4, "{:.2e}", rel_err(&b, &c));
}

#[test]
fn bundled_model_matches_burn() {
    let dir = diffusion_lab::store::bundled_model_dir().expect("bundled model");
    let model = diffusion_lab::sampling::job::LoadedModel::load(&dir, "bundled")
        .expect("bundled model loads");
    let shape = model.shape;
    let mut rng = Rng::seed(5);
    let x = rng.normal_vec::<f32>(4 * shape.iter().product::<usize>());
    let t = [1.0, 10.0, 500.0, 1000.0];
    let want = burn_forward(&model.ema, &model.device, &x, shape, &t);
    let got = CpuUNet::from_unet(&model.ema).forward(&x, shape, &t);
    let err = rel_err(&want, &got);
    assert!(
        err < 1e-4,
        "bundled model: CPU path differs from burn by {err:.2e}"
    );
}

#[test]
fn sampling_on_the_cpu_uses_the_cpu_path_and_agrees_with_burn_over_a_whole_chain() {
    use diffusion_lab::diffusion::SamplerPlan;
    use diffusion_lab::sampling::export::Weights;
    use diffusion_lab::sampling::{ChainSpec, Engine, SamplerChoice, record_chain};
    let dir = diffusion_lab::store::bundled_dir("mnist-tiny").expect("bundled model");
    let model = diffusion_lab::sampling::job::LoadedModel::load(&dir, "bundled")
        .expect("bundled model loads");
    let kind = SamplerChoice::Ddim.kind(10, 0.0, diffusion_lab::diffusion::Spacing::Trailing);
    let plan = SamplerPlan::new(&model.table, kind).expect("plan");
    let spec = ChainSpec::new(plan, 6, 3, true);

    let fast = model.denoiser(Weights::Ema);
    let slow = model.denoiser(Weights::Ema).with_engine(Engine::Burn);
    if model.device == Device::flex() {
        assert!(
            fast.uses_cpu_path(),
            "on the CPU, Auto must take the CPU path"
        );
    }
    assert!(!slow.uses_cpu_path());
    let (a, _) = record_chain(&fast, &spec);
    let (b, _) = record_chain(&slow, &spec);
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    eprintln!("largest difference after 10 DDIM steps: {diff:.2e}");
    assert!(diff < 1e-3, "the two forward passes drifted apart: {diff}");
    // Deterministic: the CPU path twice gives the same bits. (On a GPU both run burn, whose
    // autotuned kernels need not repeat bit for bit.)
    if fast.uses_cpu_path() {
        assert_eq!(record_chain(&fast, &spec).0, a);
    }
}
