//! `diffusion-lab --screenshot … --view player` renders the reverse-chain player in a real
//! window under Xvfb, after the bundled model's chain has been sampled.
//!
//! Needs `xvfb-run` and Mesa (installed by `.ci/run`), so it is `#[ignore]`d in a plain
//! `cargo test` and run by the README's test command (`-- --include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_of_the_player_shows_a_sampled_chain() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("player.png");
    let runtime = std::env::temp_dir().join("diffusion-lab-test-xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args(["--screenshot", png.to_str().unwrap(), "--view", "player"])
        .args(["--size", "1280x800"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("xvfb-run must be installed (apt-get install xvfb xauth); .ci/run installs it");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let img = image::open(&png).unwrap().to_rgba8();
    assert_eq!((img.width(), img.height()), (1280, 800));
    // The sampled grids: many grey levels; the ε̂ map: red and blue pixels.
    let greys = img
        .pixels()
        .filter(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
        .map(|p| p.0[0])
        .collect::<std::collections::BTreeSet<u8>>();
    assert!(greys.len() > 150, "only {} grey levels", greys.len());
    let red = img
        .pixels()
        .filter(|p| p.0[0] > 150 && p.0[2] < 120)
        .count();
    let blue = img
        .pixels()
        .filter(|p| p.0[2] > 150 && p.0[0] < 120)
        .count();
    assert!(red > 50 && blue > 50, "red {red}, blue {blue}");
}
