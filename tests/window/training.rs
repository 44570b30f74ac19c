//! #19: ending the app by signal saves the training run, the same as closing the window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_diffusion-lab");

/// The pid of the app process (not xvfb-run's shell) whose command line mentions `marker`.
fn app_pid(marker: &str) -> Option<u32> {
    let bin = std::fs::canonicalize(BIN).ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let exe = std::fs::read_link(entry.path().join("exe")).ok();
        if String::from_utf8_lossy(&cmdline).contains(marker) && exe.as_deref() == Some(&bin) {
            return Some(pid);
        }
    }
    None
}

/// The run folder under `runs` once its run has started: the trainer locks it first (with a
/// `.NAME.lock` file beside it) and creates it at the first checkpoint.
fn run_folder(runs: &Path) -> Option<PathBuf> {
    std::fs::read_dir(runs).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let folder = name.strip_prefix('.')?.strip_suffix(".lock")?.to_owned();
        Some(runs.join(folder))
    })
}

/// Kills the process tree of the xvfb-run child if the test fails before it ends.
struct KillOnDrop(Option<std::process::Child>, String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            if let Some(pid) = app_pid(&self.1) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn step_of(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("state.json")).expect("state.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v["step"].as_u64().expect("a step")
}

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn sigterm_while_training_in_the_window_saves_a_run_that_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs-sigterm-test");
    let runtime = std::env::temp_dir().join("diffusion-lab-test-xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    // One xvfb-run at a time: a second `xvfb-run -a` started alongside races for the display
    // number and fails with "Failed to open connection to X server" (it did, in CI).
    let _xvfb = crate::common::xvfb_guard();
    let child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(BIN)
        .args([
            "--preset",
            "mnist-tiny",
            "--train",
            "--renderer",
            "glow",
            "--runs-dir",
        ])
        .arg(&runs)
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xvfb-run must be installed (apt-get install xvfb xauth); .ci/run installs it");
    let marker = runs.to_string_lossy().into_owned();
    let mut guard = KillOnDrop(Some(child), marker.clone());
    // Wait for the run to start, then let it train a few seconds.
    let start = Instant::now();
    let (pid, dir) = loop {
        if let (Some(pid), Some(dir)) = (app_pid(&marker), run_folder(&runs)) {
            break (pid, dir);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the app did not start a run in {}",
            runs.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = guard.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The app said where it saved, at the step the folder holds.
    let step = step_of(&dir);
    assert!(
        stderr.contains(&format!(
            "training stopped at step {step}; checkpoint saved in {}",
            dir.display()
        )),
        "{stderr}"
    );
    // And `--resume` continues it.
    let target = (step + 2).to_string();
    let out = Command::new(BIN)
        .args(["train", "--resume"])
        .arg(&dir)
        .args(["--steps", &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(step_of(&dir), step + 2);
}
