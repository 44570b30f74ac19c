//! The WGSL tile shader (`shaders/forward_tiles.wgsl`) against the CPU path, on a headless wgpu
//! device (Mesa's lavapipe or llvmpipe is enough): the same ε gives the same x_t to 1e-5 and
//! the same colours to one level.
//!
//! These tests need a wgpu adapter, so they are `#[ignore]`d in a plain `cargo test` and run by
//! `cargo test -- --include-ignored` (CI installs mesa-vulkan-drivers). Without an adapter they
//! fail with a message saying so, rather than passing without checking anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::{ForwardView, TileKind};
use diffusion_lab::data::Dataset;
use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};
use diffusion_lab::explore::gpu::{GpuTiler, HeadlessDevice, SHADER, headless_device};
use diffusion_lab::explore::noising::{epsilon, forward, rates_f32};
use diffusion_lab::explore::tiles::{ColorMap, TileJob, TileOutput, TileSpec, render_tiles_cpu};
use std::sync::Arc;

fn device() -> HeadlessDevice {
    match headless_device() {
        Ok(d) => {
            eprintln!("wgpu adapter: {}", d.description);
            d
        }
        Err(e) => {
            eprintln!(
                "NO WGPU ADAPTER: {e}. Install Mesa (apt-get install mesa-vulkan-drivers \
                 libvulkan1) to run the GPU comparison; this test is not counted as passed."
            );
            panic!("no wgpu adapter available: {e}");
        }
    }
}

fn compare(cpu: &[TileOutput], gpu: &[TileOutput]) {
    assert_eq!(cpu.len(), gpu.len());
    for (k, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        assert_eq!(c.values.len(), g.values.len(), "tile {k}");
        let worst = c
            .values
            .iter()
            .zip(&g.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "tile {k}: x_t differs by {worst}");
        assert_eq!(c.rgba.len(), g.rgba.len(), "tile {k}");
        let off = c
            .rgba
            .iter()
            .zip(&g.rgba)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(off <= 1, "tile {k}: a colour differs by {off} levels");
        let exact = c.rgba.iter().zip(&g.rgba).filter(|(a, b)| a == b).count();
        assert!(
            exact * 1000 >= c.rgba.len() * 999,
            "tile {k}: only {exact} of {} bytes agree exactly",
            c.rgba.len()
        );
    }
}

fn job(width: usize, height: usize, channels: usize, t: usize) -> TileJob {
    let n = width * height * channels;
    let x0: Vec<f32> = (0..n)
        .map(|k| ((k * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let eps = epsilon(7, 0, n);
    let tab = ScheduleSpec::new(ScheduleKind::Cosine, 1000)
        .table()
        .unwrap();
    let (a, b) = rates_f32(&tab, t);
    let chain_like = forward(&tab, t, &x0, &epsilon(8, 0, n));
    let div = ColorMap::Diverging { range: 3.0 };
    TileJob {
        width,
        height,
        channels,
        planes: vec![Arc::new(x0), Arc::new(eps), Arc::new(chain_like)],
        tiles: vec![
            TileSpec {
                a: 1.0,
                a_plane: 0,
                b: 0.0,
                b_plane: 0,
                map: ColorMap::Data,
            },
            TileSpec {
                a: 1.0,
                a_plane: 1,
                b: 0.0,
                b_plane: 1,
                map: div,
            },
            TileSpec {
                a,
                a_plane: 0,
                b,
                b_plane: 1,
                map: ColorMap::Data,
            },
            TileSpec {
                a: 0.0,
                a_plane: 0,
                b,
                b_plane: 1,
                map: div,
            },
            TileSpec {
                a: 1.0,
                a_plane: 2,
                b: -a,
                b_plane: 0,
                map: div,
            },
        ],
    }
}

#[test]
#[ignore = "needs a wgpu adapter (Mesa lavapipe/llvmpipe is enough); run with --include-ignored"]
fn gpu_tiles_give_the_same_x_t_and_pixels_as_the_cpu() {
    let dev = device();
    let mut tiler = GpuTiler::new(&dev.device, &dev.queue, &dev.downlevel).unwrap();
    // Odd sizes exercise the workgroup bounds; gray and RGB exercise both colour paths.
    for (w, h, c, t) in [
        (28, 28, 1, 250),
        (37, 23, 3, 600),
        (64, 64, 3, 1),
        (1, 1, 1, 1000),
    ] {
        let job = job(w, h, c, t);
        let cpu = render_tiles_cpu(&job).unwrap();
        let gpu = tiler.render_blocking(&job).unwrap();
        compare(&cpu, &gpu);
    }
    assert!(
        SHADER.contains("@compute"),
        "the test uses the app's WGSL file"
    );
}

#[test]
#[ignore = "needs a wgpu adapter (Mesa lavapipe/llvmpipe is enough); run with --include-ignored"]
fn gpu_jobs_submitted_while_busy_run_in_order_without_blocking() {
    let dev = device();
    let mut tiler = GpuTiler::new(&dev.device, &dev.queue, &dev.downlevel).unwrap();
    let (j1, j2, j3) = (job(16, 16, 1, 10), job(16, 16, 1, 500), job(20, 12, 3, 900));
    tiler.submit(1, j1).unwrap();
    tiler.submit(2, j2).unwrap();
    // Job 3 replaces job 2, which never ran: a UI only needs the newest.
    tiler.submit(3, j3.clone()).unwrap();
    assert!(tiler.busy());
    let mut keys = Vec::new();
    let start = std::time::Instant::now();
    while tiler.busy() {
        assert!(start.elapsed().as_secs() < 60, "GPU jobs did not finish");
        if let Some(r) = tiler.poll() {
            let (key, tiles) = r.unwrap();
            if key == 3 {
                compare(&render_tiles_cpu(&j3).unwrap(), &tiles);
            }
            keys.push(key);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(keys, [1, 3]);
    // Malformed jobs are refused before they reach wgpu.
    let mut bad = job(4, 4, 1, 1);
    bad.tiles[0].a_plane = 9;
    assert!(tiler.submit(4, bad).is_err());
}

#[test]
#[ignore = "needs a wgpu adapter (Mesa lavapipe/llvmpipe is enough); run with --include-ignored"]
fn the_view_shows_the_same_tiles_on_the_gpu_as_on_the_cpu() {
    let dev = device();
    let ds = Dataset::new(
        "rgb",
        24,
        16,
        3,
        (0..24 * 16 * 3)
            .map(|k| (k % 255) as f32 / 127.5 - 1.0)
            .collect(),
    )
    .unwrap();
    let mut on_gpu = ForwardView::with_dataset(ds.clone());
    let tiler = GpuTiler::new(&dev.device, &dev.queue, &dev.downlevel).unwrap();
    on_gpu.attach_tiler(tiler, format!("GPU ({})", dev.description));
    let mut on_cpu = ForwardView::with_dataset(ds);
    let ctx = egui::Context::default();
    let frame = |v: &mut ForwardView| {
        let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
            let c = v.ui(ui);
            let _ = c.run(v);
        });
        // No renderer here: the texture uploads are dropped on purpose.
        out.textures_delta.clear();
    };
    for view in [&mut on_gpu, &mut on_cpu] {
        view.t = 420;
        let start = std::time::Instant::now();
        frame(view);
        while view.busy() {
            assert!(start.elapsed().as_secs() < 60, "the view did not settle");
            std::thread::sleep(std::time::Duration::from_millis(2));
            frame(view);
        }
        frame(view);
    }
    assert!(
        on_gpu.tiles_path().starts_with("GPU"),
        "{}",
        on_gpu.tiles_path()
    );
    let keys = [
        (TileKind::X0, 0),
        (TileKind::Eps, 0),
        (TileKind::Eps, 1),
        (TileKind::Xt, 0),
        (TileKind::Xt, 1),
        (TileKind::Noise, 0),
        (TileKind::Noise, 1),
    ];
    for (kind, i) in keys {
        let (g, c) = (
            on_gpu.tile_rgba(kind, i).expect("gpu tile"),
            on_cpu.tile_rgba(kind, i).expect("cpu tile"),
        );
        let off = g.iter().zip(c).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(off <= 1, "{kind:?} {i}: differs by {off}");
    }
}
