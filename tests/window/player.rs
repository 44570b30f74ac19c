//! `diffusion-lab --screenshot … --view player` renders the reverse-chain player in a real
//! window under Xvfb, after the bundled model's chain has been sampled.
//!
//! Needs `xvfb-run` and Mesa (installed by `.ci/run`), so it is `#[ignore]`d in a plain
//! `cargo test` and run by the README's test command (`-- --include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_of_the_player_shows_a_sampled_chain() {
    let img = common::screenshot("player", "1280x800");
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
