//! `diffusion-lab --screenshot … --view toy2d` renders the 2-D lab in a real window under Xvfb,
//! with the true-score results of the default mixture already drawn.
//!
//! Needs `xvfb-run` and Mesa (installed by `.ci/run`), so it is `#[ignore]`d in a plain
//! `cargo test` and run by the README's test command (`-- --include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_of_the_toy_view_shows_clouds_arrows_and_density() {
    let img = common::screenshot("toy2d", "1280x800");
    // The particles and forward scatter are blue (0, 114, 178); the density heatmap has bright
    // orange/yellow; the true score arrows are pink (204, 121, 167).
    let count = |f: &dyn Fn([u8; 4]) -> bool| img.pixels().filter(|p| f(p.0)).count();
    let blue = count(&|p| p[2] > 140 && p[0] < 60 && p[1] > 70 && p[1] < 150);
    let bright = count(&|p| p[0] > 230 && p[1] > 150 && p[2] < 170);
    let pink = count(&|p| p[0] > 170 && p[1] > 90 && p[1] < 150 && p[2] > 130);
    assert!(blue > 2000, "blue {blue}");
    assert!(bright > 200, "bright {bright}");
    assert!(pink > 200, "pink {pink}");
}
