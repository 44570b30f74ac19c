//! Training: EMA, checkpoints (bit-exact round trip, exact resume, bad files), the worker's
//! lifecycle, and divergence. All on the CPU (Flex), seeded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use diffusion_lab::config::*;
use diffusion_lab::diffusion::ScheduleSpec;
use diffusion_lab::model::{DeviceChoice, UNetConfig, pick_device};
use diffusion_lab::sampling::sample_images;
use diffusion_lab::train::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) fn tiny_run(steps: usize) -> RunConfig {
    RunConfig {
        name: "test".into(),
        data: DataSpec::Triangles {
            prep: "binary".into(),
            count: 64,
            size: 16,
            seed: 1,
        },
        schedule: ScheduleSpec {
            steps: 100,
            ..ScheduleSpec::default()
        },
        model_size: ModelSize::Tiny,
        model: None,
        num_classes: 0,
        rescale_timesteps: Some(true),
        time_input: Default::default(),
        train: TrainConfig {
            steps,
            batch: 8,
            lr: 1e-3,
            warmup_steps: 2,
            val_every: 3,
            val_fraction: 0.25,
            preview_every: 0,
            preview_count: 4,
            preview_steps: 5,
            checkpoint_every: 0,
            device: DeviceChoice::Cpu,
            ..TrainConfig::default()
        },
    }
}

/// burn's Flex device is process-global: training on other test threads at the same time
/// perturbs results (observed: same seed, different first loss when run in parallel, identical
/// when serial). Tests that compare trajectories bit for bit hold this lock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn cpu() -> diffusion_lab::model::DevicePick {
    pick_device(DeviceChoice::Cpu)
}

fn weights(m: &diffusion_lab::model::UNet) -> Vec<f32> {
    let bytes = m.clone().into_record().into_bytes().unwrap();
    bytes.iter().map(|&b| f32::from(b)).collect()
}

#[test]
fn ema_update_is_the_weighted_average() {
    use burn::module::{ModuleMapper, Param};
    // live = the EMA's weights transformed elementwise (w ↦ 2w + 0.5), with the same ParamIds,
    // so the update must give 0.9·w + 0.1·(2w + 0.5) = 1.1·w + 0.05 for every weight.
    struct Affine;
    impl ModuleMapper for Affine {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            p.map(|t| t.mul_scalar(2.0).add_scalar(0.5))
        }
    }
    let dev = Device::flex();
    let ema = UNetConfig::tiny(1, 16).init_seeded(&dev, 1);
    let live = ema.clone().map(&mut Affine);
    let before = param_values(&ema);
    let mixed = ema_update(ema, &live, 0.9);
    let after = param_values(&mixed);
    assert_eq!(before.len(), after.len());
    for (i, (w, m)) in before.iter().zip(&after).enumerate() {
        let want = 1.1 * w + 0.05;
        assert!(
            (m - want).abs() <= 1e-6 * (1.0 + want.abs()),
            "{i}: {m} vs {want}"
        );
    }
}

/// Every float parameter of `m`, flattened in visiting order.
pub(crate) fn param_values(m: &diffusion_lab::model::UNet) -> Vec<f32> {
    use burn::module::{ModuleVisitor, Param};
    struct V(Vec<f32>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0
                .extend(p.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut v = V(Vec::new());
    m.visit(&mut v);
    v.0
}

#[test]
fn training_lowers_the_loss_and_records_history() {
    let _serial = serial();
    let mut t = Trainer::new(tiny_run(40), cpu()).unwrap();
    let first: f32 = (0..5).map(|_| t.step().unwrap().loss).sum::<f32>() / 5.0;
    for _ in 0..30 {
        t.step().unwrap();
    }
    let last: f32 = (0..5).map(|_| t.step().unwrap().loss).sum::<f32>() / 5.0;
    assert!(last < first, "loss {first} -> {last}");
    assert_eq!(t.history.train.len(), 40);
    let v = t.validate();
    assert!(v.min <= v.mean && v.mean <= v.max && v.mean.is_finite());
}

#[test]
fn checkpoint_round_trip_is_bit_exact_and_resume_is_deterministic() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    // Reference: 8 uninterrupted steps.
    let mut full = Trainer::new(tiny_run(8), cpu()).unwrap();
    let mut full_losses = Vec::new();
    for _ in 0..8 {
        full_losses.push(full.step().unwrap().loss);
    }
    // Interrupted: 4 steps, save, load, 4 more.
    let mut a = Trainer::new(tiny_run(8), cpu()).unwrap();
    let mut losses = Vec::new();
    for _ in 0..4 {
        losses.push(a.step().unwrap().loss);
    }
    save_checkpoint(&a, &ck).unwrap();
    let mut b = load_checkpoint(&ck, cpu()).unwrap();
    assert_eq!(b.step, 4);
    assert_eq!(
        weights(&a.raw_snapshot()),
        weights(&b.raw_snapshot()),
        "weights round-trip bit-exactly"
    );
    assert_eq!(weights(&a.ema_snapshot()), weights(&b.ema_snapshot()));
    assert_eq!(a.history, b.history);
    for _ in 0..4 {
        losses.push(b.step().unwrap().loss);
    }
    assert_eq!(losses, full_losses, "resume gives the same loss trajectory");
    let csv = std::fs::read_to_string(ck.join("losses.csv")).unwrap();
    assert!(csv.starts_with("step,loss,val_loss\n1,"), "{csv}");
    assert_eq!(csv.lines().count(), 5);
    // Saving again replaces the folder atomically and leaves no temporary folders.
    save_checkpoint(&b, &ck).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("ck")]);
}

#[test]
fn bad_checkpoints_give_clear_errors() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let mut t = Trainer::new(tiny_run(2), cpu()).unwrap();
    t.step().unwrap();
    save_checkpoint(&t, &ck).unwrap();
    let err = |p: &std::path::Path| {
        load_checkpoint(p, cpu())
            .err()
            .expect("must fail")
            .to_string()
    };

    let e = err(&dir.path().join("missing"));
    assert!(e.contains("not a checkpoint folder"), "{e}");

    // Truncated weights.
    let bytes = std::fs::read(ck.join("model.bpk")).unwrap();
    std::fs::write(ck.join("model.bpk"), &bytes[..bytes.len() / 2]).unwrap();
    let e = err(&ck);
    assert!(e.contains("model.bpk"), "{e}");
    std::fs::write(ck.join("model.bpk"), &bytes).unwrap();

    // Corrupt state.json.
    let state = std::fs::read(ck.join("state.json")).unwrap();
    std::fs::write(ck.join("state.json"), b"{ not json").unwrap();
    let e = err(&ck);
    assert!(e.contains("state.json is corrupt"), "{e}");
    std::fs::write(ck.join("state.json"), &state).unwrap();

    // Mismatched: the config now asks for a bigger model than the weights hold.
    let cfg = std::fs::read_to_string(ck.join("config.json")).unwrap();
    let edited = cfg.replace("\"model_size\": \"tiny\"", "\"model_size\": \"canonical\"");
    assert_ne!(cfg, edited);
    std::fs::write(ck.join("config.json"), edited).unwrap();
    let e = err(&ck);
    assert!(e.contains("does not match the model"), "{e}");
}

#[test]
fn divergence_stops_the_run_with_a_message() {
    let _serial = serial();
    let mut run = tiny_run(50);
    run.train.lr = 1e9;
    run.train.warmup_steps = 0;
    run.train.grad_clip = 0.0;
    let mut t = Trainer::new(run, cpu()).unwrap();
    let mut diverged = None;
    for _ in 0..50 {
        if let Err(e) = t.step() {
            diverged = Some(e);
            break;
        }
    }
    let e = diverged.expect("a learning rate of 1e9 must blow up");
    assert!(matches!(e, TrainError::Diverged { .. }), "{e}");
    assert!(e.to_string().contains("training stopped"));
}

/// Starts a worker with no wake-up hook.
fn start(options: StartOptions) -> TrainHandle {
    TrainHandle::start(options, Arc::new(|| {})).unwrap()
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

#[test]
fn worker_starts_pauses_resumes_stops_and_saves() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run");
    let mut run = tiny_run(100_000);
    run.train.preview_every = 5;
    let h = start(StartOptions {
        config: run,
        resume: None,
        out_dir: ck.clone(),
        device: None,
        total_steps: None,
    });
    let ev = wait_for(&h, Duration::from_secs(60), |e| {
        matches!(e, TrainEvent::Started { .. })
    });
    let Some(TrainEvent::Started { device, .. }) = ev.last() else {
        unreachable!()
    };
    assert!(device.contains("CPU"));
    wait_for(
        &h,
        Duration::from_secs(60),
        |e| matches!(e, TrainEvent::Progress { step, .. } if *step >= 3),
    );
    wait_for(
        &h,
        Duration::from_secs(120),
        |e| matches!(e, TrainEvent::Preview(g) if g.n == 4 && g.ema.len() == 4 * 16 * 16),
    );
    assert!(h.send(TrainCommand::Pause));
    wait_for(&h, Duration::from_secs(30), |e| {
        matches!(e, TrainEvent::Paused)
    });
    // While paused, no progress arrives.
    std::thread::sleep(Duration::from_millis(300));
    let during: Vec<_> = std::iter::from_fn(|| h.try_recv())
        .filter(|e| matches!(e, TrainEvent::Progress { .. }))
        .collect();
    assert!(during.is_empty(), "progress while paused: {during:?}");
    assert!(h.send(TrainCommand::SetLr(5e-4)));
    assert!(h.send(TrainCommand::Resume));
    wait_for(
        &h,
        Duration::from_secs(30),
        |e| matches!(e, TrainEvent::Progress { lr, .. } if (*lr - 5e-4).abs() < 1e-12),
    );
    assert!(h.send(TrainCommand::Stop));
    let ev = wait_for(&h, Duration::from_secs(60), |e| {
        matches!(e, TrainEvent::Finished { .. })
    });
    let Some(TrainEvent::Finished { checkpoint, .. }) = ev.last() else {
        unreachable!()
    };
    assert_eq!(checkpoint.as_deref(), Some(ck.as_path()));
    assert!(ck.join("model.bpk").exists());
    let start = Instant::now();
    drop(h);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn dropping_the_handle_stops_and_joins_the_worker() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run");
    let h = start(StartOptions {
        config: tiny_run(100_000),
        resume: None,
        out_dir: ck.clone(),
        device: None,
        total_steps: None,
    });
    wait_for(&h, Duration::from_secs(60), |e| {
        matches!(e, TrainEvent::Progress { .. })
    });
    drop(h); // joins: the final checkpoint is complete when drop returns
    assert!(ck.join("state.json").exists(), "closing saves the run");
}

#[test]
fn worker_reports_divergence_and_a_bad_start() {
    let _serial = serial();
    let mut run = tiny_run(50);
    run.train.lr = 1e9;
    run.train.grad_clip = 0.0;
    run.train.warmup_steps = 0;
    let dir = tempfile::tempdir().unwrap();
    let h = start(StartOptions {
        config: run,
        resume: None,
        out_dir: dir.path().join("r"),
        device: None,
        total_steps: None,
    });
    let ev = wait_for(&h, Duration::from_secs(60), |e| {
        matches!(e, TrainEvent::Failed { .. })
    });
    let Some(TrainEvent::Failed { message, .. }) = ev.last() else {
        unreachable!()
    };
    assert!(message.contains("loss became"), "{message}");

    let mut bad = tiny_run(5);
    bad.data = DataSpec::Bundled {
        name: "nope".into(),
        limit: 0,
    };
    let h = start(StartOptions {
        config: bad,
        resume: None,
        out_dir: dir.path().join("b"),
        device: None,
        total_steps: None,
    });
    let ev = wait_for(&h, Duration::from_secs(30), |e| {
        matches!(e, TrainEvent::Failed { .. })
    });
    let Some(TrainEvent::Failed { message, .. }) = ev.last() else {
        unreachable!()
    };
    assert!(message.contains("nope"), "{message}");
}

#[test]
fn sampling_a_trained_model_gives_images_of_the_right_shape() {
    let _serial = serial();
    let mut t = Trainer::new(tiny_run(3), cpu()).unwrap();
    t.step().unwrap();
    let table = t.table.clone();
    let plan = diffusion_lab::diffusion::SamplerPlan::new(
        &table,
        diffusion_lab::diffusion::SamplerKind::Ddim {
            steps: 5,
            eta: 0.0,
            spacing: diffusion_lab::diffusion::Spacing::Trailing,
        },
    )
    .unwrap();
    let dev = t.inference_device();
    let m = t.ema_snapshot();
    let a = sample_images(
        &m,
        &dev,
        &table,
        Target::Eps,
        &plan,
        3,
        [1, 16, 16],
        9,
        true,
    );
    let b = sample_images(
        &m,
        &dev,
        &table,
        Target::Eps,
        &plan,
        3,
        [1, 16, 16],
        9,
        true,
    );
    assert_eq!(a.len(), 3 * 256);
    assert_eq!(a, b, "DDIM η = 0 is deterministic for a fixed x_T");
    assert!(
        a.iter().all(|v| (-1.0..=1.0).contains(v)),
        "clipped x̂₀ keeps x₀ in range"
    );
}

#[test]
fn a_device_failure_mid_run_is_reported_and_the_run_resumes_on_the_cpu() {
    let _serial = serial();
    let mut run = tiny_run(40);
    run.train.checkpoint_every = 5;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("r");
    let h = start(StartOptions {
        config: run.clone(),
        resume: None,
        out_dir: out_dir.clone(),
        device: None,
        total_steps: None,
    });
    wait_for(
        &h,
        Duration::from_secs(60),
        |e| matches!(e, TrainEvent::Checkpointed { step, .. } if *step >= 5),
    );
    assert!(h.send(TrainCommand::SimulateDeviceFailure));
    let ev = wait_for(&h, Duration::from_secs(60), |e| {
        matches!(e, TrainEvent::Failed { .. })
    });
    let Some(TrainEvent::Failed {
        message,
        checkpoint,
    }) = ev.last()
    else {
        panic!("no failure reported: {ev:?}");
    };
    assert!(message.contains("device loss"), "{message}");
    assert!(
        message.contains("CPU"),
        "the message says how to go on: {message}"
    );
    let ck = checkpoint
        .clone()
        .expect("the last good checkpoint is named");
    let saved_step = diffusion_lab::store::read_info(&ck).unwrap().1.step;
    assert!(saved_step >= 5);
    drop(h);

    // Resume on the CPU from that checkpoint and finish the run.
    let h = TrainHandle::start(
        StartOptions {
            config: run,
            resume: Some(ck),
            out_dir,
            device: Some(DeviceChoice::Cpu),
            total_steps: None,
        },
        Arc::new(|| {}),
    )
    .unwrap();
    let ev = wait_for(&h, Duration::from_secs(120), |e| {
        matches!(e, TrainEvent::Finished { .. } | TrainEvent::Failed { .. })
    });
    let started = ev.iter().find_map(|e| match e {
        TrainEvent::Started { step, device, .. } => Some((*step, device.clone())),
        _ => None,
    });
    let (step, device) = started.expect("the resumed run starts");
    assert_eq!(step, saved_step, "it picks up at the checkpoint's step");
    assert!(device.starts_with("CPU"), "{device}");
    assert!(
        matches!(ev.last(), Some(TrainEvent::Finished { step: 40, .. })),
        "{:?}",
        ev.last()
    );
}

#[test]
fn the_ema_after_a_short_run_is_not_dominated_by_the_initial_weights() {
    // 0.995^40 ≈ 0.82: without a warm-up, four fifths of the EMA would still be the
    // initialisation after 40 steps.
    let _serial = serial();
    let mut config = tiny_run(40);
    config.train.ema_decay = 0.995;
    let mut t = Trainer::new(config, cpu()).unwrap();
    let init = param_values(&t.raw_snapshot());
    for _ in 0..40 {
        t.step().unwrap();
    }
    let (raw, ema) = (
        param_values(&t.raw_snapshot()),
        param_values(&t.ema_snapshot()),
    );
    let dist = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let (to_raw, to_init) = (dist(&ema, &raw), dist(&ema, &init));
    assert!(
        to_raw < 0.5 * to_init,
        "EMA is {to_raw:.4} from the raw weights and {to_init:.4} from the initial ones"
    );
    assert!((warmup_decay(0.995, 1) - 2.0 / 11.0).abs() < 1e-12);
    assert_eq!(warmup_decay(0.995, 10_000), 0.995);
}

#[test]
fn cosine_anneal_runs_from_the_start_rate_to_the_final_one() {
    // Hand values: u = (step + 1 − 100)/100; lr = 1e-3 + (1e-5 − 1e-3)(1 − cos πu)/2.
    let lr = |step| cosine_anneal(1e-3, 1e-5, 100, 200, step);
    assert!(
        (lr(99) - 1e-3).abs() < 1e-15,
        "u = 0 before the first annealed update"
    );
    assert!(
        (lr(149) - 5.05e-4).abs() < 1e-12,
        "u = 1/2 is the midpoint: {}",
        lr(149)
    );
    // u = 1/4: (1 − cos π/4)/2 = 0.146446609...
    assert!((lr(124) - (1e-3 - 0.99e-3 * 0.146_446_609_406_726_24)).abs() < 1e-12);
    assert!((lr(199) - 1e-5).abs() < 1e-15);
    assert!((lr(500) - 1e-5).abs() < 1e-15, "clamped after the end");
    assert!((1..200).all(|s| lr(s) <= lr(s - 1)), "never rises");
    assert_eq!(
        cosine_anneal(1e-3, 1e-5, 10, 10, 10),
        1e-5,
        "an empty span ends at once"
    );
}

#[test]
fn the_worker_refuses_a_run_folder_another_writer_holds() {
    // Issue #18, item 3: the Training view's worker takes the same lock as `train`.
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let lock = diffusion_lab::fs::RunLock::acquire(&out_dir).unwrap();
    let h = start(StartOptions {
        config: tiny_run(3),
        resume: None,
        out_dir: out_dir.clone(),
        device: None,
        total_steps: None,
    });
    let ev = wait_for(&h, Duration::from_secs(60), |e| {
        matches!(e, TrainEvent::Failed { .. } | TrainEvent::Finished { .. })
    });
    let Some(TrainEvent::Failed { message, .. }) = ev.last() else {
        panic!("a second writer must fail: {ev:?}")
    };
    assert!(
        message.contains(&std::process::id().to_string()),
        "{message}"
    );
    assert!(!out_dir.exists(), "nothing written");
    drop(h);
    drop(lock);
}

#[test]
fn the_worker_measures_quality_in_the_background_when_asked() {
    // A tiny UNet on 64 MNIST digits, FID measured every 4 steps on 8 samples: the points
    // arrive with their step, a finite FID above the real-image floor, and IS in [1, 10].
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut run = tiny_run(100_000);
    run.data = DataSpec::Bundled {
        name: "mnist".into(),
        limit: 64,
    };
    run.train.quality_every = 4;
    run.train.quality_count = 8;
    let h = start(StartOptions {
        config: run,
        resume: None,
        out_dir: dir.path().join("run"),
        device: None,
        total_steps: None,
    });
    let seen = wait_for(&h, Duration::from_secs(300), |e| {
        matches!(e, TrainEvent::Quality(_))
    });
    let Some(TrainEvent::Quality(q)) = seen.last() else {
        unreachable!()
    };
    assert!(q.step >= 4 && q.step.is_multiple_of(4), "{q:?}");
    assert_eq!(q.n, 8);
    assert!(q.fid.is_finite() && q.fid > q.fid_floor, "{q:?}");
    assert!((1.0..=10.0).contains(&q.is), "{q:?}");
    assert!(h.send(TrainCommand::Stop));
}

#[test]
fn early_stopping_ends_a_run_whose_validation_loss_stops_improving() {
    let mut c = tiny_run(400);
    c.train.val_every = 1;
    c.train.patience = 2;
    let mut t = Trainer::new(c, cpu()).unwrap();
    let mut why = None;
    while t.step < 400 && why.is_none() {
        t.step().unwrap();
        t.validate();
        why = t.early_stop();
    }
    let why =
        why.expect("a noisy validation loss fails to improve twice in a row within 400 steps");
    // The history agrees: the best loss is two validations back and neither since beat it.
    let v: Vec<f32> = t.history.val.iter().map(|p| p.mean).collect();
    let n = v.len();
    let best = v.iter().copied().fold(f32::INFINITY, f32::min);
    assert_eq!(v[n - 3], best, "{v:?}");
    assert!(v[n - 2] >= best && v[n - 1] >= best);
    assert!(why.contains("has not improved for 2 validations"), "{why}");
    // Patience 0 never stops.
    let mut c = tiny_run(5);
    c.train.val_every = 1;
    let mut t = Trainer::new(c, cpu()).unwrap();
    for _ in 0..5 {
        t.step().unwrap();
        t.validate();
        assert!(t.early_stop().is_none());
    }
}
