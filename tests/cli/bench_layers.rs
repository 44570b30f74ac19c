//! `bench layers` as a process (#12): the canonical UNet's building blocks timed on burn's Flex
//! backend and on the native engine, one row each, and a clean refusal of a size it cannot
//! build.
#![allow(clippy::unwrap_used)]

use super::common::{cli_ok, cli_usage_error};

/// The two engines' forward and backward times of each row, parsed.
fn times(row: &str) -> Vec<f64> {
    let cols: Vec<&str> = row.split('|').collect();
    assert_eq!(cols.len(), 4, "layer | flex | native | speed-up: {row}");
    [cols[1], cols[2]]
        .iter()
        .flat_map(|c| c.split_whitespace().take(2))
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn bench_layers_times_each_block_on_both_engines() {
    let out = cli_ok(
        "bench",
        &["layers", "--batch", "2", "--reps", "1", "--only", "@7"],
    );
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains('|') && !l.starts_with("layer"))
        .collect();
    // At 7×7 the canonical UNet runs 3×3 convolutions 64→64 and 128→64, a 1×1 skip, two
    // group norms, attention and the up-convolution out of 7×7.
    for name in [
        "conv3×3 64→64 @7",
        "conv3×3 128→64 @7",
        "conv1×1 128→64 @7",
        "groupnorm+silu 64 @7",
        "attention 64 @7",
        "up+conv3×3 64 @7→14",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(name)),
            "{name} missing: {out}"
        );
    }
    assert!(
        rows.iter().all(|r| r.contains("@7")),
        "--only keeps the 7×7 layers: {out}"
    );
    for r in &rows {
        let t = times(r);
        assert!(
            t.iter().all(|v| v.is_finite() && *v >= 0.0) && t[0] > 0.0 && t[2] > 0.0,
            "{r}"
        );
    }
    assert!(out.contains("sum over the network"), "{out}");
    cli_usage_error("bench", &["layers", "--size", "30"], "--size");
    cli_usage_error("bench", &["layers", "--reps", "0"], "--reps");
}
