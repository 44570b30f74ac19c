//! Improved DDPM on the command line (#15 §1, §5): `train --loss hybrid` gives a learned-Σ
//! checkpoint that `sample --sampler iddpm-learned` and `nll` use; the learned samplers are
//! refused for a fixed-variance model, importance sampling without the bound, and a
//! zero-terminal-SNR schedule with ε-prediction.
#![allow(clippy::unwrap_used)]

use crate::common::{self, text};
use std::process::Command;

#[test]
fn learned_samplers_are_refused_for_a_fixed_variance_model() {
    for sampler in ["iddpm-learned", "ddpm-learned"] {
        let steps: &[&str] = if sampler == "iddpm-learned" {
            &["--steps", "10"]
        } else {
            &[]
        };
        let mut args = vec!["--sampler", sampler, "--n", "2"];
        args.extend_from_slice(steps);
        common::cli_usage_error("sample", &args, "learned Σ");
    }
}

#[test]
fn a_hybrid_run_samples_with_its_learned_variance_and_measures_its_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("tiny.toml");
    std::fs::write(&preset, crate::safety::TINY).unwrap();
    let run = tmp.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args([
            "train",
            "--preset",
            preset.to_str().unwrap(),
            "--steps",
            "3",
        ])
        .args(["--loss", "hybrid", "--out", run.to_str().unwrap()])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("L_hybrid"), "{err}");
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"loss\": \"hybrid\""), "{config}");
    let grid = tmp.path().join("g.png");
    let text = common::cli_ok(
        "sample",
        &[
            "--checkpoint",
            run.to_str().unwrap(),
            "--sampler",
            "iddpm-learned",
            "--steps",
            "5",
            "--stride-rule",
            "round",
            "--n",
            "2",
            "--grid",
            grid.to_str().unwrap(),
        ],
    );
    assert!(text.contains("iDDPM K=5 round (learned sigma)"), "{text}");
    assert!(grid.is_file());
    let nll = common::cli_ok(
        "nll",
        &[
            "--checkpoint",
            run.to_str().unwrap(),
            "--n",
            "4",
            "--t-samples",
            "3",
        ],
    );
    assert!(nll.contains("learned Σ"), "{nll}");
}

#[test]
fn importance_sampling_needs_the_bound_and_zero_snr_needs_v() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("tiny.toml");
    std::fs::write(&preset, crate::safety::TINY).unwrap();
    let p = preset.to_str().unwrap();
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    common::cli_usage_error(
        "train",
        &["--preset", p, "--t-sampling", "importance", "--out", o],
        "t_sampling",
    );
    let zero = tmp.path().join("zero.toml");
    std::fs::write(
        &zero,
        crate::safety::TINY.replace("[schedule]\n", "[schedule]\nzero_terminal_snr = true\n"),
    )
    .unwrap();
    common::cli_usage_error(
        "train",
        &["--preset", zero.to_str().unwrap(), "--out", o],
        "zero_terminal_snr",
    );
}
