//! Frame time of the forward-process explorer: a 64×64 RGB image under four schedules, t moving
//! every frame as when the slider is dragged (see BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release --example bench_forward            # tiles on the CPU
//! cargo run --release --example bench_forward -- --gpu  # tiles on a headless wgpu device
//! cargo run --release --example bench_forward -- --render  # plus rasterising every frame
//! ```
//!
//! The first two time everything the UI thread does (`explore::bench_forward_frame`). `--render`
//! also rasterises each frame with egui's wgpu renderer on a headless device and reads it back
//! (egui_kittest), an upper bound on what presenting a frame costs.

use diffusion_lab::app::{ForwardView, bench_forward_frame};
use diffusion_lab::data::Dataset;
use diffusion_lab::diffusion::{Rng, ScheduleKind, ScheduleSpec};
use diffusion_lab::explore::headless_device;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let flag = |f: &str| std::env::args().any(|a| a == f);
    let frames = std::env::args()
        .filter_map(|a| a.parse::<usize>().ok())
        .next()
        .unwrap_or(600);
    if flag("--render") {
        return render(frames.min(300));
    }
    let device = if flag("--gpu") {
        match headless_device() {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    match bench_forward_frame(frames, device.as_ref()) {
        Ok(stats) => {
            println!("forward explorer, 1280×800, 64×64 RGB, 4 schedules: {stats}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn render(frames: usize) -> ExitCode {
    let side = 64;
    let mut rng = Rng::seed(64);
    let data: Vec<f32> = (0..3 * side * side)
        .map(|_| (rng.uniform() * 2.0 - 1.0) as f32)
        .collect();
    let Ok(ds) = Dataset::new("bench-rgb-64", side, side, 3, data) else {
        return ExitCode::from(1);
    };
    let mut view = ForwardView::with_dataset(ds);
    for kind in [ScheduleKind::Sigmoid, ScheduleKind::ScaledLinear] {
        view.add_schedule(ScheduleSpec::new(kind, 1000));
    }
    let mut h = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_ui_state(
            |ui, v: &mut ForwardView| {
                let c = v.ui(ui);
                let _ = c.run(v);
            },
            view,
        );
    for _ in 0..20 {
        h.step();
        if let Err(e) = h.render() {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    }
    let (mut ui_ms, mut total_ms) = (Vec::new(), Vec::new());
    for k in 0..frames {
        h.state_mut().t = (250 + 7 * k) % 1001;
        let start = Instant::now();
        h.step();
        let ui_done = start.elapsed();
        if let Err(e) = h.render() {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        ui_ms.push(ui_done.as_secs_f64() * 1e3);
        total_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        (
            v.iter().sum::<f64>() / n as f64,
            v[n / 2],
            v[((n as f64 - 1.0) * 0.95) as usize],
        )
    };
    let (u, t) = (stats(&mut ui_ms), stats(&mut total_ms));
    println!(
        "forward explorer + wgpu rasterise/readback, {frames} frames: UI mean {:.2} ms \
         (median {:.2}, p95 {:.2}); with rendering mean {:.2} ms (median {:.2}, p95 {:.2})",
        u.0, u.1, u.2, t.0, t.1, t.2
    );
    ExitCode::SUCCESS
}
