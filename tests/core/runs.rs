//! The runs folder: every run gets `runs/<timestamp>-<name>/`; `list_runs` reads them newest
//! first and names the folders it skips. The `train` command without `--out` writes there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::config::*;
use diffusion_lab::diffusion::ScheduleSpec;
use diffusion_lab::model::{DeviceChoice, pick_device};
use diffusion_lab::store::runs::{sanitize, timestamp};
use diffusion_lab::store::*;
use diffusion_lab::train::*;
use std::path::Path;
use std::process::Command;

fn tiny_run(name: &str, seed: u64) -> RunConfig {
    RunConfig {
        name: name.into(),
        data: DataSpec::Triangles {
            prep: "binary".into(),
            count: 48,
            size: 16,
            seed: 1,
        },
        schedule: ScheduleSpec {
            steps: 50,
            ..ScheduleSpec::default()
        },
        model_size: ModelSize::Tiny,
        model: None,
        num_classes: 0,
        rescale_timesteps: Some(true),
        time_input: Default::default(),
        train: TrainConfig {
            steps: 4,
            batch: 4,
            val_every: 2,
            val_fraction: 0.25,
            preview_every: 0,
            checkpoint_every: 0,
            seed,
            device: DeviceChoice::Cpu,
            ..TrainConfig::default()
        },
    }
}

/// Trains `steps` steps (validating every 2) and saves into `dir`.
fn make_run(dir: &Path, name: &str, steps: usize) {
    let mut t = Trainer::new(tiny_run(name, 7), pick_device(DeviceChoice::Cpu)).unwrap();
    for _ in 0..steps {
        t.step().unwrap();
        if t.step.is_multiple_of(2) {
            t.validate();
        }
    }
    save_checkpoint(&t, dir).unwrap();
}

#[test]
fn runs_are_created_listed_newest_first_and_broken_ones_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    // A fresh run folder is <timestamp>-<name> and not yet created.
    let fresh = new_run_dir(&runs, "my run/1");
    let fname = fresh.file_name().unwrap().to_string_lossy().into_owned();
    assert!(fname.ends_with("-my-run-1"), "{fname}");
    assert_eq!(fname.len(), "20260101-000000-my-run-1".len(), "{fname}");
    assert!(!fresh.exists());
    make_run(&runs.join("20240101-120000-older"), "older", 2);
    make_run(&runs.join("20250601-080000-newer"), "newer", 4);
    // A second folder for the same second gets a suffix.
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("config.json"), "{ not json").unwrap();
    let again = new_run_dir(&runs, "my run/1");
    assert_ne!(again, fresh);
    // Not a run, a half-written save (ignored), a run with a truncated state.
    std::fs::create_dir_all(runs.join("notes")).unwrap();
    std::fs::create_dir_all(runs.join(".newer.tmp-123")).unwrap();
    let truncated = runs.join("20250101-000000-truncated");
    make_run(&truncated, "truncated", 2);
    let state = std::fs::read(truncated.join("state.json")).unwrap();
    std::fs::write(truncated.join("state.json"), &state[..state.len() / 2]).unwrap();

    let list = list_runs(&runs);
    let names: Vec<&str> = list.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["newer", "older"], "newest first");
    let newer = &list.runs[0];
    assert_eq!(newer.steps(), 4);
    assert_eq!(newer.info.history.val.len(), 2, "validation points kept");
    assert!(newer.final_loss().is_finite() && newer.final_loss() > 0.0);
    assert_eq!(newer.date(), "2025-06-01 08:00");
    assert_eq!(newer.schedule_label(), "linear T=50");
    assert_eq!(newer.data_label(), "triangles (binary)");
    assert!(newer.dir.join("losses.csv").is_file());

    let mut skipped: Vec<(String, String)> = list
        .skipped
        .iter()
        .map(|s| {
            (
                s.dir.file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    let reason = |needle: &str| {
        skipped
            .iter()
            .find(|(n, _)| n.contains(needle))
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert!(reason("my-run-1").contains("config.json"), "{skipped:?}");
    assert!(reason("truncated").contains("state.json"), "{skipped:?}");
    assert!(reason("notes").contains("not a run folder"), "{skipped:?}");
}

#[test]
fn missing_runs_folder_is_an_empty_list() {
    let tmp = tempfile::tempdir().unwrap();
    let list = list_runs(&tmp.path().join("nope"));
    assert!(list.runs.is_empty() && list.skipped.is_empty());
}

#[test]
fn stamps_and_names() {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    assert_eq!(timestamp(t), "20231114-221320");
    assert_eq!(sanitize("triangles linear"), "triangles-linear");
    // A huge name becomes a folder name far below the 255-byte limit (#18 item 7).
    let long = sanitize(&"ab ".repeat(100_000));
    assert!(long.len() <= 80 && long.starts_with("ab-ab"), "{long}");
    assert!(!long.ends_with('-'));
}

#[test]
fn a_custom_expression_longer_than_the_cap_is_refused_quickly() {
    use diffusion_lab::diffusion::schedule::{CustomExpr, MAX_EXPR_LEN};
    // 20,000 terms took minutes at T = 100,000 before the cap.
    let long = vec!["u"; 20_000].join(" + ");
    let e = CustomExpr::parse(&long).err().unwrap().to_string();
    assert!(e.contains(&format!("at most {MAX_EXPR_LEN}")), "{e}");
    // At the cap it parses and evaluates: 1 + u + u + … with (cap − 1) / 4 terms of " + u".
    let terms = (MAX_EXPR_LEN - 1) / 4;
    let at_cap = format!("1{}", " + u".repeat(terms));
    assert!(at_cap.len() <= MAX_EXPR_LEN);
    let v = CustomExpr::parse(&at_cap).unwrap().eval(0.5);
    assert!((v - (1.0 + 0.5 * terms as f64)).abs() < 1e-9, "{v}");
}

#[test]
fn train_without_out_writes_a_new_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("tiny.toml");
    std::fs::write(
        &preset,
        r#"
name = "cli tiny"
model_size = "tiny"
[data]
source = "triangles"
prep = "binary"
count = 48
size = 16
[schedule]
steps = 50
[train]
batch = 4
val_every = 2
val_fraction = 0.25
preview_every = 0
checkpoint_every = 0
device = "cpu"
"#,
    )
    .unwrap();
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
            .current_dir(tmp.path())
            .env("HOME", tmp.path())
            .env_remove("XDG_DATA_HOME")
            .args(["train", "--preset", "tiny.toml", "--steps", "3"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Into the per-user runs folder, not the working folder.
    assert!(!tmp.path().join("runs").exists());
    let list = list_runs(&tmp.path().join(".local/share/diffusion-lab/runs"));
    assert_eq!(list.runs.len(), 2, "each train gets its own folder");
    assert!(list.skipped.is_empty(), "{:?}", list.skipped);
    for r in &list.runs {
        assert_eq!(r.name, "cli tiny");
        assert_eq!(r.steps(), 3);
        let folder = r.dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(folder.contains("-cli-tiny"), "{folder}");
        let csv = std::fs::read_to_string(r.dir.join("losses.csv")).unwrap();
        assert!(csv.starts_with("step,loss,val_loss\n"));
        assert_eq!(csv.lines().count(), 4);
        assert!(
            csv.lines()
                .nth(2)
                .unwrap()
                .split(',')
                .nth(2)
                .unwrap()
                .parse::<f64>()
                .is_ok(),
            "validation loss at step 2 in losses.csv: {csv}"
        );
    }
    assert_ne!(list.runs[0].dir, list.runs[1].dir);
}

/// Runs go to a per-user data folder by default, whatever folder the app starts from (#17).
#[test]
fn the_default_runs_folder_is_per_user() {
    use diffusion_lab::store::runs_dir_for;
    use std::ffi::OsString;
    use std::path::PathBuf;
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(*v))
        }
    };
    assert_eq!(
        runs_dir_for("linux", env(&[("HOME", "/home/ada")])),
        PathBuf::from("/home/ada/.local/share/diffusion-lab/runs")
    );
    assert_eq!(
        runs_dir_for(
            "linux",
            env(&[("HOME", "/home/ada"), ("XDG_DATA_HOME", "/data/ada")])
        ),
        PathBuf::from("/data/ada/diffusion-lab/runs")
    );
    // A relative XDG_DATA_HOME is invalid by the XDG spec and ignored.
    assert_eq!(
        runs_dir_for(
            "freebsd",
            env(&[("HOME", "/home/ada"), ("XDG_DATA_HOME", "rel")])
        ),
        PathBuf::from("/home/ada/.local/share/diffusion-lab/runs")
    );
    assert_eq!(
        runs_dir_for("macos", env(&[("HOME", "/Users/ada")])),
        PathBuf::from("/Users/ada/Library/Application Support/diffusion-lab/runs")
    );
    assert_eq!(runs_dir_for("linux", env(&[])), PathBuf::from("runs"));
}
