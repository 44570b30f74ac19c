//! `diffusion-lab bench layers`: the canonical UNet's building blocks one at a time, on burn's
//! Flex backend and on the native training pass, with their arithmetic rates.

use super::CliError;
use crate::model::{LayerSpec, canonical_layers, profile_layer};
use clap::Args;
use std::io::Write;

/// `diffusion-lab bench layers`.
#[derive(Debug, Args)]
pub struct BenchLayersArgs {
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Image side: 28 (28×28×1) or 32 (32×32×3).
    #[arg(long, default_value_t = 28)]
    pub size: usize,
    /// Timed runs per layer and engine (the median is reported; 2 warm-up runs first).
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Only the layers whose label contains this text (e.g. "conv3×3", "@14").
    #[arg(long)]
    pub only: Option<String>,
}

/// GFLOP/s of `flops` in `ms`, or "–" when either is zero.
fn rate(flops: f64, ms: f64) -> String {
    if flops > 0.0 && ms > 0.0 {
        format!("{:.1}", flops / ms / 1e6)
    } else {
        "–".into()
    }
}

pub fn bench_layers(a: &BenchLayersArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let channels = match a.size {
        28 => 1,
        32 => 3,
        s => return Err(CliError::usage(format!("--size must be 28 or 32, got {s}"))),
    };
    if a.batch == 0 || a.reps == 0 {
        return Err(CliError::usage("--batch and --reps must be positive"));
    }
    let io = |e: std::io::Error| CliError::failure(e.to_string());
    writeln!(
        out,
        "canonical UNet layers at {0}×{0}×{channels}, batch {1}, {2} threads; median of {3} runs, ms",
        a.size,
        a.batch,
        rayon::current_num_threads(),
        a.reps
    )
    .map_err(io)?;
    writeln!(
        out,
        "backward: the input and parameter gradients, timed alone after an untimed forward \
         pass; GFLOP/s count the forward as 2·MACs and the backward as twice that (the \
         up-convolution at its output size)"
    )
    .map_err(io)?;
    writeln!(
        out,
        "{:<28} {:>3} | {:>8} {:>8} {:>7} {:>7} | {:>8} {:>8} {:>7} {:>7} | {:>6}",
        "layer",
        "n",
        "flex fwd",
        "flex bwd",
        "GF/s f",
        "GF/s b",
        "nat fwd",
        "nat bwd",
        "GF/s f",
        "GF/s b",
        "speed×"
    )
    .map_err(io)?;
    let (mut total_flex, mut total_native) = (0.0, 0.0);
    let mut rows = Vec::new();
    for (spec, count) in canonical_layers(channels, a.size) {
        let label = spec.label();
        if a.only.as_ref().is_some_and(|o| !label.contains(o.as_str())) {
            continue;
        }
        let p = profile_layer(&spec, a.batch, a.reps).map_err(CliError::failure)?;
        let flops = spec.forward_flops() * a.batch as f64;
        let (fb, nb) = (p.flex.backward_ms, p.native.backward_ms);
        let (flex_fb, native_fb) = (
            p.flex.forward_ms + p.flex.backward_ms,
            p.native.forward_ms + p.native.backward_ms,
        );
        total_flex += count as f64 * flex_fb;
        total_native += count as f64 * native_fb;
        writeln!(
            out,
            "{label:<28} {count:>3} | {:>8.2} {fb:>8.2} {:>7} {:>7} | {:>8.2} {nb:>8.2} {:>7} {:>7} | {:>6.2}",
            p.flex.forward_ms,
            rate(flops, p.flex.forward_ms),
            rate(2.0 * flops, fb),
            p.native.forward_ms,
            rate(flops, p.native.forward_ms),
            rate(2.0 * flops, nb),
            flex_fb / native_fb,
        )
        .map_err(io)?;
        rows.push((spec, count, p));
    }
    writeln!(
        out,
        "sum over the network (each layer × its count), forward+backward: flex {total_flex:.1} ms, \
         native {total_native:.1} ms ({:.2}×)",
        total_flex / total_native.max(f64::MIN_POSITIVE)
    )
    .map_err(io)?;
    let conv_flops: f64 = rows
        .iter()
        .filter(|(s, _, _)| matches!(s, LayerSpec::Conv { .. } | LayerSpec::Up { .. }))
        .map(|(s, n, _)| 3.0 * s.forward_flops() * a.batch as f64 * *n as f64)
        .sum();
    let conv_native: f64 = rows
        .iter()
        .filter(|(s, _, _)| matches!(s, LayerSpec::Conv { .. } | LayerSpec::Up { .. }))
        .map(|(_, n, p)| (p.native.forward_ms + p.native.backward_ms) * *n as f64)
        .sum();
    if conv_native > 0.0 {
        writeln!(
            out,
            "convolutions alone, native: {:.1} GFLOP/s over forward+backward",
            conv_flops / conv_native / 1e6
        )
        .map_err(io)?;
    }
    Ok(())
}
