//! burn/wgpu *training*, checked against the CPU engines on whatever wgpu adapter exists. On a
//! machine without a GPU that is Mesa's lavapipe (software Vulkan), which `pick_device` takes
//! only for `DeviceChoice::Gpu` (`--device gpu`), never for `Auto`.
//!
//! Without any adapter these tests print a line and return, so a plain `cargo test` stays green
//! on machines without Vulkan. CI installs lavapipe and sets `DIFFUSION_LAB_REQUIRE_WGPU=1`,
//! which turns that skip into a failure, so a lost adapter cannot pass unnoticed there.
//!
//! lavapipe is slow, so every test is small: the tiny config, 16×16 triangles, batch ≤ 8.
//! Dropout is off in these runs: its masks come from the device's RNG, which differs between
//! wgpu and Flex, and would make the two trajectories differ by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::{Tensor, TensorData};
use diffusion_lab::config::RunConfig;
use diffusion_lab::diffusion::Rng;
use diffusion_lab::model::{
    DeviceChoice, DevicePick, TrainEngine, TrainNet, UNetConfig, has_hardware_adapter, pick_device,
};
use diffusion_lab::train::{
    StartOptions, TrainCommand, TrainEvent, TrainHandle, Trainer, load_checkpoint_with,
    save_checkpoint,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The wgpu device `--device gpu` gives, or `None` (with a line saying so) when there is no
/// adapter at all.
fn gpu() -> Option<DevicePick> {
    let pick = pick_device(DeviceChoice::Gpu);
    if pick.is_gpu {
        eprintln!("wgpu device: {} ({})", pick.label, pick.reason);
        return Some(pick);
    }
    let msg = format!(
        "no wgpu adapter ({}); install Mesa's lavapipe (apt-get install mesa-vulkan-drivers \
         libvulkan1) to run the wgpu training tests",
        pick.reason
    );
    assert!(
        std::env::var_os("DIFFUSION_LAB_REQUIRE_WGPU").is_none(),
        "DIFFUSION_LAB_REQUIRE_WGPU is set but {msg}"
    );
    eprintln!("SKIPPED: {msg}");
    None
}

use super::native_train::{burn_param_grads, params, rel_l2};

fn tiny_no_dropout(channels: usize, size: usize) -> UNetConfig {
    UNetConfig {
        dropout: 0.0,
        ..UNetConfig::tiny(channels, size)
    }
}

/// The shared tiny run (16×16 triangles, batch 8) without dropout, on burn's engine.
fn run(steps: usize) -> RunConfig {
    let mut c = super::train::tiny_run(steps);
    c.model = Some(tiny_no_dropout(1, 16));
    c.train.engine = TrainEngine::Burn;
    c
}

/// A fresh run saved at step 0 on the CPU, so every device starts from the same weights (burn
/// initialises them from the device's RNG, which differs between Flex and wgpu).
fn common_start(dir: &Path, steps: usize) -> std::path::PathBuf {
    let ck = dir.join("start");
    let t = Trainer::new(run(steps), super::train::cpu()).unwrap();
    save_checkpoint(&t, &ck).unwrap();
    ck
}

#[test]
fn auto_never_picks_a_software_adapter() {
    // `Gpu` takes lavapipe on purpose (the other tests rely on it); `Auto` must not.
    if !has_hardware_adapter() {
        let pick = pick_device(DeviceChoice::Auto);
        assert!(!pick.is_gpu, "{} ({})", pick.label, pick.reason);
        eprintln!("auto: {} ({})", pick.label, pick.reason);
    }
}

#[test]
fn tiny_gradients_on_wgpu_match_the_native_engine() {
    let _serial = super::train::serial();
    let Some(pick) = gpu() else { return };
    let config = tiny_no_dropout(1, 16);
    let (batch, seed) = (8, 11);
    let device = pick.device.clone().autodiff();
    let model = config.init_seeded(&device, seed);
    let shape = [1, 16, 16];
    let n = batch * 256;
    let mut rng = Rng::seed(seed + 1);
    let x = rng.normal_vec::<f32>(n);
    // The loss Σ out ⊙ r has output gradient r.
    let r = rng.normal_vec::<f32>(n);
    let t: Vec<f32> = (0..batch).map(|i| (1 + 137 * i % 1000) as f32).collect();

    let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, 1, 16, 16]), &device)
        .require_grad();
    let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [batch, 1, 16, 16]), &device);
    let out = model.forward(xt.clone(), &t);
    let want_out = out.clone().into_data().try_to_vec::<f32>().unwrap();
    let grads = (out * rt).sum().backward();
    let want_dx = xt
        .grad(&grads)
        .expect("input gradient")
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let collected = burn_param_grads(&model, &grads);

    // The native engine on the same weights, on the CPU.
    let mut net = TrainNet::from_unet(&model).unwrap();
    let got_out = net.forward(&x, shape, &t, &mut Rng::seed(0)).unwrap();
    let got_dx = net.backward(&r).unwrap();
    let out_err = rel_l2(&want_out, &got_out);
    let dx_err = rel_l2(&want_dx, &got_dx);
    let got = net.param_grads().unwrap();
    assert_eq!(got.len(), collected.len(), "every parameter is compared");
    let mut worst = 0.0f64;
    for (i, (id, _shape, g)) in got.iter().enumerate() {
        let err = rel_l2(collected.get(id).expect("a parameter burn knows"), g);
        worst = worst.max(err);
        assert!(
            err <= 1e-4,
            "gradient {i} ({} values) differs by {err:.2e}",
            g.len()
        );
    }
    eprintln!(
        "wgpu vs native: output {out_err:.1e}, input gradient {dx_err:.1e}, worst of {} \
         parameter gradients {worst:.1e}",
        got.len()
    );
    // Measured on lavapipe: output 9e-7, input gradient 1.0e-6, worst parameter gradient
    // 2.7e-6 and 1.7e-5 in two runs; the limits are the native engine's own.
    assert!(out_err <= 1e-5, "output differs by {out_err:.2e}");
    assert!(dx_err <= 1e-4, "input gradient differs by {dx_err:.2e}");
}

#[test]
fn twenty_wgpu_steps_track_the_cpu_loss() {
    // Once an open bug: on lavapipe burn's own MSE reduction reported 0.993 for the first step
    // against 1.158 on the CPU (the output and the gradients agreed). The loss is now computed
    // on the host from the output, as the native engine does; measured: the three agree to
    // 2.5e-7 per step and the weights to 1.1e-7 after 20 steps.
    let _serial = super::train::serial();
    let Some(pick) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ck = common_start(dir.path(), 20);
    let mut on_gpu = load_checkpoint_with(&ck, pick, Some(TrainEngine::Burn)).unwrap();
    assert!(
        on_gpu.pick.is_gpu && !on_gpu.is_native(),
        "{}",
        on_gpu.pick.label
    );
    let cpu = |engine| load_checkpoint_with(&ck, super::train::cpu(), Some(engine)).unwrap();
    let (mut burn_cpu, mut native) = (cpu(TrainEngine::Burn), cpu(TrainEngine::Native));
    let mut worst = (0.0f32, 0.0f32);
    let mut first = 0.0;
    let mut last = 0.0;
    for i in 0..20 {
        let g = on_gpu.step().unwrap().loss;
        let (b, n) = (burn_cpu.step().unwrap().loss, native.step().unwrap().loss);
        let (rb, rn) = (((g - b) / b).abs(), ((g - n) / n).abs());
        worst = (worst.0.max(rb), worst.1.max(rn));
        eprintln!(
            "step {:2}: wgpu {g:.6}, burn CPU {b:.6}, native {n:.6}",
            i + 1
        );
        assert!(
            rb <= 1e-3 && rn <= 1e-3,
            "step {}: wgpu {g}, burn on the CPU {b}, native {n}",
            i + 1
        );
        if i < 5 {
            first += g;
        }
        if i >= 15 {
            last += g;
        }
    }
    let w = rel_l2(&params(&burn_cpu), &params(&on_gpu));
    eprintln!(
        "worst per-step relative loss difference: {:.1e} (burn CPU), {:.1e} (native); \
         weights after 20 steps differ by {w:.1e}",
        worst.0, worst.1
    );
    assert!(last < first, "the loss falls on wgpu: {first} → {last}");
}

#[test]
fn a_checkpoint_moves_between_wgpu_and_the_cpu() {
    // Once the same open bug: after 3 steps on wgpu it reported 0.96–0.99 where the CPU gave
    // 1.50–1.56 on the same weights; the weights themselves round-tripped exactly.
    let _serial = super::train::serial();
    let Some(pick) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ck0 = common_start(dir.path(), 6);
    let on = |gpu: bool, ck: &Path| {
        let p = if gpu {
            pick.clone()
        } else {
            super::train::cpu()
        };
        let t = load_checkpoint_with(ck, p, Some(TrainEngine::Burn)).unwrap();
        assert_eq!(t.pick.is_gpu, gpu, "{}", t.pick.label);
        t
    };
    for first_on_gpu in [true, false] {
        let name = if first_on_gpu {
            "wgpu → CPU"
        } else {
            "CPU → wgpu"
        };
        let mut a = on(first_on_gpu, &ck0);
        for _ in 0..3 {
            a.step().unwrap();
        }
        let ck = dir.path().join(format!("mid-{first_on_gpu}"));
        save_checkpoint(&a, &ck).unwrap();
        let mut b = on(!first_on_gpu, &ck);
        assert_eq!(b.step, 3, "{name}");
        let loaded = rel_l2(&params(&a), &params(&b));
        assert!(
            loaded == 0.0,
            "{name}: weights change in the round trip ({loaded:.1e})"
        );
        // b continues where a would have gone.
        for _ in 0..3 {
            let (x, y) = (a.step().unwrap(), b.step().unwrap());
            assert_eq!(x.step, y.step);
            let rel = ((x.loss - y.loss) / x.loss).abs();
            assert!(
                rel <= 1e-3,
                "{name}, step {}: {} vs {}",
                x.step,
                x.loss,
                y.loss
            );
        }
        let err = rel_l2(&params(&a), &params(&b));
        eprintln!("{name}: weights after 3 more steps differ by {err:.1e}");
        assert!(err <= 1e-4, "{name}: weights differ by {err:.2e}");
    }
}

fn wait_for(
    h: &TrainHandle,
    timeout: Duration,
    mut pred: impl FnMut(&TrainEvent) -> bool,
) -> Vec<TrainEvent> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < timeout {
        while let Some(ev) = h.try_recv() {
            let done = pred(&ev);
            seen.push(ev);
            if done {
                return seen;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out; events so far: {seen:?}");
}

fn started(ev: &[TrainEvent]) -> (usize, String) {
    ev.iter()
        .find_map(|e| match e {
            TrainEvent::Started { step, device, .. } => Some((*step, device.clone())),
            _ => None,
        })
        .expect("the run starts")
}

#[test]
fn a_failing_wgpu_device_mid_run_is_reported_and_the_run_resumes_on_the_cpu() {
    let _serial = super::train::serial();
    if gpu().is_none() {
        return;
    }
    let mut config = run(12);
    config.train.device = DeviceChoice::Gpu;
    config.train.checkpoint_every = 5;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("r");
    let opts = |config, resume, device| StartOptions {
        config,
        resume,
        out_dir: out_dir.clone(),
        device,
        total_steps: None,
    };
    let h = TrainHandle::start(opts(config.clone(), None, None), Arc::new(|| {})).unwrap();
    let ev = wait_for(
        &h,
        Duration::from_secs(300),
        |e| matches!(e, TrainEvent::Checkpointed { step, .. } if *step >= 5),
    );
    let (_, device) = started(&ev);
    assert!(
        device.starts_with("GPU"),
        "the run starts on wgpu: {device}"
    );
    // The adapter "stops responding": the next step panics inside the worker, as a lost
    // device does in wgpu.
    assert!(h.send(TrainCommand::SimulateDeviceFailure));
    let ev = wait_for(&h, Duration::from_secs(300), |e| {
        matches!(e, TrainEvent::Failed { .. })
    });
    let Some(TrainEvent::Failed {
        message,
        checkpoint,
    }) = ev.last()
    else {
        panic!("no failure reported: {ev:?}");
    };
    eprintln!("reported: {message}");
    assert!(message.contains("device loss"), "{message}");
    assert!(message.starts_with("GPU"), "it names the device: {message}");
    assert!(message.contains("CPU"), "it says how to go on: {message}");
    let ck = checkpoint
        .clone()
        .expect("the last good checkpoint is named");
    let saved_step = diffusion_lab::store::read_info(&ck).unwrap().1.step;
    assert!(saved_step >= 5);
    drop(h);

    // Resume on the CPU from that checkpoint and finish the run.
    let h = TrainHandle::start(
        opts(config, Some(ck), Some(DeviceChoice::Cpu)),
        Arc::new(|| {}),
    )
    .unwrap();
    let ev = wait_for(&h, Duration::from_secs(120), |e| {
        matches!(e, TrainEvent::Finished { .. } | TrainEvent::Failed { .. })
    });
    let (step, device) = started(&ev);
    assert_eq!(step, saved_step, "it picks up at the checkpoint's step");
    assert!(device.starts_with("CPU"), "{device}");
    assert!(
        matches!(ev.last(), Some(TrainEvent::Finished { step: 12, .. })),
        "{:?}",
        ev.last()
    );
}
