//! The 2-D toy datasets: reproducible from a seed, in range, and round-tripping through CSV.
#![allow(clippy::unwrap_used)]

use diffusion_lab::diffusion::{Component, Rng, component_summary};
use diffusion_lab::toy::csv::{CsvError, load_points, read_points, save_points, write_points};
use diffusion_lab::toy::{Drawn, Mixture2d, ToyDataset, ToyError};

fn all() -> Vec<ToyDataset> {
    ToyDataset::NAMES
        .iter()
        .map(|n| ToyDataset::from_name(n).unwrap())
        .collect()
}

#[test]
fn same_seed_same_points_other_seed_other_points() {
    for d in all() {
        let a = d.sample(500, &mut Rng::seed(7));
        assert_eq!(a.len(), 1000, "{}", d.name());
        assert_eq!(a, d.sample(500, &mut Rng::seed(7)), "{}", d.name());
        assert_ne!(a, d.sample(500, &mut Rng::seed(8)), "{}", d.name());
        assert!(d.sample(0, &mut Rng::seed(7)).is_empty());
    }
}

#[test]
fn datasets_are_roughly_in_range_and_spread_out() {
    for d in all() {
        let pts = d.sample(4000, &mut Rng::seed(1));
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in pts.chunks_exact(2) {
            for k in 0..2 {
                assert!(p[k].is_finite(), "{}", d.name());
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        // Every dataset is built to fit [−2, 2]²; Gaussian noise tails (σ ≤ 0.15 over 8000
        // coordinates, so at most ≈ 4.5σ ≈ 0.7 past a mode) may poke a little beyond.
        for k in 0..2 {
            assert!(
                lo[k] > -2.3 && hi[k] < 2.3,
                "{}: axis {k} spans {} .. {}",
                d.name(),
                lo[k],
                hi[k]
            );
            assert!(hi[k] - lo[k] > 1.0, "{}: axis {k} is degenerate", d.name());
        }
    }
}

#[test]
fn mixtures_expose_their_score_and_weights() {
    for d in all() {
        let closed_form = matches!(d.name(), "gmm" | "two-gaussians");
        assert_eq!(d.mixture().is_some(), closed_form, "{}", d.name());
    }
    let d = ToyDataset::TwoGaussians;
    let gm = d.mixture().unwrap();
    let stats = component_summary(&d.sample(10_000, &mut Rng::seed(3)), gm).unwrap();
    // Binomial standard error 0.004; 4σ.
    assert!((stats[0].weight - 0.2).abs() < 0.016, "{stats:?}");

    // Editing the mixture changes the samples. Weights are relative to the normalised ones:
    // [0.5, 0.5] with the second set to 3 becomes [0.5, 3]/3.5 = [1/7, 6/7].
    let mut m = Mixture2d::isotropic(&[[-1.0, 0.0], [1.0, 0.0]], &[1.0, 1.0], 0.1).unwrap();
    m.set_component(
        1,
        Component {
            weight: 3.0,
            mean: vec![1.0, 1.0],
            std: vec![0.1, 0.1],
        },
    )
    .unwrap();
    let d = ToyDataset::Gmm(m);
    let stats =
        component_summary(&d.sample(10_000, &mut Rng::seed(3)), d.mixture().unwrap()).unwrap();
    assert!((d.mixture().unwrap().components()[1].weight - 6.0 / 7.0).abs() < 1e-12);
    // Binomial standard error √(6/49/10⁴) = 0.0035; 4σ.
    assert!((stats[1].weight - 6.0 / 7.0).abs() < 0.014, "{stats:?}");
    let mean = stats[1].mean.as_ref().unwrap();
    assert!((mean[1] - 1.0).abs() < 0.01, "{mean:?}");
}

#[test]
fn drawn_points_need_at_least_one_point() {
    assert_eq!(ToyDataset::drawn(vec![], 0.05), Err(ToyError::EmptyDrawing));
    let d = ToyDataset::drawn(vec![[0.5, 0.5], [-0.5, 0.25]], 0.02).unwrap();
    let pts = d.sample(1000, &mut Rng::seed(0));
    // Every sample is within 5 jitter σ (0.1) of a drawn point.
    for p in pts.chunks_exact(2) {
        let near = |q: [f64; 2]| (p[0] - q[0]).hypot(p[1] - q[1]) < 0.1;
        assert!(near([0.5, 0.5]) || near([-0.5, 0.25]), "{p:?}");
    }
}

#[test]
fn csv_round_trip_is_exact() {
    let pts = ToyDataset::from_name("moons")
        .unwrap()
        .sample(300, &mut Rng::seed(4));
    let mut buf = Vec::new();
    write_points(&mut buf, &pts).unwrap();
    assert!(buf.starts_with(b"x,y\n"));
    assert_eq!(read_points(buf.as_slice()).unwrap(), pts);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moons.csv");
    save_points(&path, &pts).unwrap();
    let back = load_points(&path).unwrap();
    assert_eq!(back, pts);
    // A file of drawn points becomes a dataset.
    let drawn = Drawn::from_flat(&back, Drawn::DEFAULT_JITTER).unwrap();
    assert_eq!(drawn.points().len(), 300);

    assert!(matches!(
        save_points(&path, &[1.0, 2.0, 3.0]),
        Err(CsvError::OddLength(3))
    ));
    assert_eq!(
        load_points(&path).unwrap(),
        pts,
        "a failed save keeps the old file"
    );
    assert!(matches!(
        load_points(&dir.path().join("missing.csv")),
        Err(CsvError::Io(_))
    ));
    std::fs::write(&path, "x,y\n1,2\n3;4\n").unwrap();
    assert_eq!(
        load_points(&path).unwrap_err().to_string(),
        "line 3: x `3;4` is not a number"
    );
}
