//! The reverse-chain player's sampling core: one step against the f64 core, determinism,
//! per-sample streams, compact recording, branching, noise-then-denoise, and the `sample`
//! command's exports (shape, range, byte-identical reruns, run cards).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::Device;
use diffusion_lab::config::Target;
use diffusion_lab::diffusion::{
    DdpmVariance, SamplerKind, SamplerPlan, ScheduleSpec, ScheduleTable, Spacing, StepOutput,
    StrideRule,
};
use diffusion_lab::model::{UNet, UNetConfig};
use diffusion_lab::sampling::{
    ChainSpec, Denoiser, FRAME_BUDGET_BYTES, QFrame, auto_stride, initial_noise, record_chain,
    run_chain,
};
use std::process::Command;
use std::sync::atomic::AtomicBool;

const SHAPE: [usize; 3] = [1, 16, 16];

fn tiny() -> (UNet, Device, ScheduleTable) {
    let dev = Device::flex();
    let model = UNetConfig::tiny(1, 16).init_seeded(&dev, 7);
    let table = ScheduleSpec {
        steps: 100,
        ..ScheduleSpec::default()
    }
    .table()
    .unwrap();
    (model, dev, table)
}

fn den<'a>(m: &'a UNet, d: &'a Device, t: &'a ScheduleTable) -> Denoiser<'a> {
    Denoiser::new(m, d, t, Target::Eps, SHAPE)
}

fn ddim(steps: usize, eta: f64) -> SamplerKind {
    SamplerKind::Ddim {
        steps,
        eta,
        spacing: Spacing::Trailing,
    }
}

#[test]
fn one_step_on_a_tiny_model_matches_the_f64_core() {
    let (m, d, table) = tiny();
    let den = den(&m, &d, &table);
    for kind in [
        ddim(10, 0.0),
        SamplerKind::Ddpm {
            variance: DdpmVariance::BetaTilde,
        },
    ] {
        let plan = SamplerPlan::new(&table, kind).unwrap();
        let first = SamplerPlan {
            steps: plan.steps[..1].to_vec(),
        };
        // Deterministic part only: compare the f32 chain's x̂0 and mean against f64 maths.
        let n = 3;
        let x_t = initial_noise(n, 256, 5);
        let mut eps = vec![0f32; x_t.len()];
        den.predict(first.steps[0].t, &x_t, &mut eps);
        let x64: Vec<f64> = x_t.iter().map(|&v| f64::from(v)).collect();
        let e64: Vec<f64> = eps.iter().map(|&v| f64::from(v)).collect();
        let zeros = vec![0f64; x64.len()];
        let (mut next, mut x0, mut e_used, mut noise) =
            (zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone());
        first.steps[0].apply(
            &x64,
            &e64,
            &zeros,
            false,
            &mut next,
            StepOutput {
                x0: &mut x0,
                eps: &mut e_used,
                noise: &mut noise,
            },
        );
        let mut spec = ChainSpec::new(first.clone(), n, 5, false);
        spec.stride = 1;
        let (out, rec) = record_chain(&den, &spec);
        let sigma = first.steps[0].sigma;
        let frame = &rec.frames[0];
        for i in 0..out.len() {
            // x' = mean + σ z: subtract the recorded noise (quantised to its frame's range).
            let q = (frame.noise.hi - frame.noise.lo).abs() / 255.0 + 1e-6;
            let got = f64::from(out[i]) - f64::from(frame.noise.value(i));
            assert!(
                (got - next[i]).abs() <= 1e-4 * (1.0 + next[i].abs()) + f64::from(q),
                "{kind:?} pixel {i}: {got} vs {} (σ = {sigma})",
                next[i]
            );
            let x0q = (frame.x0.hi - frame.x0.lo).abs() / 255.0;
            assert!((f64::from(frame.x0.value(i)) - x0[i]).abs() <= f64::from(x0q) + 1e-4);
        }
    }
}

#[test]
fn ddim_eta_zero_is_deterministic_for_a_fixed_x_t() {
    let (m, d, table) = tiny();
    let den = den(&m, &d, &table);
    let plan = SamplerPlan::new(&table, ddim(10, 0.0)).unwrap();
    let a = record_chain(&den, &ChainSpec::new(plan.clone(), 4, 11, true)).0;
    let mut other_noise = ChainSpec::new(plan, 4, 11, true);
    other_noise.noise_seed = 999;
    let b = record_chain(&den, &other_noise).0;
    assert_eq!(
        a, b,
        "η = 0 adds no noise, so the noise seed must not matter"
    );
    assert!(a.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
}

#[test]
fn sample_i_is_the_same_whatever_the_grid_size() {
    let (m, d, table) = tiny();
    let den = den(&m, &d, &table);
    let plan = SamplerPlan::new(&table, ddim(5, 1.0)).unwrap();
    let grid = record_chain(&den, &ChainSpec::new(plan.clone(), 3, 2, true)).0;
    let mut alone = ChainSpec::new(plan, 1, 2, true);
    alone.first_index = 2;
    let one = record_chain(&den, &alone).0;
    let max = grid[2 * 256..]
        .iter()
        .zip(&one)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-4, "sample 2 alone differs by {max}");
}

#[test]
fn batched_sampling_does_not_depend_on_the_batch_size() {
    // `sample --n` up to 10,000 runs in batches with no frames; each sample keeps its own x_T
    // and noise streams, so the result is the same for any batch size (and as one chain).
    let (m, d, table) = tiny();
    let den = den(&m, &d, &table);
    let plan = SamplerPlan::new(&table, ddim(4, 1.0)).unwrap();
    let never = AtomicBool::new(false);
    let mut calls = Vec::new();
    let by3 = diffusion_lab::sampling::sample_batched(
        &den,
        &ChainSpec::new(plan.clone(), 7, 5, true),
        3,
        &never,
        &mut |d, n| {
            calls.push((d, n));
            true
        },
    )
    .unwrap();
    assert_eq!(calls, vec![(0, 7), (3, 7), (6, 7), (7, 7)]);
    let whole = record_chain(&den, &ChainSpec::new(plan.clone(), 7, 5, true)).0;
    let by7 = diffusion_lab::sampling::sample_batched(
        &den,
        &ChainSpec::new(plan.clone(), 7, 5, true),
        7,
        &never,
        &mut |_, _| true,
    )
    .unwrap();
    let max = by3
        .iter()
        .zip(&whole)
        .chain(by7.iter().zip(&whole))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert_eq!(by3.len(), 7 * 256);
    assert!(max < 1e-4, "batched samples differ by {max}");
    // Cancelling between batches gives nothing back.
    let cancelled = diffusion_lab::sampling::sample_batched(
        &den,
        &ChainSpec::new(plan.clone(), 7, 5, true),
        3,
        &never,
        &mut |d, _| d < 3,
    );
    assert!(cancelled.is_none());
}

#[test]
fn recording_is_compact_and_respects_the_stride() {
    // The full chain of 64 MNIST samples over 1000 steps fits the frame budget.
    let stride = auto_stride(64, 784, 1000, FRAME_BUDGET_BYTES);
    let frames = 1000usize.div_ceil(stride) + 1;
    assert!(frames * 4 * 64 * 784 <= FRAME_BUDGET_BYTES + 4 * 64 * 784);
    assert!(stride <= 4, "stride {stride} needlessly coarse");

    let (m, d, table) = tiny();
    let den = den(&m, &d, &table);
    let plan = SamplerPlan::new(&table, ddim(10, 0.5)).unwrap();
    let mut spec = ChainSpec::new(plan, 2, 3, true);
    spec.stride = 3;
    let (_, rec) = record_chain(&den, &spec);
    // Steps 0, 3, 6, 9 (last step), then x0.
    let idx: Vec<usize> = rec.frames.iter().map(|f| f.index).collect();
    assert_eq!(idx, vec![0, 3, 6, 9, 10]);
    assert_eq!(rec.stats.len(), 11, "every step's statistic is kept");
    assert!(rec.is_complete());
    assert_eq!(rec.bytes(), 5 * 4 * 2 * 256);
}

#[test]
fn quantised_frames_keep_values_outside_the_unit_range() {
    let v: Vec<f32> = (0..1000).map(|i| (i as f32 / 100.0) - 5.0).collect();
    let q = QFrame::encode(&v);
    let tol = (q.hi - q.lo) / 510.0 + 1e-6;
    for (i, &x) in v.iter().enumerate() {
        assert!((q.value(i) - x).abs() <= tol);
    }
    assert_eq!(q.display_u8()[0], 0);
    assert_eq!(*q.display_u8().last().unwrap(), 255);
}

#[test]
fn a_branch_starts_from_the_grid_sample_state() {
    let (m, d, table) = tiny();
    let den = den(&m, &d, &table);
    let plan = SamplerPlan::new(&table, ddim(10, 1.0)).unwrap();
    let mut spec = ChainSpec::new(plan.clone(), 3, 4, true);
    spec.stride = 1;
    let (_, rec) = record_chain(&den, &spec);
    let k = 4;
    let mut head = ChainSpec::new(
        SamplerPlan {
            steps: plan.steps[..k].to_vec(),
        },
        1,
        4,
        true,
    );
    head.first_index = 1;
    let never = AtomicBool::new(false);
    let x = run_chain(&den, &head, &never, |_, _| {}).unwrap();
    let f = &rec.frames[k];
    let tol = (f.xt.hi - f.xt.lo) / 510.0 + 1e-4;
    for (p, &v) in x.iter().enumerate() {
        assert!((f.xt.value(256 + p) - v).abs() <= tol);
    }
}

#[test]
fn plans_starting_at_t0_begin_exactly_there() {
    let table = ScheduleSpec::default().table().unwrap();
    for kind in [
        ddim(50, 0.0),
        SamplerKind::Ddpm {
            variance: DdpmVariance::Beta,
        },
        SamplerKind::Iddpm {
            steps: 100,
            variance: DdpmVariance::BetaTilde,
            rule: StrideRule::Floor,
        },
    ] {
        for t0 in [1, 7, 250, 1000] {
            let p = SamplerPlan::starting_at(&table, kind, t0).unwrap();
            assert_eq!(p.first_t(), t0, "{kind:?}");
            assert_eq!(p.steps.last().unwrap().t_prev, 0);
            assert!(p.steps.windows(2).all(|w| w[0].t_prev == w[1].t));
        }
    }
    assert!(SamplerPlan::starting_at(&table, ddim(50, 0.0), 0).is_err());
    assert!(SamplerPlan::starting_at(&table, ddim(50, 0.0), 1001).is_err());
}

#[test]
fn noise_then_denoise_with_the_bundled_model_degrades_with_t() {
    let dir = diffusion_lab::store::bundled_dir("mnist-tiny").expect("bundled model");
    let model = diffusion_lab::sampling::job::LoadedModel::load(&dir, "bundled").unwrap();
    let data = model.config.data.load().unwrap();
    let image = data.get(0).unwrap().to_vec();
    let never = AtomicBool::new(false);
    let r = diffusion_lab::sampling::noise_then_denoise(
        &model.denoiser(diffusion_lab::sampling::export::Weights::Ema),
        ddim(20, 0.0),
        &image,
        &[50, 1000],
        0,
        true,
        &never,
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.len(), 2);
    assert!(r[0].psnr.is_finite() && r[1].psnr.is_finite());
    assert!(
        r[0].psnr > r[1].psnr + 3.0,
        "t=50 should reconstruct far better than t=T: {} vs {} dB",
        r[0].psnr,
        r[1].psnr
    );
    assert!(r[0].ssim > r[1].ssim);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
}

/// The tiny bundled model: the canonical default is ~8× the compute, slow in a debug build.
const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/mnist-tiny");

#[test]
fn sample_exports_are_byte_identical_and_the_npy_is_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let run = |tag: &str| {
        let p = |name: &str| dir.path().join(format!("{tag}-{name}"));
        let out = bin()
            .args([
                "sample",
                "--n",
                "4",
                "--steps",
                "5",
                "--eta",
                "1",
                "--seed",
                "3",
                "--label",
                "--checkpoint",
                TINY,
            ])
            .arg("--grid")
            .arg(p("grid.png"))
            .arg("--gif")
            .arg(p("chain.gif"))
            .arg("--npy")
            .arg(p("x0.npy"))
            .arg("--card")
            .arg(p("card.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ["grid.png", "chain.gif", "x0.npy"].map(|n| std::fs::read(p(n)).unwrap())
    };
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a, b, "the same seed must give byte-identical files");
    let ds = diffusion_lab::data::read_npy(&dir.path().join("a-x0.npy")).unwrap();
    assert_eq!(ds.shape(), [4, 1, 28, 28]);
    assert!(
        ds.data()
            .iter()
            .all(|v| v.is_finite() && (-1.0..=1.0).contains(v))
    );

    // The run card regenerates the same grid.
    let again = dir.path().join("again.png");
    let out = bin()
        .arg("sample")
        .arg("--from-card")
        .arg(dir.path().join("a-card.json"))
        .arg("--label")
        .arg("--grid")
        .arg(&again)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(again).unwrap(), a[0]);
}

#[test]
fn sample_rejects_bad_input_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["sample", "--checkpoint"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    let card = dir.path().join("card.json");
    std::fs::write(&card, "{ not json").unwrap();
    let out = bin()
        .arg("sample")
        .arg("--from-card")
        .arg(&card)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run card"));
    let out = bin()
        .args(["sample", "--n", "4", "--index", "9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sample_draws_thousands_in_batches_but_chains_stay_capped() {
    // 300 samples (past the old cap of 256) come back as one .npy in [−1, 1], the same as the
    // first 4 drawn alone; a GIF of 300 chains is refused, naming the flag.
    let dir = tempfile::tempdir().unwrap();
    let (big, small) = (dir.path().join("big.npy"), dir.path().join("small.npy"));
    for (n, p) in [("300", &big), ("4", &small)] {
        let out = bin()
            .args([
                "sample",
                "--checkpoint",
                TINY,
                "--n",
                n,
                "--steps",
                "3",
                "--seed",
                "2",
            ])
            .arg("--npy")
            .arg(p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let big = diffusion_lab::data::read_npy(&big).unwrap();
    let small = diffusion_lab::data::read_npy(&small).unwrap();
    assert_eq!(big.len(), 300);
    let max = big.data()[..small.data().len()]
        .iter()
        .zip(small.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-4, "{max}");
    let out = bin()
        .args(["sample", "--n", "300", "--gif"])
        .arg(dir.path().join("x.gif"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gif"));
    let out = bin().args(["sample", "--n", "10001"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
