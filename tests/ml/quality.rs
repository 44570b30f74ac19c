//! The bundled classifiers and the quality table on real images: held-out digits score as
//! real digits do, noise as noise, real vs real sits at the floor, and KID is unbiased there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::metrics::stats::{fid, inception_score, kid, mean_std};
use diffusion_lab::metrics::{FEATURES, FeatureNet, Reference, reference_rows};

#[test]
fn the_bundled_classifiers_reach_their_recorded_accuracy() {
    for (name, floor) in [("mnist", 0.97), ("fashion-mnist", 0.80)] {
        let net = FeatureNet::bundled(name).unwrap();
        assert_eq!(net.info.data, name);
        let held = net.held_out().unwrap();
        assert_eq!(held.len(), net.info.held_out_images);
        let acc = net.accuracy(&held).unwrap();
        assert!(acc >= floor, "{name}: {acc}");
        assert!(
            (acc - net.info.held_out_accuracy).abs() < 1e-9,
            "{name}: measured {acc}, recorded {}",
            net.info.held_out_accuracy
        );
    }
}

#[test]
fn real_digits_score_as_real_and_noise_as_noise() {
    let net = FeatureNet::bundled("mnist").unwrap();
    let rf = Reference::new(&net).unwrap();
    assert_eq!(rf.reference.n, 1000);
    // Held-out real digits: IS ≥ 8.5 (10 balanced classes, confidently classified).
    let is_real = inception_score(&rf.pool.probs, net.classes());
    assert!(is_real >= 8.5, "IS of held-out digits {is_real}");
    let rows = reference_rows(&net, &rf, 1000, 2, 0).unwrap();
    let (real, noise, blurred) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!(real.n, 1000);
    // The floor: real vs real at n = 1000 is ≤ 1% of real vs noise.
    assert!(
        real.fid.mean <= 0.01 * noise.fid.mean,
        "FID real {} vs noise {}",
        real.fid.mean,
        noise.fid.mean
    );
    // Noise: IS ≈ 1 (the classifier puts all of it in one class), no precision or recall.
    assert!(
        (noise.is.mean - 1.0).abs() < 0.2,
        "IS of noise {}",
        noise.is.mean
    );
    assert!(noise.precision.mean < 0.05 && noise.recall.mean < 0.05);
    // Blurred digits sit between the two.
    assert!(blurred.fid.mean > real.fid.mean && blurred.fid.mean < noise.fid.mean);
    assert!(real.precision.mean > 0.8 && real.recall.mean > 0.8);
    assert_eq!(real.histogram.iter().sum::<usize>(), 2000);
}

#[test]
fn kid_is_unbiased_on_real_versus_real_features() {
    // Shuffled halves of the held-out digits against the reference: the mean KID over the
    // shuffles is within 2 standard errors of 0, while their FID is clearly positive (FID is
    // biased upwards at finite n; KID is not).
    let net = FeatureNet::bundled("mnist").unwrap();
    let rf = Reference::new(&net).unwrap();
    let mut rng = diffusion_lab::diffusion::Rng::seed(5);
    let (mut kids, mut fids) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let mut order: Vec<usize> = (0..rf.pool.n).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let rows: Vec<f64> = order[..500]
            .iter()
            .flat_map(|&i| rf.pool.features[i * FEATURES..(i + 1) * FEATURES].to_vec())
            .collect();
        kids.push(kid(&rows, &rf.reference.features, FEATURES, 10).0);
        fids.push(fid(&rows, &rf.reference.features, FEATURES));
    }
    let (k, sd) = mean_std(&kids);
    let se = sd / (kids.len() as f64).sqrt();
    // The shuffles share images, so the spread across them understates the error; use each
    // set's own block standard error as well.
    let block_se = kid(&rf.pool.features, &rf.reference.features, FEATURES, 10).1;
    assert!(
        k.abs() <= 2.0 * se.max(block_se),
        "KID {k}, se {se}, block se {block_se}"
    );
    assert!(mean_std(&fids).0 > 0.0);
}
