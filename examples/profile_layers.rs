//! Per-layer profile of the canonical UNet's building blocks on burn's Flex CPU backend, at the
//! shapes the canonical config uses on 28×28×1 MNIST (B = 32 by default): which layer is the
//! slowest, and how close its convolutions get to the machine's arithmetic peak.
//!
//! ```sh
//! cargo run --release --example profile_layers [-- BATCH]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use burn::nn::conv::Conv2dConfig;
use burn::nn::{GroupNormConfig, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

/// Times `f` (which must force its result to be computed): median of `reps` after 2 warm-ups.
fn time_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..2 {
        f();
    }
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn sync<const D: usize>(t: Tensor<D>) {
    let _ = t.sum().into_data();
}

fn main() {
    let b: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    println!("burn Flex, batch {b}; median of 7 runs; fwd = forward, f+b = forward + backward");
    println!(
        "{:<34} {:>9} {:>9} {:>12} {:>7}",
        "layer [shape]", "fwd ms", "f+b ms", "GFLOP/s fwd", "count"
    );
    // (cin, cout, size, how many such convs the canonical UNet runs per forward)
    let convs = [
        (1, 32, 28, 1, "conv_in"),
        (32, 32, 28, 2, "res 28 (down)"),
        (64, 32, 28, 2, "res 28 (up, concat in)"),
        (32, 64, 14, 1, "res 14 (down, first)"),
        (64, 64, 14, 3, "res 14"),
        (128, 64, 14, 2, "res 14 (up, concat in)"),
        (64, 64, 7, 6, "res 7 + mid"),
        (128, 64, 7, 2, "res 7 (up, concat in)"),
    ];
    let mut total_fb = 0.0;
    for (cin, cout, s, count, name) in convs {
        let conv = Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&dev);
        let conv_ad = Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&ad);
        let x = Tensor::<4>::random([b, cin, s, s], Distribution::Normal(0.0, 1.0), &dev);
        let xa =
            Tensor::<4>::random([b, cin, s, s], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        let fwd = time_ms(7, || sync(conv.forward(x.clone())));
        let fb = time_ms(7, || {
            let y = conv_ad.forward(xa.clone());
            let _ = y.sum().backward();
        });
        let flops = 2.0 * (b * cout * s * s * cin * 9) as f64;
        total_fb += fb * count as f64;
        println!(
            "{:<34} {fwd:>9.2} {fb:>9.2} {:>12.1} {count:>7}",
            format!("conv3x3 {name} {cin}→{cout} @{s}"),
            flops / fwd / 1e6
        );
    }
    for (c, s) in [(32, 28), (64, 14), (64, 7)] {
        let gn = GroupNormConfig::new(8, c).init(&dev);
        let x = Tensor::<4>::random([b, c, s, s], Distribution::Normal(0.0, 1.0), &dev);
        let fwd = time_ms(7, || sync(silu(gn.forward(x.clone()))));
        // The same normalisation written with plain reductions over [B, G, C/G·H·W].
        let manual = time_ms(7, || {
            let g = 8;
            let xr = x.clone().reshape([b, g, c / g * s * s]);
            let mean = xr.clone().mean_dim(2);
            let centred = xr - mean;
            let var = centred.clone().powi_scalar(2).mean_dim(2);
            let y = (centred / (var + 1e-5).sqrt()).reshape([b, c, s, s]);
            sync(silu(y));
        });
        println!(
            "{:<34} {fwd:>9.2} {:>9} {:>12} {:>7}",
            format!("groupnorm+silu {c} @{s}"),
            "",
            "",
            ""
        );
        println!("{:<34} {manual:>9.2}", format!("  same, plain reductions"));
    }
    {
        let (c, s) = (64, 7);
        let qkv = LinearConfig::new(c, 3 * c).init(&dev);
        let x = Tensor::<3>::random([b, s * s, c], Distribution::Normal(0.0, 1.0), &dev);
        let fwd = time_ms(7, || {
            let parts = qkv.forward(x.clone()).chunk(3, 2);
            let (q, k, v) = (parts[0].clone(), parts[1].clone(), parts[2].clone());
            let a = softmax(q.matmul(k.swap_dims(1, 2)), 2);
            sync(a.matmul(v));
        });
        println!("{:<34} {fwd:>9.2}", format!("attention {c} @{s}"));
    }
    let model = diffusion_lab::model::UNetConfig::canonical(1, 28).init_seeded(&dev, 0);
    let x = Tensor::<4>::random([b, 1, 28, 28], Distribution::Normal(0.0, 1.0), &dev);
    let t = vec![500.0f32; b];
    let whole = time_ms(5, || sync(model.forward(x.clone(), &t)));
    println!("{:<34} {whole:>9.2}", "whole canonical UNet forward");
    println!("sum of conv3x3 forward+backward over the network: {total_fb:.1} ms");
}
