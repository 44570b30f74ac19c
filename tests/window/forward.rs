//! `diffusion-lab --screenshot … --view forward` renders the forward explorer in a real window
//! under Xvfb, after its data has loaded and its tiles are drawn.
//!
//! Needs `xvfb-run` and Mesa (installed by `.ci/run`), so it is `#[ignore]`d in a plain
//! `cargo test` and run by the README's test command (`-- --include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_of_the_forward_view_shows_the_loaded_image() {
    let img = common::screenshot("forward", "1280x800");
    // The tiles, the noise maps and the coloured curves: far more colours than a window that
    // is still loading.
    let mut colours: Vec<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 500, "only {} colours", colours.len());
    // The diverging ε map is drawn: some strongly red and strongly blue pixels.
    let red = img.pixels().filter(|p| p.0[0] > 150 && p.0[2] < 90).count();
    let blue = img.pixels().filter(|p| p.0[2] > 140 && p.0[0] < 90).count();
    assert!(red > 100 && blue > 100, "red {red}, blue {blue}");
}
