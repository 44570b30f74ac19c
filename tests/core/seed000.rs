//! Seed 000's pieces in the core (#14 §3): its continuous schedule against the digest's
//! formula (R5), the interpolated continuous t, and its preset.
#![allow(clippy::unwrap_used)]

use diffusion_lab::config::{Preset, TimeInputKind};
use diffusion_lab::diffusion::{LossKind, LossWeighting, ScheduleKind, ScheduleSpec, Target};

/// ln ᾱ(u) = −1e−4 − 10u² (digest R5: `get_ddpm_schedule(t) = −log(expm1(1e−4 + 10t²))`,
/// ᾱ = sigmoid(λ)).
fn seed_log_alpha_bar(u: f64) -> f64 {
    // From λ: ᾱ = sigmoid(λ) = 1/(1 + e^−λ) with e^−λ = expm1(1e−4 + 10u²).
    -(1.0 + (1e-4 + 10.0 * u * u).exp_m1()).ln()
}

#[test]
fn the_v_diffusion_table_is_the_seeds_continuous_schedule() {
    for big_t in [10usize, 1000, 4000] {
        let table = ScheduleSpec::new(ScheduleKind::VDiffusion, big_t)
            .table()
            .unwrap();
        for t in 1..=big_t {
            let want = seed_log_alpha_bar(t as f64 / big_t as f64);
            let got = table.log_alpha_bar_at(t);
            assert!(
                (got - want).abs() < 1e-9 * want.abs().max(1.0),
                "T={big_t} t={t}"
            );
        }
        // The digest's endpoint: ᾱ(1) ≈ 4.54e−5.
        let end = table.alpha_bar[big_t - 1];
        assert!((end - 4.5395e-5).abs() < 1e-8, "{end}");
    }
}

#[test]
fn continuous_t_interpolates_ln_alpha_bar_between_the_steps() {
    let table = ScheduleSpec::new(ScheduleKind::VDiffusion, 1000)
        .table()
        .unwrap();
    for t in [1usize, 2, 500, 999, 1000] {
        let p = table.at_continuous(t as f64);
        assert!((p.alpha_bar - table.alpha_bar[t - 1]).abs() < 1e-15);
        assert!((p.log_snr - table.log_snr[t - 1]).abs() < 1e-9);
    }
    // Between steps, within (20/T²)/8 = 2.5e−6 of the seed's curve in ln ᾱ (its second derivative in t is 20/T²).
    for t in [1.5f64, 37.25, 500.5, 999.9] {
        let p = table.at_continuous(t);
        let want = seed_log_alpha_bar(t / 1000.0);
        assert!((p.alpha_bar.ln() - want).abs() < 2.6e-6, "t={t}");
        // λ = ln ᾱ − ln(1 − ᾱ) magnifies that where 1 − ᾱ is small (1.2e−4 at t = 1.5).
        let lambda = want - (-want.exp_m1()).ln();
        let tol = if t < 2.0 { 0.03 } else { 1e-3 };
        assert!(
            (p.log_snr - lambda).abs() < tol,
            "t={t}: {} vs {lambda}",
            p.log_snr
        );
    }
    // t → 0: λ is capped, and out-of-range t is clamped.
    assert_eq!(
        table.at_continuous(0.0).log_snr,
        diffusion_lab::diffusion::schedule::MAX_LOG_SNR
    );
    assert_eq!(table.at_continuous(2000.0), table.at_continuous(1000.0));
}

#[test]
fn the_seed000_preset_describes_folder_2_and_the_table() {
    let p = Preset::load(std::path::Path::new("presets/seed000.toml")).unwrap();
    assert_eq!(p.time_input, TimeInputKind::LogSnr);
    assert_eq!(p.schedule.kind, ScheduleKind::VDiffusion);
    assert_eq!(p.train.target, Target::V);
    assert!(p.train.continuous_time);
    let plan = p.seed000.clone().unwrap();
    assert_eq!(plan.steps, vec![5, 10, 50, 100]);
    assert_eq!(plan.images, vec![100, 500, 1000]);
    assert_eq!(plan.seeds, 5);
    assert_eq!(plan.noise_degree, 0.01);
    let f1 = Preset::load(std::path::Path::new("presets/seed000-folder1.toml")).unwrap();
    assert_eq!(f1.num_classes, 10);
    assert_eq!(f1.time_input, TimeInputKind::LogSnr);
    // The run config carries the schedule into the UNet's log-SNR input.
    let unet = p.run_config().unet(1, 28);
    assert_eq!(
        unet.time_input,
        diffusion_lab::model::TimeInput::LogSnr {
            schedule: p.schedule.clone()
        }
    );
}

#[test]
fn continuous_time_needs_the_log_snr_input_and_l_simple() {
    let mut run = Preset::load(std::path::Path::new("presets/seed000.toml"))
        .unwrap()
        .run_config();
    assert!(run.check_combination().is_ok());
    run.train.loss = LossKind::Hybrid;
    assert!(run.check_combination().unwrap_err().contains("loss"));
    run.train.loss = LossKind::Simple;
    run.time_input = TimeInputKind::Step;
    assert!(run.check_combination().unwrap_err().contains("log-snr"));
    // Every weighting has a name a preset can use.
    for w in LossWeighting::ALL {
        let text = format!("[train]\nloss_weighting = \"{}\"\n", w.name());
        assert_eq!(Preset::from_toml(&text).unwrap().train.loss_weighting, w);
    }
}
