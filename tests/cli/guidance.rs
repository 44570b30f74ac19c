//! `sample --class` and `bench guidance` as processes: a 10-row grid from a class-conditional
//! checkpoint, the trade-off table, and clear refusals (unconditional model, class out of
//! range, negative or non-finite w, --class all with n not a multiple of 10).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::common::{cli_ok, cli_usage_error};

/// A tiny class-conditional checkpoint trained for two steps.
fn cond_checkpoint(dir: &std::path::Path) -> std::path::PathBuf {
    let preset = dir.join("cond.toml");
    std::fs::write(
        &preset,
        r#"
name = "cond-test"
model_size = "tiny"
num_classes = 10
[data]
source = "bundled"
name = "mnist"
[schedule]
kind = "linear"
steps = 100
[train]
steps = 2
batch = 4
val_every = 0
preview_every = 0
checkpoint_every = 0
device = "cpu"
label_drop = 0.5
"#,
    )
    .unwrap();
    let out = dir.join("ck");
    cli_ok(
        "train",
        &[
            "--preset",
            preset.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(config.contains("\"num_classes\": 10"), "{config}");
    out
}

#[test]
fn sample_asks_a_conditional_model_for_classes_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let ck = cond_checkpoint(dir.path());
    let ck = ck.to_str().unwrap();
    let grid = dir.path().join("all.png");
    let card = dir.path().join("card.json");
    let out = cli_ok(
        "sample",
        &[
            "--checkpoint",
            ck,
            "--class",
            "all",
            "--n",
            "20",
            "--steps",
            "3",
            "--grid",
            grid.to_str().unwrap(),
            "--card",
            card.to_str().unwrap(),
        ],
    );
    assert!(out.starts_with("20 samples"), "{out}");
    // 20 images in rows of 2 (one row per class): 2 columns × 10 rows of 28 px with 2-px gaps.
    let img = image::open(&grid).unwrap();
    assert_eq!((img.width(), img.height()), (2 * 30 + 2, 10 * 30 + 2));
    let card_text = std::fs::read_to_string(&card).unwrap();
    assert!(card_text.contains("\"guidance\""), "{card_text}");
    // The card regenerates the same grid.
    let again = dir.path().join("again.png");
    cli_ok(
        "sample",
        &[
            "--from-card",
            card.to_str().unwrap(),
            "--grid",
            again.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&grid).unwrap(),
        std::fs::read(&again).unwrap()
    );
    // A card made at another step is remarked on; one of another schedule is refused (#18 item 9).
    let mut v: serde_json::Value = serde_json::from_str(&card_text).unwrap();
    v["checkpoint_step"] = serde_json::json!(123_456);
    let other = dir.path().join("other-step.json");
    std::fs::write(&other, v.to_string()).unwrap();
    let o = crate::common::cli(
        "sample",
        &[
            "--from-card",
            other.to_str().unwrap(),
            "--grid",
            again.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("the card was made at step 123456"), "{err}");
    v["schedule"]["steps"] = serde_json::json!(500);
    std::fs::write(&other, v.to_string()).unwrap();
    cli_usage_error(
        "sample",
        &[
            "--from-card",
            other.to_str().unwrap(),
            "--grid",
            again.to_str().unwrap(),
        ],
        "the card's schedule (linear T=500",
    );
    cli_ok(
        "sample",
        &[
            "--checkpoint",
            ck,
            "--class",
            "7",
            "--cfg-scale",
            "4",
            "--n",
            "2",
            "--steps",
            "2",
        ],
    );

    cli_usage_error(
        "sample",
        &["--checkpoint", ck, "--class", "10"],
        "outside the model's 10 classes",
    );
    cli_usage_error(
        "sample",
        &["--checkpoint", ck, "--class", "3", "--cfg-scale", "-1"],
        "finite number ≥ 0",
    );
    cli_usage_error(
        "sample",
        &["--checkpoint", ck, "--class", "3", "--cfg-scale", "NaN"],
        "finite number ≥ 0",
    );
    cli_usage_error(
        "sample",
        &["--checkpoint", ck, "--class", "all", "--n", "15"],
        "multiple of 10",
    );
    cli_usage_error("sample", &["--class", "seven"], "class index");
    // The bundled tiny model is unconditional.
    let tiny = diffusion_lab::store::bundled_dir("mnist-tiny").unwrap();
    cli_usage_error(
        "sample",
        &["--checkpoint", tiny.to_str().unwrap(), "--class", "3"],
        "unconditional",
    );
}

#[test]
fn bench_guidance_prints_accuracy_and_fid_per_weight() {
    let dir = tempfile::tempdir().unwrap();
    let ck = cond_checkpoint(dir.path());
    let csv = dir.path().join("curve.csv");
    let out = cli_ok(
        "bench",
        &[
            "guidance",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--per-class",
            "2",
            "--steps",
            "2",
            "--w",
            "0,2",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.contains("class FID"), "{out}");
    assert!(out.contains("not comparable with Inception FID"), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!((rows[0][0], rows[1][0]), (0.0, 2.0));
    for r in &rows {
        assert!((0.0..=1.0).contains(&r[1]), "accuracy {}", r[1]);
        assert!(r[2].is_finite() && r[2] > 0.0 && r[3].is_finite(), "{r:?}");
    }
    let tiny = diffusion_lab::store::bundled_dir("mnist-tiny").unwrap();
    cli_usage_error(
        "bench",
        &[
            "guidance",
            "--checkpoint",
            tiny.to_str().unwrap(),
            "--per-class",
            "2",
        ],
        "unconditional",
    );
    cli_usage_error(
        "bench",
        &[
            "guidance",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--w",
            "-1",
        ],
        "finite number ≥ 0",
    );
}

/// Accuracy against γ (#14): `bench guidance --classifier` sweeps classifier guidance's scale
/// on an unconditional model, with the same table and CSV as the w curve.
#[test]
fn bench_guidance_sweeps_gamma_with_a_noisy_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("gamma.csv");
    let tiny = diffusion_lab::store::bundled_dir("mnist-tiny").unwrap();
    let out = cli_ok(
        "bench",
        &[
            "guidance",
            "--checkpoint",
            tiny.to_str().unwrap(),
            "--classifier",
            "bundled:mnist-noisy",
            "--gamma",
            "0,4",
            "--per-class",
            "2",
            "--steps",
            "2",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.contains("classifier guidance"), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("gamma,accuracy,"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    cli_usage_error(
        "bench",
        &[
            "guidance",
            "--checkpoint",
            tiny.to_str().unwrap(),
            "--classifier",
            "bundled:mnist-noisy",
            "--gamma",
            "-2",
        ],
        "finite number ≥ 0",
    );
}

#[test]
fn classifier_guidance_trains_a_noisy_classifier_and_steers_an_unconditional_model() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("noisy.toml");
    std::fs::write(
        &preset,
        r#"
name = "noisy-test"
[data]
source = "bundled"
name = "mnist"
[schedule]
kind = "linear"
steps = 1000
[noisy_classifier]
steps = 3
batch = 4
width = 4
"#,
    )
    .unwrap();
    let noisy = dir.path().join("noisy");
    let out = cli_ok(
        "classifier",
        &[
            "train-noisy",
            "--preset",
            preset.to_str().unwrap(),
            "--out",
            noisy.to_str().unwrap(),
        ],
    );
    assert!(out.contains("held-out accuracy t=1:"), "{out}");
    assert!(noisy.join("weights.bpk").is_file() && noisy.join("info.json").is_file());
    let tiny = diffusion_lab::store::bundled_dir("mnist-tiny").unwrap();
    let tiny = tiny.to_str().unwrap();
    let (a, b) = (dir.path().join("g0.npy"), dir.path().join("g4.npy"));
    for (gamma, path) in [("0", &a), ("4", &b)] {
        cli_ok(
            "sample",
            &[
                "--checkpoint",
                tiny,
                "--class",
                "3",
                "--classifier",
                noisy.to_str().unwrap(),
                "--gamma",
                gamma,
                "--n",
                "2",
                "--steps",
                "3",
                "--npy",
                path.to_str().unwrap(),
            ],
        );
    }
    let plain = dir.path().join("plain.npy");
    cli_ok(
        "sample",
        &[
            "--checkpoint",
            tiny,
            "--n",
            "2",
            "--steps",
            "3",
            "--npy",
            plain.to_str().unwrap(),
        ],
    );
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    assert_eq!(
        read(&a),
        read(&plain),
        "γ = 0 is the unguided chain, byte for byte"
    );
    assert_ne!(read(&b), read(&plain), "γ = 4 steers it");
    cli_usage_error(
        "sample",
        &[
            "--checkpoint",
            tiny,
            "--class",
            "3",
            "--classifier",
            noisy.to_str().unwrap(),
            "--gamma",
            "-2",
        ],
        "finite number ≥ 0",
    );
    cli_usage_error(
        "sample",
        &[
            "--checkpoint",
            tiny,
            "--class",
            "3",
            "--classifier",
            dir.path().to_str().unwrap(),
        ],
        "not a noisy-classifier folder",
    );
}

#[test]
fn the_app_refuses_an_unknown_preset_before_opening_a_window() {
    let out = super::common::cli("--preset", &["no-such-preset"]);
    let err = super::common::text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("no shipped preset 'no-such-preset'") && err.contains("mnist-cond-cpu"),
        "{err}"
    );
}
