//! `diffusion-lab --screenshot … --view runs` renders the Runs view of a real runs folder under
//! Xvfb. Needs `xvfb-run` and Mesa, so it is `#[ignore]`d in a plain `cargo test` and run by
//! `.ci/run` (`--include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_diffusion-lab");

/// Runs the CLI in `dir` with `dir` as the home folder, so that runs go to its per-user runs
/// folder (`dir/.local/share/diffusion-lab/runs`), where the window started the same way looks.
fn cli(dir: &Path, args: &[&str]) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("XDG_DATA_HOME")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_of_runs_view_shows_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let base = r#"
name = "tiny"
model_size = "tiny"
[data]
source = "triangles"
prep = "binary"
count = 48
size = 16
[schedule]
steps = 40
[train]
batch = 4
val_every = 3
val_fraction = 0.25
preview_every = 0
device = "cpu"
"#;
    std::fs::write(dir.path().join("tiny.toml"), base).unwrap();
    // The run settings of a study preset are a plain preset's tables plus [study].
    let study = format!(
        "{base}{}",
        r#"
[study]
schedules = [{ kind = "linear", steps = 40 }, { kind = "cosine", steps = 40 }]
preps = ["binary"]
seeds = 2
"#
    );
    std::fs::write(dir.path().join("study.toml"), study).unwrap();
    cli(
        dir.path(),
        &["train", "--preset", "tiny.toml", "--steps", "9"],
    );
    cli(
        dir.path(),
        &[
            "study",
            "--preset",
            "study.toml",
            "--epochs",
            "2",
            "--steps-per-epoch",
            "2",
        ],
    );
    let png = dir.path().join("runs.png");
    let runtime = std::env::temp_dir().join("diffusion-lab-test-xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    let _one_at_a_time = crate::common::xvfb_guard();
    let out = Command::new("xvfb-run")
        .current_dir(dir.path())
        .args(["-a", "-s", "-screen 0 1920x1080x24", BIN])
        .args(["--screenshot", png.to_str().unwrap(), "--view", "runs"])
        .args(["--size", "1280x800"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", dir.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .expect("xvfb-run must be installed (apt-get install xvfb xauth); .ci/run installs it");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).unwrap().to_rgba8();
    assert_eq!((img.width(), img.height()), (1280, 800));
    let mut colours: Vec<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    // A table, curves in several colours and the strips: far more than a blank window.
    assert!(colours.len() > 100, "only {} colours", colours.len());
}
