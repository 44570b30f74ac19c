//! Issue #18, data loss and unreadable checkpoints: `train --out` never replaces anything but
//! a checkpoint folder, one writer per run folder, `state.json` with NaN reads back, and
//! non-finite weights are never saved, resumed or sampled from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::text;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;
use diffusion_lab::fs::RunLock;
use diffusion_lab::model::weights_finite;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const TINY: &str = r#"
name = "safety tiny"
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
val_every = 0
val_fraction = 0.25
preview_every = 0
checkpoint_every = 0
device = "cpu"
"#;

fn preset(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .arg("train")
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[track_caller]
fn assert_refused(out: &Output, names: &Path) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&names.display().to_string()),
        "does not name {}: {err}",
        names.display()
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn train_out_never_replaces_what_is_not_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = preset(tmp.path(), "tiny.toml", TINY);
    let p = s(&preset);

    // A folder with the user's files is refused and left as it was.
    let thesis = tmp.path().join("thesis");
    std::fs::create_dir_all(thesis.join("chapters")).unwrap();
    std::fs::write(thesis.join("thesis.txt"), "years of work").unwrap();
    assert_refused(
        &train(&["--preset", p, "--steps", "1", "--out", s(&thesis)]),
        &thesis,
    );
    assert_eq!(
        std::fs::read_to_string(thesis.join("thesis.txt")).unwrap(),
        "years of work"
    );
    assert!(thesis.join("chapters").is_dir());
    // Even with --overwrite: that replaces checkpoints only.
    assert_refused(
        &train(&[
            "--preset",
            p,
            "--steps",
            "1",
            "--out",
            s(&thesis),
            "--overwrite",
        ]),
        &thesis,
    );
    assert!(thesis.join("thesis.txt").is_file());

    // A regular file is refused and kept.
    let png = tmp.path().join("picture.png");
    std::fs::write(&png, b"\x89PNG not really").unwrap();
    assert_refused(
        &train(&["--preset", p, "--steps", "1", "--out", s(&png)]),
        &png,
    );
    assert_eq!(std::fs::read(&png).unwrap(), b"\x89PNG not really");

    // An empty folder and a new path are fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_ok(&train(&["--preset", p, "--steps", "1", "--out", s(&empty)]));
    assert!(empty.join("state.json").is_file());
    let fresh = tmp.path().join("new/run");
    assert_ok(&train(&["--preset", p, "--steps", "1", "--out", s(&fresh)]));
    assert!(fresh.join("state.json").is_file());

    // A checkpoint folder: refused for another run, unless --overwrite; --resume continues it.
    assert_refused(
        &train(&["--preset", p, "--steps", "1", "--out", s(&fresh)]),
        &fresh,
    );
    assert_ok(&train(&["--resume", s(&fresh), "--steps", "2"]));
    assert_ok(&train(&[
        "--resume",
        s(&fresh),
        "--steps",
        "3",
        "--out",
        s(&fresh),
    ]));
    // --resume into a different existing checkpoint needs --overwrite too.
    assert_refused(
        &train(&["--resume", s(&fresh), "--steps", "4", "--out", s(&empty)]),
        &empty,
    );
    assert_ok(&train(&[
        "--preset",
        p,
        "--steps",
        "1",
        "--out",
        s(&fresh),
        "--overwrite",
    ]));
    let state = std::fs::read_to_string(fresh.join("state.json")).unwrap();
    assert!(state.contains("\"step\": 1"), "{state}");
}

#[test]
fn a_second_writer_is_refused_and_told_who_holds_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = preset(tmp.path(), "tiny.toml", TINY);
    let out_dir = tmp.path().join("run");
    let lock = RunLock::acquire(&out_dir).unwrap();
    let out = train(&["--preset", s(&preset), "--steps", "1", "--out", s(&out_dir)]);
    assert_refused(&out, &out_dir);
    let err = text(&out.stderr);
    assert!(
        err.contains(&std::process::id().to_string()),
        "names the holder's pid: {err}"
    );
    assert!(!out_dir.exists(), "nothing written");
    // A second lock in this process is refused too (one writer, whoever it is).
    assert!(RunLock::acquire(&out_dir).is_err());
    drop(lock);
    assert!(!RunLock::lock_path(&out_dir).exists(), "lock file removed");
    assert_ok(&train(&[
        "--preset",
        s(&preset),
        "--steps",
        "1",
        "--out",
        s(&out_dir),
    ]));
    assert!(!RunLock::lock_path(&out_dir).exists(), "lock file removed");
}

#[test]
fn empty_t_bins_do_not_make_the_checkpoint_unreadable() {
    // Batch 1: most t buckets of a row stay empty (NaN), which state.json must carry.
    let tmp = tempfile::tempdir().unwrap();
    let body = TINY.replace("batch = 4", "batch = 1");
    let preset = preset(tmp.path(), "b1.toml", &body);
    let out_dir = tmp.path().join("run");
    assert_ok(&train(&[
        "--preset",
        s(&preset),
        "--steps",
        "30",
        "--out",
        s(&out_dir),
    ]));
    let (_, info) = diffusion_lab::store::read_info(&out_dir).unwrap();
    assert!(
        info.history
            .by_t
            .iter()
            .any(|(_, row)| row.iter().any(|v| v.is_nan())),
        "the test needs an empty bin: {:?}",
        info.history.by_t
    );
    assert_ok(&train(&["--resume", s(&out_dir), "--steps", "31"]));
    let (_, info) = diffusion_lab::store::read_info(&out_dir).unwrap();
    assert_eq!(info.step, 31);
}

#[test]
fn resuming_a_finished_run_reports_its_last_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = preset(tmp.path(), "tiny.toml", TINY);
    let out_dir = tmp.path().join("run");
    assert_ok(&train(&[
        "--preset",
        s(&preset),
        "--steps",
        "2",
        "--out",
        s(&out_dir),
    ]));
    let out = train(&["--resume", s(&out_dir), "--steps", "2"]);
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(said.contains("step 2"), "{said}");
    assert!(!said.contains("NaN"), "{said}");
}

struct Poison;

impl ModuleMapper for Poison {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.mul_scalar(f32::NAN))
    }
}

/// Overwrites the weights of the checkpoint `dir` with NaN ones, bypassing the app's checks
/// (what an older version could save).
fn poison_checkpoint(dir: &Path) {
    let device = burn::tensor::Device::default();
    let (_, _, _, ema) = diffusion_lab::store::load_for_inference(dir, &device).unwrap();
    let bad = ema.map(&mut Poison);
    assert!(!weights_finite(&bad));
    let bytes = bad.into_record().into_bytes().unwrap();
    for name in ["model.bpk", "ema.bpk"] {
        std::fs::write(dir.join(name), &bytes[..]).unwrap();
    }
}

#[test]
fn non_finite_weights_are_never_saved_resumed_or_sampled() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = preset(tmp.path(), "tiny.toml", TINY);
    let out_dir = tmp.path().join("run");
    assert_ok(&train(&[
        "--preset",
        s(&preset),
        "--steps",
        "1",
        "--out",
        s(&out_dir),
    ]));
    poison_checkpoint(&out_dir);

    // --resume refuses, naming the checkpoint, and leaves it as it was.
    let before = std::fs::read(out_dir.join("model.bpk")).unwrap();
    let out = train(&["--resume", s(&out_dir), "--steps", "2"]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(s(&out_dir)) && err.contains("NaN"), "{err}");
    assert_eq!(std::fs::read(out_dir.join("model.bpk")).unwrap(), before);

    // sample refuses the NaN output, names the checkpoint and writes nothing.
    let grid = tmp.path().join("grid.png");
    let out = Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args([
            "sample",
            "--checkpoint",
            s(&out_dir),
            "--n",
            "1",
            "--steps",
            "2",
        ])
        .args(["--grid", s(&grid)])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(s(&out_dir)) && err.contains("not finite"),
        "{err}"
    );
    assert!(!grid.exists());
}

#[test]
fn a_diverging_run_keeps_its_last_finite_checkpoint() {
    // lr = 1e6 without clipping blows the weights up; saving every step must never write
    // non-finite weights, so what is left in the folder samples cleanly. (A regression guard:
    // here the loss check fires first; the save refusal itself is tested in
    // src/train/checkpoint.rs, where a trainer's weights can be poisoned.)
    let tmp = tempfile::tempdir().unwrap();
    let body = TINY.replace(
        "checkpoint_every = 0",
        "checkpoint_every = 1\nlr = 1e6\ngrad_clip = 0.0",
    );
    let preset = preset(tmp.path(), "wild.toml", &body);
    let out_dir = tmp.path().join("run");
    let out = train(&[
        "--preset",
        s(&preset),
        "--steps",
        "30",
        "--out",
        s(&out_dir),
    ]);
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    if out_dir.exists() {
        let device = burn::tensor::Device::default();
        let (_, _, raw, ema) = diffusion_lab::store::load_for_inference(&out_dir, &device)
            .expect("what is kept reads back");
        assert!(weights_finite(&raw) && weights_finite(&ema), "{err}");
    }
}

#[test]
fn a_model_or_batch_that_cannot_fit_is_refused_before_training() {
    // #18 item 6: these aborted with SIGABRT on a failed allocation.
    let tmp = tempfile::tempdir().unwrap();
    let huge = preset(
        tmp.path(),
        "huge.toml",
        &TINY.replace("model_size = \"tiny\"", "[model]\nbase_channels = 100000"),
    );
    let out_dir = tmp.path().join("huge-run");
    let out = train(&["--preset", s(&huge), "--out", s(&out_dir), "--steps", "1"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("base_channels"), "{err}");
    assert!(!out_dir.exists());
    // A batch over the memory cap: the message gives the estimate and the batch that fits.
    let big = preset(
        tmp.path(),
        "big.toml",
        &TINY.replace("batch = 4", "batch = 4096\nmemory_cap_mb = 300"),
    );
    let out_dir = tmp.path().join("big-run");
    let out = train(&["--preset", s(&big), "--out", s(&out_dir), "--steps", "1"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("batch 4096"), "{err}");
    assert!(err.contains("largest batch that fits is about"), "{err}");
    assert!(!out_dir.exists());
}

#[test]
fn a_huge_run_name_is_refused_before_training() {
    // #18 item 7: a 50 MB name trained fully, then failed with "File name too long".
    let tmp = tempfile::tempdir().unwrap();
    let body = TINY.replace(
        "name = \"safety tiny\"",
        &format!("name = \"{}\"", "n".repeat(5000)),
    );
    let p = preset(tmp.path(), "long.toml", &body);
    let out_dir = tmp.path().join("long-run");
    let out = train(&["--preset", s(&p), "--out", s(&out_dir), "--steps", "1"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("name must be at most 200 characters"),
        "{}",
        &err[..err.len().min(300)]
    );
    assert!(!out_dir.exists());
}

/// Sends `sig` (e.g. "INT") to a process with kill(1).
#[cfg(unix)]
fn send_signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_checkpoint_exits_130_and_the_run_resumes() {
    // #17 and #19: Ctrl+C (and SIGTERM, SIGHUP) stop `train` with a saved checkpoint.
    let tmp = tempfile::tempdir().unwrap();
    let p = preset(tmp.path(), "t.toml", TINY);
    let out_dir = tmp.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args([
            "train",
            "--preset",
            s(&p),
            "--out",
            s(&out_dir),
            "--steps",
            "100000",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    send_signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped by SIGINT (Ctrl+C) at step"), "{err}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("state.json")).unwrap())
            .unwrap();
    let step = state["step"].as_u64().unwrap();
    assert!(err.contains(&format!("at step {step};")), "{err}");
    assert!(step < 100_000);
    // The saved run continues.
    let target = (step + 2).to_string();
    let out = train(&["--resume", s(&out_dir), "--steps", &target]);
    assert_ok(&out);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["step"].as_u64(), Some(step + 2));
}

#[test]
fn progress_into_a_log_file_is_plain_lines_without_carriage_returns() {
    // #17: stderr that is not a terminal gets periodic lines, never `\r` frames.
    let tmp = tempfile::tempdir().unwrap();
    let p = preset(tmp.path(), "t.toml", TINY);
    let out = train(&[
        "--preset",
        s(&p),
        "--out",
        s(&tmp.path().join("r")),
        "--steps",
        "12",
    ]);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(!err.contains('\r'), "{err:?}");
    assert!(err.contains("train: 12/12 steps  loss "), "{err}");
    assert!(err.contains("steps/s  ETA"), "{err}");
}

fn half(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args(["half", "--checkpoint", s(dir)])
        .output()
        .unwrap()
}

#[test]
fn half_precision_weights_sample_and_bad_folders_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = preset(tmp.path(), "tiny.toml", TINY);
    let ck = tmp.path().join("ck");
    assert_ok(&train(&[
        "--preset",
        s(&p),
        "--steps",
        "2",
        "--out",
        s(&ck),
    ]));
    let out = half(&ck);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("ema.bpk in f16"),
        "{}",
        text(&out.stdout)
    );
    // The checkpoint still samples, and still resumes.
    let sample = Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args(["sample", "--checkpoint", s(&ck), "--n", "2", "--steps", "5"])
        .arg("--grid")
        .arg(tmp.path().join("g.png"))
        .output()
        .unwrap();
    assert_ok(&sample);
    assert_ok(&train(&["--resume", s(&ck), "--steps", "3"]));

    // Not a checkpoint, and a truncated ema.bpk: exit 2, the folder named, nothing written.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_refused(&half(&empty), &empty);
    let ema = ck.join("ema.bpk");
    let bytes = std::fs::read(&ema).unwrap();
    std::fs::write(&ema, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(&half(&ck), &ck);
    assert_eq!(
        std::fs::metadata(&ema).unwrap().len(),
        (bytes.len() / 2) as u64
    );
}
