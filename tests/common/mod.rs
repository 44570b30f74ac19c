//! What the window tests share: running `diffusion-lab --screenshot` under Xvfb.
// Each test binary uses some of these helpers.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::Mutex;

/// One `xvfb-run` at a time per test binary: parallel `xvfb-run -a` calls race for the same
/// display number, and the loser fails with "Failed to open connection to X server".
static XVFB: Mutex<()> = Mutex::new(());

/// Runs the binary with `args` in a 1920×1080×24 Xvfb screen and returns its output.
/// Holds the one-`xvfb-run`-at-a-time lock: two `xvfb-run -a` started at the same moment race
/// for one display number and one fails ("Failed to open connection to X server"). Every test
/// that starts `xvfb-run` itself holds this while it runs.
pub fn xvfb_guard() -> std::sync::MutexGuard<'static, ()> {
    XVFB.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn run_under_xvfb(args: &[&std::ffi::OsStr]) -> Output {
    let runtime = std::env::temp_dir().join("diffusion-lab-test-xdg");
    std::fs::create_dir_all(&runtime).expect("the runtime folder");
    let _one_at_a_time = XVFB
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args(args)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("xvfb-run must be installed (apt-get install xvfb xauth); .ci/run installs it")
}

/// Renders `--view view` at `--size size` ("WxH") in a real window under Xvfb and returns the
/// PNG it wrote, after checking the process succeeded without a panic.
pub fn screenshot(view: &str, size: &str) -> image::RgbaImage {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let png = dir.path().join(format!("{view}.png"));
    let out = run_under_xvfb(&[
        "--screenshot".as_ref(),
        png.as_os_str(),
        "--view".as_ref(),
        view.as_ref(),
        "--size".as_ref(),
        size.as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let img = image::open(&png).expect("the screenshot PNG").to_rgba8();
    let (w, h) = size.split_once('x').expect("WxH");
    assert_eq!(
        (img.width(), img.height()),
        (w.parse().expect("W"), h.parse().expect("H"))
    );
    img
}

/// Runs `diffusion-lab <subcommand> <args>` as a real process.
pub fn cli(subcommand: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .arg(subcommand)
        .args(args)
        .output()
        .expect("the diffusion-lab binary runs")
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `subcommand` with `args`, checks it succeeded without a panic, returns its stdout.
#[track_caller]
pub fn cli_ok(subcommand: &str, args: &[&str]) -> String {
    let out = cli(subcommand, args);
    let err = text(&out.stderr);
    assert!(
        out.status.success(),
        "{subcommand} {args:?} failed ({:?}): {err}",
        out.status.code()
    );
    assert!(!err.contains("panicked"), "{err}");
    text(&out.stdout)
}

/// Runs `subcommand` with `args` and checks it is a clean usage error: exit code 2, no panic,
/// and stderr naming `culprit`.
#[track_caller]
pub fn cli_usage_error(subcommand: &str, args: &[&str], culprit: &str) {
    let out = cli(subcommand, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        err.contains(culprit),
        "{args:?} does not name {culprit}: {err}"
    );
}
