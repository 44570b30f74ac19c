//! `train --lr` and `--lr-final`: the learning rate set or annealed from the command line is
//! the one the steps use and the one the checkpoint keeps for a later `--resume`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::text;
use std::path::Path;
use std::process::{Command, Output};

/// The safety tests' tiny preset at a fixed learning rate without warm-up.
fn tiny() -> String {
    crate::safety::TINY.replace("[train]\n", "[train]\nlr = 0.001\nwarmup_steps = 0\n")
}

fn train(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .arg("train")
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap()
}

/// The learning rate the checkpoint in `dir` keeps (`lr_override` in state.json).
fn kept_lr(dir: &Path) -> Option<f64> {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    state["lr_override"].as_f64()
}

#[test]
fn lr_flags_set_and_anneal_the_learning_rate_and_the_checkpoint_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("tiny.toml");
    std::fs::write(&preset, tiny()).unwrap();
    let run = tmp.path().join("run");
    let (p, r) = (preset.to_str().unwrap(), run.to_str().unwrap());

    let out = train(tmp.path(), &["--preset", p, "--steps", "2", "--out", r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        kept_lr(&run),
        None,
        "no flag: the preset's rate, nothing kept"
    );

    let out = train(tmp.path(), &["--resume", r, "--steps", "4", "--lr", "3e-4"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(kept_lr(&run), Some(3e-4));

    // Cosine from 3e-4 (steps 4..10) to 1e-5: the last update (after step 9) uses u = 1.
    let out = train(
        tmp.path(),
        &["--resume", r, "--steps", "10", "--lr-final", "1e-5"],
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("cosine anneal from 3.000e-4 at step 4 to 1.000e-5 at step 10"),
        "{err}"
    );
    let kept = kept_lr(&run).unwrap();
    assert!((kept - 1e-5).abs() < 1e-12, "kept {kept}");

    // A later resume without flags goes on at the annealed rate.
    let out = train(tmp.path(), &["--resume", r, "--steps", "11"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!((kept_lr(&run).unwrap() - 1e-5).abs() < 1e-12);

    for bad in ["0", "-0.0001", "NaN", "inf"] {
        let out = train(tmp.path(), &["--resume", r, "--steps", "12", "--lr", bad]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--lr {bad}: {err}");
        assert!(err.contains("--lr must be a positive number"), "{err}");
    }
    let out = train(
        tmp.path(),
        &["--resume", r, "--steps", "12", "--lr-final", "-1"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--lr-final must be a positive number"));
}
