//! Seed 000 on the command line (#14 §3): a log-SNR v-objective run in continuous time, the
//! additional layer on it, and the table over Folder_1, Folder_2, v1 and v2, end to end at toy
//! size; and the refusals.
#![allow(clippy::unwrap_used)]

use crate::common::{self, cli_ok};

/// A seed-000 preset at toy size: 2 training steps of the tiny UNet on 256 MNIST digits.
fn preset(dir: &std::path::Path, conditional: bool) -> String {
    let p = dir.join(if conditional { "f1.toml" } else { "f2.toml" });
    let classes = if conditional {
        "num_classes = 10\n"
    } else {
        ""
    };
    let f1 = dir.join("f1");
    let f2 = dir.join("f2");
    std::fs::write(
        &p,
        format!(
            r#"name = "s000"
model_size = "tiny"
time_input = "log-snr"
{classes}
[data]
source = "bundled"
name = "mnist"
limit = 256

[schedule]
kind = "v-diffusion"
steps = 100

[train]
steps = 2
batch = 8
target = "v"
continuous_time = true
loss_weighting = "snr-plus-one"
val_every = 0
preview_every = 0
checkpoint_every = 0
device = "cpu"

[seed000]
folder1 = "{}"
folder2 = "{}"
layer = "{}"
steps = [3]
images = [20]
seeds = 2
chunk = 8

[seed000.layer_train]
steps = 3
batch = 8
"#,
            f1.display(),
            f2.display(),
            f2.display()
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn the_table_runs_end_to_end_on_three_toy_models() {
    let tmp = tempfile::tempdir().unwrap();
    let (p1, p2) = (preset(tmp.path(), true), preset(tmp.path(), false));
    let (f1, f2) = (tmp.path().join("f1"), tmp.path().join("f2"));
    cli_ok("train", &["--preset", &p1, "--out", f1.to_str().unwrap()]);
    cli_ok("train", &["--preset", &p2, "--out", f2.to_str().unwrap()]);
    let out = cli_ok("add-layer", &["--preset", &p2]);
    assert!(out.contains("additional layer"), "{out}");
    assert!(f2.join("add_layer.weights.bpk").is_file());
    let table = tmp.path().join("table");
    let out = cli_ok(
        "study",
        &["--preset", &p2, "--out", table.to_str().unwrap()],
    );
    assert!(out.contains("| 3 | 20 |"), "{out}");
    let cells = std::fs::read_to_string(table.join("seed000-cells.csv")).unwrap();
    // 2 seeds × 4 columns, each with a finite IS in [1, 10] (10 classes).
    assert_eq!(cells.lines().count(), 1 + 8, "{cells}");
    for line in cells.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let is: f64 = f[4].parse().unwrap();
        assert!((1.0..=10.0).contains(&is), "{line}");
        // Folder_2 asks for no class, the others do.
        assert_eq!(f[6].is_empty(), f[2] == "folder2", "{line}");
    }
    let rows = diffusion_lab::metrics::seed000::read_summary_csv(
        &std::fs::read_to_string(table.join("seed000.csv")).unwrap(),
    )
    .unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.seeds == 2 && r.is.1 >= 0.0));
    assert!(table.join("study.json").is_file());
}

#[test]
fn seed000_refusals_name_their_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let p = preset(tmp.path(), false);
    // The models are not there yet.
    common::cli_usage_error("study", &["--preset", &p], "seed000.folder1");
    // A preset without [seed000].
    let plain = tmp.path().join("plain.toml");
    std::fs::write(&plain, crate::safety::TINY).unwrap();
    common::cli_usage_error(
        "add-layer",
        &["--preset", plain.to_str().unwrap()],
        "[seed000]",
    );
    // v2 needs N to be a multiple of 10.
    let text = std::fs::read_to_string(&p).unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, text.replace("images = [20]", "images = [25]")).unwrap();
    common::cli_usage_error(
        "study",
        &["--preset", bad.to_str().unwrap()],
        "multiples of 10",
    );
    // Continuous time needs the log-SNR input.
    std::fs::write(&bad, text.replace("time_input = \"log-snr\"", "")).unwrap();
    common::cli_usage_error(
        "train",
        &["--preset", bad.to_str().unwrap()],
        "time_input = \"log-snr\"",
    );
}

#[test]
fn train_takes_the_objective_flags_and_records_them() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("tiny.toml");
    std::fs::write(&preset, crate::safety::TINY).unwrap();
    let p = preset.to_str().unwrap();
    let run = tmp.path().join("run");
    cli_ok(
        "train",
        &[
            "--preset",
            p,
            "--steps",
            "2",
            "--target",
            "v",
            "--loss-weighting",
            "snr-plus-one",
            "--time-input",
            "log-snr",
            "--continuous-time",
            "--out",
            run.to_str().unwrap(),
        ],
    );
    let (config, _) = diffusion_lab::store::read_info(&run).unwrap();
    assert_eq!(config.train.target, diffusion_lab::diffusion::Target::V);
    assert_eq!(
        config.train.loss_weighting,
        diffusion_lab::diffusion::LossWeighting::SnrPlusOne
    );
    assert_eq!(
        config.time_input,
        diffusion_lab::config::TimeInputKind::LogSnr
    );
    assert!(config.train.continuous_time);
    // The sampler reads the checkpoint's log-SNR input back.
    cli_ok(
        "sample",
        &[
            "--checkpoint",
            run.to_str().unwrap(),
            "--n",
            "2",
            "--steps",
            "3",
        ],
    );
    common::cli_usage_error(
        "train",
        &["--preset", p, "--steps", "1", "--continuous-time"],
        "log-snr",
    );
}
