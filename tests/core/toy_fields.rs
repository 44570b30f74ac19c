//! What the 2-D lab draws: the forward scatter, the density heatmap and the GIF export.
#![allow(clippy::unwrap_used)]

use diffusion_lab::diffusion::Rng;
use diffusion_lab::toy::fields::{Grid, density_grid, forward_points};
use diffusion_lab::toy::gif::{GifStyle, render_frame, save_gif};
use diffusion_lab::toy::{Frame, ToyDataset, ToyLabConfig};
use image::AnimationDecoder;

#[test]
fn forward_points_interpolate_between_data_and_noise() {
    let table = ToyLabConfig::default().schedule.table().unwrap();
    let x0 = [1.0, -2.0, 0.5, 0.25];
    let eps = [0.3, 0.1, -1.0, 2.0];
    assert_eq!(forward_points(&table, 0, &x0, &eps), x0.to_vec());
    let t = 40;
    let (a, b) = (
        table.alpha_bar[t - 1].sqrt(),
        table.one_minus_alpha_bar[t - 1].sqrt(),
    );
    let xt = forward_points(&table, t, &x0, &eps);
    for i in 0..4 {
        assert!((xt[i] - (a * x0[i] + b * eps[i])).abs() < 1e-15);
    }
}

#[test]
fn density_heatmaps_integrate_to_one() {
    // On [−4, 4]² with 80×80 cells the Riemann sum of a density whose mass lies inside is 1
    // to within the grid error (≤ 1 %), for the exact mixture density and for the noised
    // empirical density of the shapes, at t = 0, a middle t and t = T.
    let table = ToyLabConfig::default().schedule.table().unwrap();
    let grid = Grid { half: 4.0, n: 80 };
    let cell = (2.0 * grid.half / grid.n as f64).powi(2);
    for name in ["gmm", "two-gaussians", "moons", "checker"] {
        let d = ToyDataset::from_name(name).unwrap();
        let data = d.sample(300, &mut Rng::seed(1));
        for t in [0, 20, table.steps()] {
            let p = density_grid(&d, &data, &table, t, &grid);
            assert_eq!(p.len(), 80 * 80);
            let mass: f64 = p.iter().sum::<f64>() * cell;
            // The checkerboard fills [−2, 2]²: its 0.05-wide kernels leak nothing past ±4.
            assert!((mass - 1.0).abs() < 0.01, "{name} t={t}: mass {mass}");
        }
    }
    // At t = T the marginal is N(0, I) to within √ᾱ_T ≈ 0.006 of shift: the density at the
    // origin is 1/(2π).
    let d = ToyDataset::from_name("gmm").unwrap();
    let centre = Grid { half: 0.01, n: 1 };
    let p0 = density_grid(&d, &[], &table, table.steps(), &centre)[0];
    assert!((p0 - 1.0 / std::f64::consts::TAU).abs() < 1e-3, "{p0}");
}

#[test]
fn the_gif_has_one_frame_per_recorded_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anim.gif");
    let frames: Vec<Frame> = (0..4)
        .map(|k| Frame {
            label: format!("step {k}"),
            points: vec![0.5 * k as f64 - 1.0, 0.0, 0.0, 1.0],
        })
        .collect();
    let style = GifStyle::default();
    save_gif(&path, &frames, &[0.0, 0.0], &style).unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let decoded = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(decoded.len(), 4);
    assert_eq!(decoded[0].buffer().dimensions(), (style.size, style.size));
    // A particle at (0, 1) is drawn blue at its pixel; the background is white.
    let img = render_frame(&frames[0], &[], &style);
    let px = |x: f64, y: f64| {
        let s = f64::from(style.size);
        let u = ((x + style.half) / (2.0 * style.half) * s) as u32;
        let v = ((style.half - y) / (2.0 * style.half) * s) as u32;
        img.get_pixel(u, v).0
    };
    assert_eq!(px(0.0, 1.0), [30, 90, 200, 255]);
    assert_eq!(px(1.5, -1.5), [255, 255, 255, 255]);
    // Nothing to export is an error, and no file is left behind.
    let empty = dir.path().join("empty.gif");
    assert!(save_gif(&empty, &[], &[], &style).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
