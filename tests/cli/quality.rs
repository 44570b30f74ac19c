//! `score`, `nll` and `classifier` as processes: their tables, and clear errors on bad input
//! (wrong shapes, too few images, NaN samples).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::common::{cli, cli_ok, cli_usage_error, text};
use diffusion_lab::data::write_npy;

fn digits(n: usize) -> Vec<f32> {
    let data = diffusion_lab::data::bundled("mnist").unwrap();
    data.data()[..n * 784].to_vec()
}

#[test]
fn score_rates_an_npy_file_and_counts_its_nan_samples() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.npy");
    let mut x = digits(40);
    x[5 * 784 + 3] = f32::NAN;
    x[9 * 784] = f32::INFINITY;
    write_npy(&p, &[40, 1, 28, 28], &x).unwrap();
    let json = dir.path().join("score.json");
    let out = cli_ok(
        "score",
        &[
            "--npy",
            p.to_str().unwrap(),
            "--data",
            "mnist",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("mnist-classifier features, not comparable with Inception FID"),
        "{out}"
    );
    assert!(out.contains("2 non-finite samples left out"), "{out}");
    for row in ["samples", "real (floor)", "Gaussian noise", "blurred real"] {
        assert!(out.contains(row), "{row}: {out}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["rows"][0]["n"], 38);
    assert_eq!(report["rows"][0]["non_finite"], 2);
    let fid = report["rows"][0]["fid"]["mean"].as_f64().unwrap();
    let noise = report["rows"][2]["fid"]["mean"].as_f64().unwrap();
    assert!(fid.is_finite() && fid < noise, "{fid} vs noise {noise}");
}

#[test]
fn score_refuses_bad_sample_files_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.npy");
    write_npy(&small, &[4, 1, 16, 16], &vec![0.0; 4 * 256]).unwrap();
    cli_usage_error(
        "score",
        &["--npy", small.to_str().unwrap(), "--data", "mnist"],
        "1×28×28",
    );
    let one = dir.path().join("one.npy");
    write_npy(&one, &[1, 1, 28, 28], &digits(1)).unwrap();
    cli_usage_error(
        "score",
        &["--npy", one.to_str().unwrap(), "--data", "mnist"],
        "at least 2",
    );
    let nan = dir.path().join("nan.npy");
    write_npy(&nan, &[3, 1, 28, 28], &vec![f32::NAN; 3 * 784]).unwrap();
    cli_usage_error(
        "score",
        &["--npy", nan.to_str().unwrap(), "--data", "mnist"],
        "finite",
    );
    cli_usage_error(
        "score",
        &["--npy", one.to_str().unwrap(), "--data", "twemoji-32"],
        "no classifier",
    );
    cli_usage_error("score", &["--n", "1"], "--n");
    cli_usage_error("score", &["--n", "10001"], "--n");
    let broken = dir.path().join("broken.npy");
    std::fs::write(&broken, b"\x93NUMPY garbage").unwrap();
    let out = cli(
        "score",
        &["--npy", broken.to_str().unwrap(), "--data", "mnist"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
}

#[test]
fn nll_prints_bits_per_dim_for_the_tiny_bundled_model() {
    let dir = tempfile::tempdir().unwrap();
    let terms = dir.path().join("terms.csv");
    let tiny = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/mnist-tiny");
    let out = cli_ok(
        "nll",
        &[
            "--checkpoint",
            tiny,
            "--n",
            "4",
            "--t-samples",
            "200",
            "--terms",
            terms.to_str().unwrap(),
        ],
    );
    let bpd: f64 = out
        .split("NLL ≤ ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no bound in {out}"));
    // MNIST models sit around 1–3 bits/dim; 8 bits/dim is a uniform coder.
    assert!(bpd > 0.2 && bpd < 8.0, "{bpd}: {out}");
    let csv = std::fs::read_to_string(&terms).unwrap();
    assert_eq!(csv.lines().count(), 1 + 50 + 200, "{csv}"); // header, t ≤ 50, 200 strata
    cli_usage_error("nll", &["--n", "0"], "--n");
    cli_usage_error(
        "nll",
        &["--checkpoint", "/nonexistent/run"],
        "/nonexistent/run",
    );
}

#[test]
fn classifier_train_writes_a_usable_classifier() {
    // The 8×8 digits train in seconds; the folder it writes is read back by `score`.
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("digits");
    let out = cli_ok(
        "classifier",
        &[
            "train",
            "--data",
            "sklearn-digits",
            "--epochs",
            "12",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(out.contains("held-out accuracy"), "{out}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("info.json")).unwrap()).unwrap();
    assert!(info["held_out_accuracy"].as_f64().unwrap() > 0.5, "{info}");
    cli_usage_error(
        "classifier",
        &["train", "--data", "no-such-set"],
        "no-such-set",
    );
    let check = cli_ok("classifier", &["check", "--data", "mnist"]);
    assert!(check.contains("98."), "{check}");
}

#[test]
fn bench_quality_prints_fid_at_fixed_training_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("curve");
    let preset = concat!(env!("CARGO_MANIFEST_DIR"), "/presets/mnist-tiny.toml");
    // A PyTorch anchor folder as ddpm_mnist_anchor.py writes it: samples_<m>min.npy and a
    // log.json with its steps. It holds real digits at the first minute and nothing at the
    // second.
    let anchor = dir.path().join("anchor");
    std::fs::create_dir_all(&anchor).unwrap();
    // The bundled set is sorted by class: every 97th image covers all ten.
    let data = diffusion_lab::data::bundled("mnist").unwrap();
    let spread: Vec<f32> = (0..40)
        .flat_map(|i| data.data()[i * 97 * 784..(i * 97 + 1) * 784].to_vec())
        .collect();
    write_npy(
        &anchor.join("samples_0.02min.npy"),
        &[40, 1, 28, 28],
        &spread,
    )
    .unwrap();
    std::fs::write(
        anchor.join("log.json"),
        r#"{"recipe": "test", "points": [{"label": "0.02min", "step": 1234, "train_s": 1.2}]}"#,
    )
    .unwrap();
    let out = cli_ok(
        "bench",
        &[
            "quality",
            "--preset",
            preset,
            "--minutes",
            "0.04",
            "--every",
            "0.02",
            "--n",
            "8",
            "--out",
            out_dir.to_str().unwrap(),
            "--anchor",
            anchor.to_str().unwrap(),
        ],
    );
    assert!(out.contains("not comparable with Inception FID"), "{out}");
    // The anchor's digits are rated at its own step count, and the missing minute is named.
    let torch = out
        .lines()
        .find(|l| l.trim_start().starts_with("0.02") && l.contains("1234"))
        .unwrap_or_else(|| panic!("{out}"));
    let torch_is: f64 = torch.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(torch_is > 4.0, "real digits rate IS {torch_is}: {out}");
    assert!(out.contains("no samples_0.04min.npy"), "{out}");
    let csv = std::fs::read_to_string(out_dir.join("curve.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(out_dir.join("samples_0.02.npy").is_file());
    // The samples it wrote are rated the same way by `score --npy`.
    let fid_bench: f64 = rows[0].split(',').nth(2).unwrap().parse().unwrap();
    let scored = cli_ok(
        "score",
        &[
            "--npy",
            out_dir.join("samples_0.02.npy").to_str().unwrap(),
            "--data",
            "mnist",
        ],
    );
    let fid_score: f64 = scored
        .lines()
        .find(|l| l.starts_with("samples"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{scored}"));
    // The table prints two decimals.
    assert!(
        (fid_bench - fid_score).abs() < 0.006,
        "{fid_bench} vs {fid_score}"
    );
    cli_usage_error(
        "bench",
        &["quality", "--preset", preset, "--every", "0"],
        "--every",
    );
}
