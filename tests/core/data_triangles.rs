//! Seed 003's synthetic triangles: determinism, value sets of the three preparations, and the
//! seed's claim that the 720 → 32 route leaves fewer stray grey dots than direct drawing.

use std::time::Instant;

use diffusion_lab::data::{
    Triangle, TriangleConfig, TrianglePrep, grey_pixel_count, stray_grey_pixels, triangles,
};

fn config(count: usize, prep: TrianglePrep) -> TriangleConfig {
    TriangleConfig {
        count,
        size: 32,
        seed: 2023,
        prep,
    }
}

#[test]
fn same_seed_same_images_other_seed_other_images() {
    for prep in TrianglePrep::ALL {
        let a = triangles(&config(50, prep)).expect("generates");
        let b = triangles(&config(50, prep)).expect("generates");
        assert_eq!(a, b, "{prep:?} is deterministic");
        let c = triangles(&TriangleConfig {
            seed: 2024,
            ..config(50, prep)
        })
        .expect("generates");
        assert_ne!(a.data(), c.data(), "{prep:?} depends on the seed");
        assert_eq!(
            (a.len(), a.width(), a.height(), a.channels()),
            (50, 32, 32, 1)
        );
        assert!(a.data().iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}

#[test]
fn a_prefix_of_a_larger_set_is_the_smaller_set() {
    let small = triangles(&config(10, TrianglePrep::Direct)).expect("generates");
    let large = triangles(&config(30, TrianglePrep::Direct)).expect("generates");
    assert_eq!(large.take(10), small);
}

#[test]
fn the_three_preparations_show_the_same_triangle() {
    // Same vertices, so the ink masses agree (up to anti-aliasing of the outline) and the
    // binary image's ink sits where the others are dark.
    for k in 0..30 {
        let t = Triangle::random(2023, k, 32);
        assert!(
            t.area() >= 0.02 * 32.0 * 32.0,
            "degenerate triangles are redrawn"
        );
        let mass = |v: &[f32]| v.iter().map(|&x| f64::from(x + 1.0) / 2.0).sum::<f64>();
        let d = t.render(32, TrianglePrep::Downsampled);
        let b = t.render(32, TrianglePrep::Binary);
        let r = t.render(32, TrianglePrep::Direct);
        let area = t.area();
        assert!(
            (mass(&d) - area).abs() < 0.02 * area + 1.0,
            "downsampled {} vs {area}",
            mass(&d)
        );
        assert!(
            (mass(&b) - area).abs() < 0.25 * area + 8.0,
            "binary {} vs {area}",
            mass(&b)
        );
        assert!(mass(&r) >= mass(&d) - 1.0, "the outline only adds ink");
        for (&bv, &dv) in b.iter().zip(&d) {
            if bv > 0.0 {
                assert!(dv > -1.0, "binary ink where the area drawing has none");
            }
        }
    }
}

#[test]
fn binary_has_two_values_direct_and_downsampled_have_greys() {
    let bin = triangles(&config(200, TrianglePrep::Binary)).expect("generates");
    assert!(bin.data().iter().all(|&v| v == -1.0 || v == 1.0));
    assert!(bin.data().contains(&1.0) && bin.data().contains(&-1.0));
    for prep in [TrianglePrep::Direct, TrianglePrep::Downsampled] {
        let set = triangles(&config(20, prep)).expect("generates");
        for i in 0..set.len() {
            assert!(
                grey_pixel_count(set.image(i)) > 0,
                "{prep:?} image {i} has anti-aliased edges"
            );
        }
    }
}

#[test]
fn direct_greys_sit_at_the_edges() {
    // Every grey pixel of the direct drawing is within 1.5 px of the outline: greys are edge
    // effects, not random noise, and the fill's interior is solid.
    for k in 0..50 {
        let t = Triangle::random(7, k, 32);
        let img = t.render(32, TrianglePrep::Direct);
        for (p, &v) in img.iter().enumerate() {
            let (i, j) = (p % 32, p / 32);
            if v > -0.96 && v < 0.96 {
                assert!(
                    t.pixel_on_outline(i, j, 1.0),
                    "grey pixel ({i}, {j}) far from the edge"
                );
            }
        }
    }
}

#[test]
fn downsampling_leaves_fewer_stray_grey_dots_than_direct_drawing() {
    // The seed (§5.2, §6.1.2): drawing at 32×32 leaves grey dots around the triangle; drawing at
    // 720×720 and resizing mitigates them. Stray grey = grey pixel whose square (grown by
    // BOUNDARY_MARGIN) does not meet the exact outline.
    let n = 200;
    let (mut direct, mut down, mut binary) = (0usize, 0usize, 0usize);
    for k in 0..n {
        let t = Triangle::random(3, k, 32);
        direct += stray_grey_pixels(&t.render(32, TrianglePrep::Direct), 32, &t);
        down += stray_grey_pixels(&t.render(32, TrianglePrep::Downsampled), 32, &t);
        binary += stray_grey_pixels(&t.render(32, TrianglePrep::Binary), 32, &t);
    }
    eprintln!(
        "stray grey pixels over {n} triangles: direct {direct}, downsampled {down}, binary {binary}"
    );
    assert_eq!(binary, 0);
    assert!(
        direct >= 5 * n as usize,
        "direct drawing leaves grey dots: {direct}"
    );
    assert!(down * 10 < direct, "downsampled {down} vs direct {direct}");
}

#[test]
fn ten_thousand_triangles_of_each_preparation_are_fast_enough() {
    for prep in TrianglePrep::ALL {
        let start = Instant::now();
        let set = triangles(&TriangleConfig {
            prep,
            ..TriangleConfig::default()
        })
        .expect("generates");
        let secs = start.elapsed().as_secs_f64();
        eprintln!("10 000 triangles ({prep:?}, 32×32): {secs:.2} s");
        assert_eq!(set.len(), 10_000);
        assert!(secs < 60.0, "{prep:?} took {secs:.1} s");
    }
}
