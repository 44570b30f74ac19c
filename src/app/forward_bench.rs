//! The frame-time benchmark of the forward explorer: the whole view (layout, x_t, tiles,
//! textures, histogram, plots, tessellation) on a 64×64 RGB image under four schedules, with t
//! moving every frame as when the slider is dragged. Only the final rasterisation by the GPU
//! driver is left out.

use super::ForwardView;
use crate::data::Dataset;
use crate::diffusion::{Rng, ScheduleKind, ScheduleSpec};
use crate::explore::ExploreError;
use std::time::Instant;

/// Frame-time statistics in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameStats {
    /// Frames timed (after the warm-up).
    pub frames: usize,
    /// Mean frame time.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// Slowest frame.
    pub max_ms: f64,
    /// Where the tiles ran ("CPU" or the GPU adapter).
    pub tiles_on: String,
}

impl FrameStats {
    /// Statistics of frame times `ms` (milliseconds; an empty list gives zeros).
    pub fn of(mut ms: Vec<f64>, tiles_on: String) -> Self {
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let pct = |p: f64| {
            ms.get(((n.max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Self {
            frames: n,
            mean_ms: ms.iter().sum::<f64>() / n.max(1) as f64,
            p50_ms: pct(0.5),
            p95_ms: pct(0.95),
            max_ms: pct(1.0),
            tiles_on,
        }
    }
}

impl std::fmt::Display for FrameStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frames, tiles on {}: mean {:.2} ms, median {:.2} ms, p95 {:.2} ms, max {:.2} ms \
             ({:.0} fps at the mean)",
            self.frames,
            self.tiles_on,
            self.mean_ms,
            self.p50_ms,
            self.p95_ms,
            self.max_ms,
            1000.0 / self.mean_ms.max(1e-9)
        )
    }
}

/// The benchmark's scene: a 64×64 RGB image under four schedules (linear, cosine, sigmoid,
/// scaled-linear; T = 1000), one shared ε. Shared by this benchmark and `bench window`.
pub fn bench_view() -> Result<ForwardView, ExploreError> {
    let side = 64;
    let mut rng = Rng::seed(64);
    let data: Vec<f32> = (0..3 * side * side)
        .map(|_| (rng.uniform() * 2.0 - 1.0) as f32)
        .collect();
    let ds = Dataset::new("bench-rgb-64", side, side, 3, data)?;
    let mut view = ForwardView::with_dataset(ds);
    for kind in [ScheduleKind::Sigmoid, ScheduleKind::ScaledLinear] {
        view.add_schedule(ScheduleSpec::new(kind, 1000));
    }
    Ok(view)
}

/// Times `frames` frames of the explorer at 1280×800 on a 64×64 RGB image with four schedules
/// (linear, cosine, sigmoid, scaled-linear; T = 1000), moving t by 7 steps per frame. With
/// `gpu`, the tiles run on that device's compute shader.
pub fn bench_forward_frame(
    frames: usize,
    gpu: Option<&crate::explore::gpu::HeadlessDevice>,
) -> Result<FrameStats, ExploreError> {
    let mut view = bench_view()?;
    if let Some(dev) = gpu {
        let tiler = crate::explore::GpuTiler::new(&dev.device, &dev.queue, &dev.downlevel)
            .map_err(|e| ExploreError::Internal(e.to_string()))?;
        view.attach_tiler(tiler, format!("GPU ({})", dev.description));
    }
    let ctx = egui::Context::default();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    };
    let frame = |view: &mut ForwardView| {
        let mut out = ctx.run_ui(input(), |ui| {
            let c = view.ui(ui);
            let _ = c.run(view);
        });
        let _ = ctx.tessellate(std::mem::take(&mut out.shapes), out.pixels_per_point);
        // No renderer: the texture uploads (already prepared as deltas) are dropped.
        out.textures_delta.clear();
    };
    for _ in 0..20 {
        frame(&mut view);
    }
    let mut times = Vec::with_capacity(frames);
    for k in 0..frames.max(1) {
        view.t = (250 + 7 * k) % 1001;
        let start = Instant::now();
        frame(&mut view);
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(FrameStats::of(times, view.tiles_path()))
}
