//! `diffusion-lab --screenshot … --view player` renders the reverse-chain player in a real
//! window under Xvfb, after the bundled model's chain has been sampled.
//!
//! Needs `xvfb-run` and Mesa (installed by `.ci/run`), so it is `#[ignore]`d in a plain
//! `cargo test` and run by the README's test command (`-- --include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

/// How many grey levels (R = G = B) a screenshot holds: sampled digit grids have many.
fn grey_levels(img: &image::RgbaImage) -> usize {
    img.pixels()
        .filter(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
        .map(|p| p.0[0])
        .collect::<std::collections::BTreeSet<u8>>()
        .len()
}

#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn screenshot_of_the_player_shows_a_sampled_chain() {
    let img = common::screenshot("player", "1280x800");
    // The sampled grids: many grey levels; the ε̂ map: red and blue pixels.
    let greys = grey_levels(&img);
    assert!(greys > 150, "only {greys} grey levels");
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

/// An installed binary works from any folder (#17): copied alone into a temporary prefix, run
/// from an unrelated folder with an empty home, it unpacks its bundled model into the user's
/// cache, opens the player on it and samples a chain; runs would go to the per-user folder.
#[test]
#[ignore = "needs xvfb-run and Mesa; run with --include-ignored (.ci/run does)"]
fn an_installed_binary_opens_the_bundled_model_from_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (prefix, home, elsewhere) = (
        tmp.path().join("prefix"),
        tmp.path().join("home"),
        tmp.path().join("somewhere-else"),
    );
    for d in [prefix.join("bin"), home.clone(), elsewhere.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    // `cargo install --path . --root PREFIX` puts the release binary in PREFIX/bin; the test
    // binary's sibling is the same program, so it is copied there alone, without the source
    // tree beside it.
    let installed = prefix.join("bin").join("diffusion-lab");
    std::fs::copy(env!("CARGO_BIN_EXE_diffusion-lab"), &installed).unwrap();
    let png = tmp.path().join("player.png");
    let runtime = std::env::temp_dir().join("diffusion-lab-test-xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    let out = {
        let _one_at_a_time = common::xvfb_guard();
        std::process::Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1920x1080x24"])
            .arg(&installed)
            .args(["--view", "player", "--size", "1280x800", "--screenshot"])
            .arg(&png)
            .current_dir(&elsewhere)
            .env("HOME", &home)
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME")
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .expect("xvfb-run must be installed (apt-get install xvfb xauth); .ci/test installs it")
    };
    let stderr = common::text(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The bundled model came out of the binary into the user's cache, not from a checkout.
    let models = home.join(".cache/diffusion-lab/models");
    let cached = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("mnist-canonical-"))
        })
        .unwrap_or_else(|| panic!("no mnist-canonical in {models:?}"));
    assert!(
        cached.join("ema.bpk").is_file(),
        "{cached:?} holds no weights"
    );
    assert!(cached.join("config.json").is_file());
    // Nothing was written into the folder it was started from.
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    // The player shows a sampled chain: many grey levels in the sample grids.
    let img = image::open(&png).unwrap().to_rgba8();
    let greys = grey_levels(&img);
    assert!(greys > 150, "only {greys} grey levels");
}
