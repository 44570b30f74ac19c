//! `diffusion-lab toy`, run as a real process: the CSVs it writes (header `x,y`, N rows), the
//! energy distance it prints, the GIF, and clean usage errors (exit 2, never a panic).
#![allow(clippy::unwrap_used)]

use diffusion_lab::diffusion::{GaussianMixture, component_summary};
use diffusion_lab::toy::csv::load_points;
use std::path::Path;
use std::process::Output;

use crate::common;

fn run(args: &[&str]) -> Output {
    common::cli("toy", args)
}

fn text(b: &[u8]) -> String {
    common::text(b)
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    common::cli_ok("toy", args)
}

#[track_caller]
fn usage_error(args: &[&str], culprit: &str) {
    common::cli_usage_error("toy", args, culprit);
}

fn rows(path: &Path) -> (String, usize) {
    let s = std::fs::read_to_string(path).unwrap();
    let mut lines = s.lines();
    let header = lines.next().unwrap_or_default().to_owned();
    (header, lines.filter(|l| !l.is_empty()).count())
}

#[test]
fn true_score_ddpm_writes_points_and_data_that_match_the_mixture() {
    let dir = tempfile::tempdir().unwrap();
    let (out, data) = (dir.path().join("points.csv"), dir.path().join("data.csv"));
    let stdout = ok(&[
        "--dataset",
        "two-gaussians",
        "--true-score",
        "--n",
        "3000",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--data-out",
        data.to_str().unwrap(),
    ]);
    for p in [&out, &data] {
        let (header, n) = rows(p);
        assert_eq!(header, "x,y");
        assert_eq!(n, 3000);
    }
    // The printed energy distance: about 0 for exact samples (|D²| ≲ 2e-3 at N = 3000).
    let ed: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("energy distance to fresh data: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(ed.abs() < 5e-3, "{stdout}");
    // Seed 001's weights 0.2 / 0.8, 4 binomial standard errors (0.0073 each).
    let stats = component_summary(
        &load_points(&out).unwrap(),
        &GaussianMixture::seed001_two_gaussians(),
    )
    .unwrap();
    assert!((stats[0].weight - 0.2).abs() < 0.03, "{stats:?}");
    // Exact CSV round trip: no leftover temporary files next to the outputs.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn every_sampler_runs_with_the_true_score_and_writes_a_gif() {
    let dir = tempfile::tempdir().unwrap();
    for sampler in ["ddpm", "ddim", "langevin", "annealed"] {
        let out = dir.path().join(format!("{sampler}.csv"));
        let gif = dir.path().join(format!("{sampler}.gif"));
        ok(&[
            "--dataset",
            "gmm",
            "--true-score",
            "--sampler",
            sampler,
            "--eta",
            "0.5",
            "--n",
            "200",
            "--out",
            out.to_str().unwrap(),
            "--gif",
            gif.to_str().unwrap(),
        ]);
        assert_eq!(rows(&out), ("x,y".to_owned(), 200));
        let bytes = std::fs::read(&gif).unwrap();
        assert_eq!(&bytes[..6], b"GIF89a", "{sampler}");
    }
}

#[test]
fn training_a_few_steps_writes_n_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.csv");
    let stdout = ok(&[
        "--dataset",
        "moons",
        "--train-steps",
        "20",
        "--n",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("learned score"), "{stdout}");
    assert_eq!(rows(&out), ("x,y".to_owned(), 50));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.csv");
    let o = out.to_str().unwrap();
    for ds in ["moons", "swiss", "circles", "checker"] {
        usage_error(
            &["--dataset", ds, "--true-score", "--out", o],
            "--true-score",
        );
    }
    usage_error(&["--dataset", "spiral", "--out", o], "--dataset");
    usage_error(
        &["--sampler", "euler", "--true-score", "--out", o],
        "--sampler",
    );
    usage_error(&["--eta=-1", "--true-score", "--out", o], "--eta");
    // η > 1 breaks σ² ≤ 1 − ᾱ_t′ (erratum E004-4).
    usage_error(&["--eta=1.5", "--true-score", "--out", o], "--eta");
    usage_error(&["--n", "1", "--true-score", "--out", o], "--n");
    // 10⁸ points reached 11 GB without progress (#18 item 7); refused up front.
    usage_error(&["--n", "100000000", "--true-score", "--out", o], "--n");
    assert!(!out.exists(), "nothing is written on a usage error");
    // An unwritable output is a failure (exit 1) with the path named.
    let bad = run(&[
        "--true-score",
        "--n",
        "10",
        "--out",
        "/nonexistent-dir/p.csv",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("/nonexistent-dir/p.csv"));
}
