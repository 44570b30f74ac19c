//! `diffusion-lab --screenshot … --view presenter --size WxH` renders the presenter layout (lesson
//! strip over the forward explorer, light high-contrast theme) at both projector sizes.
//!
//! Needs `xvfb-run` and Mesa (installed by `.ci/run`), so it is `#[ignore]`d in a plain
//! `cargo test` and run by the README's test command (`-- --include-ignored`). With
//! `SAVE_SCREENSHOTS=1` the PNGs are also copied to `assets/screenshots/presenter-WxH.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;

fn presenter_screenshot(w: u32, h: u32) {
    let size = format!("{w}x{h}");
    // Checks the exit status, the absence of panics and the size.
    let img = common::screenshot("presenter", &size);
    // The lesson strip runs across the top, in its own tint, instead of the tab bar.
    let strip = [236, 240, 248, 255];
    let row = h / 40;
    let tinted = (0..w).filter(|&x| img.get_pixel(x, row).0 == strip).count();
    assert!(
        tinted as f64 > 0.5 * w as f64,
        "row {row}: only {tinted} of {w} pixels in the strip's tint"
    );
    // The high-contrast theme: white paper, black ink.
    let white = img.pixels().filter(|p| p.0 == [255, 255, 255, 255]).count();
    let ink = img
        .pixels()
        .filter(|p| p.0[0] < 40 && p.0[1] < 40 && p.0[2] < 40)
        .count();
    let total = (w * h) as usize;
    assert!(white > total / 5, "white background: {white} of {total}");
    assert!(ink > total / 500, "dark text: {ink} of {total}");
    // The formula, in its own dark blue, is drawn large in the strip.
    let formula = img
        .pixels()
        .filter(|p| p.0[0] < 40 && p.0[1] < 80 && p.0[2] > 90)
        .count();
    assert!(formula > 300, "formula pixels: {formula}");
    if std::env::var_os("SAVE_SCREENSHOTS").is_some() {
        let dest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/screenshots")
            .join(format!("presenter-{size}.png"));
        img.save(dest).unwrap();
    }
}

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn presenter_layout_at_1280x720() {
    presenter_screenshot(1280, 720);
}

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn presenter_layout_at_1920x1080() {
    presenter_screenshot(1920, 1080);
}
