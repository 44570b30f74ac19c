//! `diffusion-lab --screenshot` renders a real window under Xvfb and writes a PNG.
//!
//! These tests need `xvfb-run` and Mesa (installed by `.ci/run`), so they are `#[ignore]`d in a
//! plain `cargo test` and run by the README's test command (`-- --include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_diffusion-lab");

/// Runs the app under Xvfb with `args`, returning (exit status, stderr).
fn run_under_xvfb(args: &[&str]) -> (std::process::ExitStatus, String) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let out = common::run_under_xvfb(&args);
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn distinct_colours(path: &Path) -> (u32, u32, usize) {
    let img = image::open(path).expect("a readable PNG").to_rgba8();
    let mut colours: Vec<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    (img.width(), img.height(), colours.len())
}

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_of_schedule_view_has_requested_size_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("schedule.png");
    let (status, stderr) = run_under_xvfb(&[
        "--screenshot",
        png.to_str().unwrap(),
        "--view",
        "schedule",
        "--size",
        "1280x720",
    ]);
    assert!(status.success(), "exit {status:?}: {stderr}");
    let (w, h, colours) = distinct_colours(&png);
    assert_eq!((w, h), (1280, 720));
    // Plots, text and two coloured curves: far more than a blank window's handful of colours.
    assert!(
        colours > 50,
        "only {colours} colours: the view did not render"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left next to the PNG"
    );
}

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_to_unwritable_path_fails_cleanly() {
    let (status, stderr) = run_under_xvfb(&["--screenshot", "/nonexistent-dir/x.png"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not write the screenshot"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_view_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["--screenshot", "x.png", "--view", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--view"), "{stderr}");
}

#[test]
fn bad_size_is_a_usage_error() {
    let out = Command::new(BIN).args(["--size", "12x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--size"));
}
