//! The forward explorer's logic: statistics of the noising it shows, closed form against the
//! step-by-step chain, strips, histograms, colour maps, sheets and data sources. Seeded; no
//! network, no window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::data::{Dataset, TriangleConfig, TrianglePrep, triangles};
use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec, ScheduleTable};
use diffusion_lab::explore::histogram::{Histogram, normal_density};
use diffusion_lab::explore::noising::{
    Chain, Planar, chain_to, epsilon, forward, noise_stream, pixel_parts, split_grid,
};
use diffusion_lab::explore::source::{Source, TRIANGLE_COUNT};
use diffusion_lab::explore::strip::{
    SHEET_GAP, SheetLayout, StripSpacing, compose_sheet, log_snr_levels, strip_timesteps, write_png,
};
use diffusion_lab::explore::tiles::{
    ColorMap, TileJob, TileSpec, color_pixel, data_byte, diverging_rgb, render_tiles_cpu,
};
use diffusion_lab::explore::{ExploreError, noising};
use std::sync::Arc;

fn table(kind: ScheduleKind) -> Arc<ScheduleTable> {
    Arc::new(ScheduleSpec::new(kind, 1000).table().unwrap())
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v)
}

/// Two-sample Kolmogorov–Smirnov statistic.
fn ks(a: &[f64], b: &[f64]) -> f64 {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            i += 1;
        } else {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

// ------------------------------------------------------------------ statistics

#[test]
fn forward_on_a_constant_image_has_per_pixel_mean_sqrt_abar_c_and_variance_one_minus_abar() {
    let c = 0.6f32;
    let (w, h) = (8, 8);
    let x0 = vec![c; w * h];
    let draws = 4000;
    for kind in [ScheduleKind::Linear, ScheduleKind::Cosine] {
        let tab = table(kind);
        for t in [1, 50, 250, 600, 1000] {
            let mut per_pixel = vec![Vec::with_capacity(draws); w * h];
            for seed in 0..draws as u64 {
                let eps = epsilon(seed, 0, w * h);
                for (p, v) in forward(&tab, t, &x0, &eps).into_iter().enumerate() {
                    per_pixel[p].push(f64::from(v));
                }
            }
            let ab = tab.alpha_bar_at(t);
            let (mean_want, var_want) = (ab.sqrt() * f64::from(c), 1.0 - ab);
            let n = draws as f64;
            // 5 standard errors: of the mean σ/√n, of the variance σ²·√(2/(n − 1)).
            let (tol_m, tol_v) = (
                5.0 * var_want.sqrt() / n.sqrt(),
                5.0 * var_want * (2.0 / (n - 1.0)).sqrt(),
            );
            for (p, xs) in per_pixel.iter().enumerate() {
                let (m, v) = mean_var(xs);
                assert!(
                    (m - mean_want).abs() < tol_m,
                    "{kind} t={t} pixel {p}: mean {m} vs √ᾱ·c = {mean_want}"
                );
                assert!(
                    (v - var_want).abs() < tol_v,
                    "{kind} t={t} pixel {p}: variance {v} vs 1 − ᾱ = {var_want}"
                );
            }
        }
    }
}

#[test]
fn forward_at_t0_is_the_data_and_matches_the_core_q_sample() {
    let tab = table(ScheduleKind::Linear);
    let x0: Vec<f32> = (0..50).map(|k| (k as f32 / 25.0) - 1.0).collect();
    let eps = epsilon(9, 0, x0.len());
    assert_eq!(forward(&tab, 0, &x0, &eps), x0);
    let mut core = vec![0.0f32; x0.len()];
    diffusion_lab::diffusion::process::q_sample(&tab, 400, &x0, &eps, &mut core);
    for (a, b) in forward(&tab, 400, &x0, &eps).iter().zip(&core) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // t past T is clamped to T.
    assert_eq!(
        forward(&tab, 5000, &x0, &eps),
        forward(&tab, 1000, &x0, &eps)
    );
}

#[test]
fn chain_and_closed_form_agree_in_distribution_at_explorer_level() {
    // A non-constant image: each pixel's x_t must be N(√ᾱ·x₀, 1 − ᾱ) either way, so the
    // standardised values (x_t − √ᾱ·x₀)/√(1 − ᾱ) of both methods are N(0, 1) samples.
    let x0: Vec<f32> = (0..256).map(|k| ((k % 17) as f32 / 8.0) - 1.0).collect();
    for (kind, t) in [(ScheduleKind::Linear, 120), (ScheduleKind::Cosine, 400)] {
        let tab = table(kind);
        let (a, b) = (
            tab.alpha_bar_at(t).sqrt(),
            tab.one_minus_alpha_bar_at(t).sqrt(),
        );
        let standardise = |xt: &[f32], out: &mut Vec<f64>| {
            for (x, &x0v) in xt.iter().zip(&x0) {
                out.push((f64::from(*x) - a * f64::from(x0v)) / b);
            }
        };
        let (mut closed, mut chained) = (Vec::new(), Vec::new());
        for seed in 0..24 {
            let eps = epsilon(seed, 0, x0.len());
            standardise(&forward(&tab, t, &x0, &eps), &mut closed);
            standardise(&chain_to(&x0, &tab, 0, seed, t), &mut chained);
        }
        for (name, xs) in [("closed form", &closed), ("chain", &chained)] {
            let (m, v) = mean_var(xs);
            assert!(m.abs() < 0.06, "{kind} t={t} {name}: mean {m}");
            assert!((v - 1.0).abs() < 0.08, "{kind} t={t} {name}: variance {v}");
        }
        let n = closed.len() as f64;
        let d = ks(&closed, &chained);
        // KS critical value at α = 0.001: 1.95·√(2/n).
        assert!(d < 1.95 * (2.0 / n).sqrt(), "{kind} t={t}: KS D = {d}");
        // Same distribution, different pixels: the chain does not reuse ε.
        assert_ne!(closed[..16], chained[..16]);
    }
}

#[test]
fn chain_going_back_uses_checkpoints_and_gives_the_same_pixels() {
    let x0: Vec<f32> = (0..64).map(|k| (k as f32 / 32.0) - 1.0).collect();
    let tabs = [table(ScheduleKind::Linear), table(ScheduleKind::Cosine)];
    let mut chain = Chain::new(&x0, &tabs, &[0, 0], 5, 1 << 20);
    assert!(chain.advance(700, None));
    assert_eq!((chain.t(0), chain.t(1)), (Some(700), Some(700)));
    assert!(chain.advance(123, None));
    let fresh = chain_to(&x0, &tabs[0], 0, 5, 123);
    assert_eq!(chain.x(0).unwrap(), fresh.as_slice());
    // Both schedules drew the same z's: with the same schedule they would be identical.
    let twin = [tabs[0].clone(), tabs[0].clone()];
    let mut same = Chain::new(&x0, &twin, &[0, 0], 5, 1 << 20);
    same.advance(300, None);
    assert_eq!(same.x(0), same.x(1));
    let mut indep = Chain::new(&x0, &twin, &[0, 1], 5, 1 << 20);
    indep.advance(300, None);
    assert_ne!(indep.x(0), indep.x(1));
}

#[test]
fn chain_with_a_past_deadline_does_no_work_and_reports_it() {
    let x0 = vec![0.0f32; 16];
    let tab = table(ScheduleKind::Linear);
    let mut chain = Chain::new(&x0, std::slice::from_ref(&tab), &[0], 1, 1 << 20);
    let past = std::time::Instant::now() - std::time::Duration::from_millis(1);
    assert!(!chain.advance(10, Some(past)));
    assert_eq!(chain.t(0), Some(0));
    assert!(chain.advance(10, None));
    assert_eq!(chain.t(0), Some(10));
}

#[test]
fn noise_streams_share_eps_only_when_locked() {
    assert_eq!(noise_stream(0, true), noise_stream(3, true));
    assert_ne!(noise_stream(0, false), noise_stream(1, false));
    assert_eq!(epsilon(4, 0, 10), epsilon(4, 0, 10));
    assert_ne!(epsilon(4, 0, 10), epsilon(4, 1, 10));
    assert_ne!(epsilon(4, 0, 10), epsilon(5, 0, 10));
}

#[test]
fn pixel_parts_split_x_t_into_signal_and_noise() {
    let tab = table(ScheduleKind::Cosine);
    let x0 = vec![0.5f32, -0.25];
    let eps = vec![1.0f32, -2.0];
    let xt = forward(&tab, 300, &x0, &eps);
    let p = pixel_parts(&tab, 300, &x0, &xt, 1).unwrap();
    let (a, b) = noising::rates_f32(&tab, 300);
    assert_eq!(p.x0, -0.25);
    assert_eq!(p.xt, xt[1]);
    assert!((p.signal - a * -0.25).abs() < 1e-7);
    assert!((p.noise - b * -2.0).abs() < 1e-6);
    assert!(pixel_parts(&tab, 300, &x0, &xt, 2).is_none());
}

// ------------------------------------------------------------------ strips

#[test]
fn equal_t_strips_run_from_the_data_to_t() {
    let lin = table(ScheduleKind::Linear);
    let short = Arc::new(ScheduleSpec::new(ScheduleKind::Linear, 10).table().unwrap());
    let cols = strip_timesteps(&[&lin, &short], 5, StripSpacing::EqualT);
    assert_eq!(cols[0], [0, 250, 500, 750, 1000]);
    assert_eq!(cols[1], [0, 3, 5, 8, 10]);
    // Clamped to at least 2 columns.
    assert_eq!(
        strip_timesteps(&[&lin], 0, StripSpacing::EqualT)[0],
        [0, 1000]
    );
}

#[test]
fn equal_log_snr_strips_share_levels_across_schedules() {
    let lin = table(ScheduleKind::Linear);
    let cos = table(ScheduleKind::Cosine);
    let cols = strip_timesteps(&[&lin, &cos], 8, StripSpacing::EqualLogSnr);
    let levels = log_snr_levels(&[&lin, &cos], 8);
    assert_eq!(levels.len(), 7);
    for (tab, ts) in [(&lin, &cols[0]), (&cos, &cols[1])] {
        assert_eq!(ts.len(), 8);
        assert_eq!(ts[0], 0);
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
        // Each column k ≥ 1 is the first t at or below its level.
        for (k, &t) in ts.iter().enumerate().skip(1) {
            let l = levels[k - 1];
            if t < tab.steps() {
                assert!(tab.log_snr[t - 1] <= l, "t={t} level={l}");
                assert!(t == 1 || tab.log_snr[t - 2] > l, "t={t} level={l}");
            }
        }
    }
    // The levels are evenly spaced over the range both schedules cover: from the lower
    // log-SNR at t = 1 to the higher one at T (linear's, about -10.1).
    let hi = lin.log_snr[0].min(cos.log_snr[0]);
    let lo = lin.log_snr[999].max(cos.log_snr[999]);
    assert!((levels[0] - hi).abs() < 1e-12 && (levels[6] - lo).abs() < 1e-12);
    let step = levels[1] - levels[0];
    assert!(
        levels
            .windows(2)
            .all(|w| ((w[1] - w[0]) - step).abs() < 1e-9)
    );
    // Linear reaches the lowest level only at T; cosine gets there earlier.
    assert_eq!(*cols[0].last().unwrap(), 1000);
    assert!(*cols[1].last().unwrap() < 1000);
    // Columns are distinct: no level is wasted past the end of a schedule.
    assert!(cols[0].windows(2).all(|w| w[0] < w[1]), "{:?}", cols[0]);
    assert!(cols[1].windows(2).all(|w| w[0] < w[1]), "{:?}", cols[1]);
}

// ------------------------------------------------------------------ histograms

#[test]
fn histogram_of_normal_samples_matches_the_density() {
    let xs: Vec<f32> = epsilon(11, 0, 200_000);
    let h = Histogram::new(&xs, -4.0, 4.0, 64);
    assert!((h.mass() - 1.0).abs() < 1e-3, "mass {}", h.mass());
    for (k, &d) in h.density.iter().enumerate() {
        let x = -4.0 + (k as f64 + 0.5) * h.bin_width();
        assert!(
            (d - normal_density(x)).abs() < 0.02,
            "bin at {x}: {d} vs {}",
            normal_density(x)
        );
    }
    let pts = h.polygon_points();
    assert_eq!(pts.len(), 64 + 2);
    assert_eq!(pts[0], [-4.0, 0.0]);
    assert_eq!(pts[1][0], -4.0 + 0.0625);
    // Values outside the range count in the total only.
    let h = Histogram::new(&[10.0, 0.0], -1.0, 1.0, 2);
    assert!((h.mass() - 0.5).abs() < 1e-12);
}

// ------------------------------------------------------------------ colours and tiles

#[test]
fn colour_maps_have_the_documented_ends() {
    assert_eq!(data_byte(-1.0), 0);
    assert_eq!(data_byte(1.0), 255);
    assert_eq!(data_byte(0.0), 128);
    assert_eq!(data_byte(7.0), 255);
    assert_eq!(data_byte(-7.0), 0);
    assert_eq!(diverging_rgb(0.0, 3.0), [247, 247, 247]);
    assert_eq!(diverging_rgb(-3.0, 3.0), [33, 102, 172]);
    assert_eq!(diverging_rgb(9.0, 3.0), [178, 24, 43]);
    assert_eq!(color_pixel([0.5, 0.0, 0.0], 1, ColorMap::Data), {
        let g = data_byte(0.5);
        [g, g, g, 255]
    });
    // RGB noise: one scalar, the channel sum / √3.
    let s = 3.0f32.sqrt();
    assert_eq!(
        color_pixel([s, s, s], 3, ColorMap::Diverging { range: 3.0 }),
        [178, 24, 43, 255]
    );
}

#[test]
fn cpu_tiles_compute_a_times_a_plus_b_times_b() {
    let (w, h, c) = (5, 3, 3);
    let n = w * h * c;
    let x0: Vec<f32> = (0..n).map(|k| k as f32 / n as f32 * 2.0 - 1.0).collect();
    let eps = epsilon(2, 0, n);
    let tab = table(ScheduleKind::Linear);
    let (a, b) = noising::rates_f32(&tab, 500);
    let job = TileJob {
        width: w,
        height: h,
        channels: c,
        planes: vec![Arc::new(x0.clone()), Arc::new(eps.clone())],
        tiles: vec![
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
                map: ColorMap::Diverging { range: 3.0 },
            },
        ],
    };
    let out = render_tiles_cpu(&job).unwrap();
    assert_eq!(out[0].values, forward(&tab, 500, &x0, &eps));
    assert_eq!(out[0].rgba.len(), w * h * 4);
    assert!(out[1].values.iter().zip(&eps).all(|(v, e)| *v == b * e));
    let bad = TileJob {
        tiles: vec![TileSpec {
            a: 1.0,
            a_plane: 7,
            b: 0.0,
            b_plane: 0,
            map: ColorMap::Data,
        }],
        ..job
    };
    assert!(render_tiles_cpu(&bad).is_err());
}

// ------------------------------------------------------------------ grids, sheets, PNG

#[test]
fn grid_of_a_batch_and_split_back() {
    let ds = Dataset::new("four", 2, 2, 1, (0..16).map(|k| k as f32 / 16.0).collect()).unwrap();
    let g = Planar::grid(&ds, 0, 2).unwrap();
    assert_eq!((g.width, g.height, g.channels), (4, 4, 1));
    // Row 0 of the grid: image 0's row 0, then image 1's row 0.
    assert_eq!(&g.data[0..4], &[0.0, 1.0 / 16.0, 4.0 / 16.0, 5.0 / 16.0]);
    assert_eq!(split_grid(&g.data, 4, 4, 1, 2), ds.data());
    // Cells past the end stay black.
    let tail = Planar::grid(&ds, 3, 2).unwrap();
    assert_eq!(tail.data[2], -1.0);
    let e = Planar::grid(&ds, 4, 1).unwrap_err();
    assert!(e.to_string().contains("--index"), "{e}");
    let e = Planar::grid(&ds, 0, 9).unwrap_err();
    assert!(e.to_string().contains("--grid"), "{e}");
}

#[test]
fn sheet_has_the_documented_size_and_is_written_atomically() {
    let layout = SheetLayout {
        rows: 2,
        cols: 3,
        tile_w: 4,
        tile_h: 5,
        scale: 3,
    };
    let g = u64::from(SHEET_GAP);
    assert_eq!(layout.size(), (3 * 12 + 4 * g, 2 * 15 + 3 * g));
    let tile = vec![200u8; 4 * 5 * 4];
    let tiles: Vec<&[u8]> = vec![&tile; 6];
    let img = compose_sheet(layout, &tiles).unwrap();
    assert_eq!(
        (u64::from(img.width()), u64::from(img.height())),
        layout.size()
    );
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255, 255]);
    assert_eq!(img.get_pixel(SHEET_GAP, SHEET_GAP).0, [200, 200, 200, 200]);
    assert!(compose_sheet(layout, &tiles[..5]).is_err());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sheet.png");
    write_png(&p, &img).unwrap();
    let back = image::open(&p).unwrap();
    assert_eq!((back.width(), back.height()), (img.width(), img.height()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let err = write_png(std::path::Path::new("/nonexistent-dir/x.png"), &img).unwrap_err();
    assert!(matches!(err, ExploreError::Write { .. }));
}

// ------------------------------------------------------------------ sources

#[test]
fn sources_parse_names_and_refuse_unknown_ones_naming_data() {
    use diffusion_lab::data::ColorMode;
    assert_eq!(
        Source::parse("mnist", None, ColorMode::Rgb).unwrap(),
        Source::Bundled("mnist".into())
    );
    assert_eq!(
        Source::parse("triangles-down", None, ColorMode::Rgb).unwrap(),
        Source::Triangles {
            prep: TrianglePrep::Downsampled,
            size: 32
        }
    );
    let e = Source::parse("no-such-set", None, ColorMode::Rgb).unwrap_err();
    assert!(e.to_string().contains("--data"), "{e}");
    assert!(e.to_string().contains("mnist"), "{e}");
    let e = Source::parse("triangles-binary", Some(2), ColorMode::Rgb).unwrap_err();
    assert!(e.to_string().contains("--size"), "{e}");
}

#[test]
fn triangles_are_rendered_one_by_one_and_match_the_data_layer() {
    let src = Source::Triangles {
        prep: TrianglePrep::Binary,
        size: 32,
    };
    let some = src.load_range(2, 3).unwrap();
    let all = triangles(&TriangleConfig {
        count: 5,
        size: 32,
        seed: 3,
        prep: TrianglePrep::Binary,
    })
    .unwrap();
    assert_eq!(some.data(), &all.data()[2 * 1024..5 * 1024]);
    assert_eq!(src.load_range(TRIANGLE_COUNT - 1, 1).unwrap().len(), 1);
    let e = src.load_range(TRIANGLE_COUNT, 1).unwrap_err();
    assert!(e.to_string().contains("--index"), "{e}");
}
