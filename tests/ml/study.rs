//! Study runner and the DDIM η × steps grid: a 2 × 1 × 2 study with a handful of steps writes
//! the expected CSV rows, strips and run folders; the grid gives finite numbers, and its quality
//! metric ranks held-out data far better than pure noise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::config::*;
use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};
use diffusion_lab::model::{DeviceChoice, pick_device};
use diffusion_lab::store::*;
use diffusion_lab::train::grid_runner::*;
use diffusion_lab::train::study_runner::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;

const BIN: &str = env!("CARGO_BIN_EXE_diffusion-lab");

fn tiny_base() -> RunConfig {
    RunConfig {
        name: "mini".into(),
        data: DataSpec::Triangles {
            prep: "direct".into(),
            count: 48,
            size: 16,
            seed: 1,
        },
        schedule: ScheduleSpec::default(),
        model_size: ModelSize::Tiny,
        model: None,
        num_classes: 0,
        rescale_timesteps: Some(true),
        time_input: Default::default(),
        train: TrainConfig {
            batch: 4,
            val_fraction: 0.25,
            device: DeviceChoice::Cpu,
            ..TrainConfig::default()
        },
    }
}

fn plan() -> StudyPlan {
    StudyPlan {
        name: "mini".into(),
        base: tiny_base(),
        schedules: vec![
            ScheduleSpec::new(ScheduleKind::Linear, 40),
            ScheduleSpec {
                power: 1.5,
                ..ScheduleSpec::new(ScheduleKind::Power, 40)
            },
        ],
        data: vec![DataSpec::Triangles {
            prep: "binary".into(),
            count: 48,
            size: 16,
            seed: 1,
        }],
        seeds: vec![0, 1],
        epochs: 2,
        steps_per_epoch: Some(3),
        strip_columns: 5,
        strip_steps: None,
        linear_epoch_scale: 1.0,
    }
}

#[test]
fn a_two_by_one_by_two_study_writes_csvs_strips_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("20260101-000000-study-mini");
    let mut events = Vec::new();
    let cancel = AtomicBool::new(false);
    let outcome = run_study(
        &plan(),
        &dir,
        Some(pick_device(DeviceChoice::Cpu)),
        &cancel,
        &mut |e| events.push(e),
    )
    .unwrap();
    assert!(!outcome.cancelled);
    assert_eq!(outcome.records.len(), 2 * 2 * 2, "runs × epochs");
    let starts = events
        .iter()
        .filter(|e| matches!(e, StudyEvent::RunStarted { .. }))
        .count();
    assert_eq!(starts, 4);

    // epochs.csv: one row per run × epoch, finite losses, min ≤ mean ≤ max.
    let epochs = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
    let mut lines = epochs.lines();
    assert_eq!(lines.next(), Some(EPOCHS_HEADER));
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 8);
    for r in &rows {
        let v: Vec<f64> = r[5..].iter().map(|x| x.parse().unwrap()).collect();
        assert!(v.iter().all(|x| x.is_finite() && *x > 0.0), "{r:?}");
        assert!(
            v[1] <= v[0] && v[0] <= v[2],
            "train min ≤ mean ≤ max: {r:?}"
        );
        assert!(
            v[4] <= v[3] && v[3] <= v[5],
            "held-out min ≤ mean ≤ max: {r:?}"
        );
    }
    let steps: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
    assert_eq!(steps, ["3", "6", "3", "6", "3", "6", "3", "6"]);

    // summary.csv: one row per schedule × prep × epoch, pooled over 2 seeds.
    let summary = read_summary_csv(&dir.join("summary.csv")).unwrap();
    let keys: Vec<(String, String, usize, usize)> = summary
        .iter()
        .map(|r| (r.schedule.clone(), r.prep.clone(), r.epoch, r.seeds))
        .collect();
    let k = |s: &str, e| (s.to_owned(), "binary".to_owned(), e, 2);
    assert_eq!(
        keys,
        [
            k("linear", 1),
            k("linear", 2),
            k("power-1.5", 1),
            k("power-1.5", 2)
        ]
    );
    for row in &summary {
        assert!(row.train[1] <= row.train[0] && row.train[0] <= row.train[2]);
        assert!(row.val[1] <= row.val[0] && row.val[0] <= row.val[2]);
    }
    // The pooled mean is the mean of the two seeds' means.
    let seeds: Vec<&EpochRecord> = outcome
        .records
        .iter()
        .filter(|r| r.schedule == "linear" && r.epoch == 1)
        .collect();
    let want = (seeds[0].train[0] + seeds[1].train[0]) / 2.0;
    assert!((summary[0].train[0] - want).abs() < 1e-12);

    // Two strips per schedule × prep (#15 §3): five x_T through the first seed's model, and
    // one row per training seed; 5 columns of 16 px scaled ×4, 2-px gaps.
    assert_eq!(outcome.strips.len(), 4);
    for p in &outcome.strips {
        let img = image::open(p).unwrap().to_rgb8();
        let seeds = p.to_str().unwrap().ends_with("__seeds.png");
        let rows = if seeds { 2 } else { STRIP_ROWS as u32 };
        assert_eq!(
            (img.width(), img.height()),
            (5 * 66 + 2, rows * 66 + 2),
            "{p:?}"
        );
        if !seeds {
            // Five different x_T: the rows' first tiles differ.
            let tile = |r: u32| -> Vec<u8> {
                (2..66)
                    .flat_map(|y| (2..66).map(move |x| (x, y)))
                    .map(|(x, y)| img.get_pixel(x, r * 66 + y).0[0])
                    .collect()
            };
            for r in 1..rows {
                assert_ne!(
                    tile(0),
                    tile(r),
                    "row {r} starts from the same x_T as row 0"
                );
            }
        }
        // The first column is x_T (noise): many distinct grey levels.
        let mut greys: Vec<u8> = (2..66)
            .flat_map(|y| (2..66).map(move |x| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y).0[0])
            .collect();
        greys.sort_unstable();
        greys.dedup();
        assert!(greys.len() > 50, "x_T column is noise");
        let stem = p.to_str().unwrap().trim_end_matches(".png");
        let stem = stem.trim_end_matches("__seeds");
        let txt = std::fs::read_to_string(format!("{stem}.txt")).unwrap();
        assert!(txt.contains("seed 0: t = 40 30 20 10 0"), "{txt}");
    }

    // The report (#15 §3): ᾱ_T and L_T per schedule × prep, against a direct computation.
    // Binary triangles are exactly ±1, so L_T = ½(ᾱ + 1 − ᾱ − 1 − ln(1 − ᾱ))/ln 2 per pixel.
    assert_eq!(outcome.report.len(), 2);
    let report = std::fs::read_to_string(dir.join("report.csv")).unwrap();
    assert_eq!(report.lines().count(), 3, "{report}");
    // The Runs view reads it back (rounded as written: ᾱ_T and L_T in full, fractions to 5
    // decimals).
    let back = read_report_csv(&dir.join("report.csv")).unwrap();
    assert_eq!(back.len(), 2);
    for (a, b) in back.iter().zip(&outcome.report) {
        assert_eq!((&a.schedule, &a.prep), (&b.schedule, &b.prep));
        assert!((a.alpha_bar_t - b.alpha_bar_t).abs() <= 1e-12 * b.alpha_bar_t);
        assert!((a.prior_bits - b.prior_bits).abs() <= 1e-12 * b.prior_bits);
        assert!((a.sample_grey - b.sample_grey).abs() <= 5e-6);
    }
    for (r, spec) in outcome.report.iter().zip(&plan().schedules) {
        let betas = spec.betas().unwrap();
        let ab: f64 = betas.iter().map(|b| 1.0 - b).product();
        assert!((r.alpha_bar_t - ab).abs() < 1e-12 * ab.max(1e-300), "{r:?}");
        let lt = -0.5 * (1.0 - ab).ln() / std::f64::consts::LN_2;
        assert!(
            (r.prior_bits - lt).abs() < 1e-9 * lt.max(1e-12),
            "{r:?} vs {lt}"
        );
        assert_eq!(r.data_grey, 0.0, "binary data has no grey");
        assert!((0.0..=1.0).contains(&r.sample_grey));
        assert!(r.sample_stray <= r.sample_grey);
    }

    // The runs are normal run folders, listed under the study.
    let list = list_runs(tmp.path());
    assert_eq!(list.runs.len(), 4, "{:?}", list.skipped);
    assert!(list.skipped.is_empty(), "{:?}", list.skipped);
    for r in &list.runs {
        assert_eq!(r.study.as_deref(), Some("20260101-000000-study-mini"));
        assert_eq!(r.steps(), 6);
    }
}

#[test]
fn a_cancelled_study_stops_and_keeps_what_is_done() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let cancel = AtomicBool::new(false);
    let mut seen = 0;
    let outcome = run_study(&plan(), &dir, None, &cancel, &mut |e| {
        if matches!(e, StudyEvent::Epoch(_)) {
            seen += 1;
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .unwrap();
    assert!(outcome.cancelled);
    assert_eq!(outcome.records.len(), 1);
    assert_eq!(seen, 1);
    assert!(dir.join("summary.csv").is_file());
}

#[test]
fn study_command_runs_a_preset_and_rejects_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("study.toml");
    std::fs::write(
        &preset,
        r#"
name = "cli-study"
model_size = "tiny"
[data]
source = "triangles"
prep = "direct"
count = 48
size = 16
[train]
batch = 4
val_fraction = 0.25
device = "cpu"
[study]
schedules = [{ kind = "linear", steps = 30 }, { kind = "sine", steps = 30 }]
preps = ["downsampled"]
seeds = 2
epochs = 5
"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(tmp.path())
        .env("HOME", tmp.path())
        .env_remove("XDG_DATA_HOME")
        .args(["study", "--preset", "study.toml", "--epochs", "1"])
        .args(["--steps-per-epoch", "2", "--strip-steps", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("run 4/4: sine-1 / downsampled / seed 1"),
        "{stderr}"
    );
    // Written into the per-user runs folder as <timestamp>-study-cli-study/.
    let list = list_runs(&tmp.path().join(".local/share/diffusion-lab/runs"));
    assert_eq!(list.runs.len(), 4);
    let study_dir: PathBuf = list.runs[0].dir.parent().unwrap().to_path_buf();
    assert!(
        study_dir.to_string_lossy().ends_with("-study-cli-study"),
        "{study_dir:?}"
    );
    let summary = read_summary_csv(&study_dir.join("summary.csv")).unwrap();
    assert_eq!(summary.len(), 2, "2 schedules × 1 prep × 1 epoch");
    assert!(study_dir.join("strips/sine-1__downsampled.png").is_file());
    assert!(
        study_dir
            .join("strips/sine-1__downsampled__seeds.png")
            .is_file()
    );
    // The report is printed: its header and one row per schedule × prep.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("L_T bits/dim"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.contains("downsampled")).count(),
        2,
        "{stdout}"
    );

    // A preset without [study], and a malformed one: usage errors (exit 2).
    std::fs::write(tmp.path().join("plain.toml"), "name = \"plain\"\n").unwrap();
    std::fs::write(tmp.path().join("bad.toml"), "name = \"bad\"\n[study\n").unwrap();
    for (file, needle) in [("plain.toml", "no [study]"), ("bad.toml", "line 2")] {
        let out = Command::new(BIN)
            .current_dir(tmp.path())
            .args(["study", "--preset", file])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(needle), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

fn bundled() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/models/mnist-tiny")
}

#[test]
fn grid_gives_finite_numbers_from_the_same_noise() {
    let plan = GridPlan {
        checkpoint: bundled(),
        etas: vec![0.0, 1.0],
        sigma_hat: true,
        spacing: diffusion_lab::diffusion::Spacing::Leading,
        clip: false,
        steps: vec![2, 5],
        n: 8,
        seed: 3,
        reference: 100,
    };
    let cancel = AtomicBool::new(false);
    let mut calls = Vec::new();
    let g = eta_steps_grid(&plan, None, &cancel, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(calls.last(), Some(&(6, 6)));
    assert_eq!(g.cells.len(), 6, "two η rows and the σ̂ row");
    assert_eq!(g.cells[4].row, GridRow::SigmaHat);
    assert_eq!(g.shape, [1, 28, 28]);
    for c in &g.cells {
        assert!(c.quality.is_finite(), "{c:?}");
        assert_eq!(c.samples.len(), 8 * 28 * 28);
    }
    assert!(g.data_floor.is_finite());
    let text = g.table_text();
    assert!(text.contains("η \\ S"), "{text}");
    assert!(
        text.contains("σ̂") && text.contains("leading spacing, x̂₀ not clipped"),
        "{text}"
    );
    assert_eq!(g.csv().lines().count(), 7);
    assert!(g.csv().contains("\nsigma-hat,5,"), "{}", g.csv());
    // Unclipped: some sample leaves [−1, 1] before the u8 conversion would show it; at least
    // the σ̂ cells differ from η = 1's (more noise per step).
    assert_ne!(
        g.cell(GridRow::SigmaHat, 5).unwrap().samples,
        g.cell(GridRow::Eta(1.0), 5).unwrap().samples
    );
    assert!(g.mosaic().width() > 2 * 28);
    // Seeded: the deterministic (η = 0) cells come out the same on a second run.
    let again = eta_steps_grid(&plan, None, &cancel, &mut |_, _| {}).unwrap();
    assert_eq!(
        again.cell(GridRow::Eta(0.0), 5).unwrap().samples,
        g.cell(GridRow::Eta(0.0), 5).unwrap().samples
    );
}

#[test]
fn quality_ranks_held_out_data_far_better_than_noise() {
    let (config, _) = read_info(&bundled()).unwrap();
    let (reference, draw) = reference_split(&config, 300, 64).unwrap();
    assert_eq!(reference.len(), 300);
    assert_eq!(draw.len(), 64);
    let data = sample_quality(draw.data(), draw.len(), &reference).unwrap();
    let noise = noise_images(64, [1, 28, 28], 5);
    let noise_q = sample_quality(&noise, 64, &reference).unwrap();
    // Blank images are a poor sampler too.
    let blank = vec![-1.0f32; 64 * 28 * 28];
    let blank_q = sample_quality(&blank, 64, &reference).unwrap();
    assert!(data.abs() < 0.05, "data vs held-out: {data}");
    assert!(
        noise_q > 20.0 * data.abs().max(0.01),
        "noise {noise_q} vs data {data}"
    );
    assert!(
        blank_q > 10.0 * data.abs().max(0.01),
        "blank {blank_q} vs data {data}"
    );
    // Wrong sizes are an error, not a panic.
    assert!(sample_quality(&noise[..100], 64, &reference).is_err());
}

#[test]
fn grid_command_prints_the_table_and_writes_csv_and_png() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("grid.csv");
    let png = tmp.path().join("grid.png");
    let out = Command::new(BIN)
        .args(["grid", "--checkpoint"])
        .arg(bundled())
        .args([
            "--etas",
            "0,1",
            "--steps",
            "2,4",
            "--n",
            "6",
            "--reference",
            "60",
            "--sigma-hat",
            "--spacing",
            "leading",
            "--no-clip",
        ])
        .arg("--out")
        .arg(&csv)
        .arg("--png")
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "leading spacing, x̂₀ not clipped", "{stdout}");
    assert!(lines[2].trim_start().starts_with("η \\ S"), "{stdout}");
    assert_eq!(
        lines[2].split_whitespace().count(),
        5,
        "η \\ S 2 4: {stdout}"
    );
    assert!(lines[3].trim_start().starts_with('0'), "{stdout}");
    assert!(lines[5].trim_start().starts_with("σ̂"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("eta,steps,energy_distance,sample_seconds,fid")
    );
    assert_eq!(text.lines().count(), 7, "two η rows and σ̂, two S each");
    assert!(text.contains("\nsigma-hat,4,"), "{text}");
    for l in text.lines().skip(1) {
        let q: f64 = l.split(',').nth(2).unwrap().parse().unwrap();
        assert!(q.is_finite());
        // MNIST has a bundled classifier, so every cell has its FID too.
        let fid: f64 = l.split(',').nth(4).unwrap().parse().unwrap();
        assert!(fid.is_finite() && fid > 0.0, "{l}");
    }
    assert!(
        stdout.contains("not comparable with Inception FID"),
        "{stdout}"
    );
    assert!(image::open(&png).is_ok());
    for (args, needle) in [
        (vec!["grid", "--etas", "-1", "--steps", "2"], "--etas"),
        (
            vec!["grid", "--checkpoint", "/nonexistent", "--steps", "2"],
            "--checkpoint",
        ),
        (vec!["grid", "--steps", "5000", "--n", "4"], "steps"),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
