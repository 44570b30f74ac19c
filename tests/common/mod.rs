//! What the window tests share: running `diffusion-lab --screenshot` under Xvfb.

use std::process::Command;

/// Renders `--view view` at `--size size` ("WxH") in a real window under Xvfb and returns the
/// PNG it wrote, after checking the process succeeded without a panic.
pub fn screenshot(view: &str, size: &str) -> image::RgbaImage {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let png = dir.path().join(format!("{view}.png"));
    let runtime = std::env::temp_dir().join("diffusion-lab-test-xdg");
    std::fs::create_dir_all(&runtime).expect("the runtime folder");
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(env!("CARGO_BIN_EXE_diffusion-lab"))
        .arg("--screenshot")
        .arg(&png)
        .args(["--view", view, "--size", size])
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("xvfb-run must be installed (apt-get install xvfb xauth); .ci/run installs it");
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
