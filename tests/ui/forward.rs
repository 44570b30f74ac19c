//! UI tests of the forward-process explorer with egui_kittest (no display needed): the default
//! view, the t slider, the same-noise lock, reseeding, the chain mode, the pixel readout,
//! schedules, strips and the exports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::{DiffusionApp, ForwardView, NoiseMode, TileKind};
use diffusion_lab::config::View;
use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};
use diffusion_lab::explore::StripSpacing;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

fn harness(view: ForwardView) -> Harness<'static, ForwardView> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, v: &mut ForwardView| {
                let c = v.ui(ui);
                let _ = c.run(v);
            },
            view,
        )
}

/// Steps frames until the view has loaded its data and finished its work.
fn settle(h: &mut Harness<'static, ForwardView>) {
    let start = Instant::now();
    h.step();
    while h.state().busy() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the view did not settle"
        );
        std::thread::sleep(Duration::from_millis(5));
        h.step();
    }
    h.step();
    h.step();
}

fn mnist_view() -> Harness<'static, ForwardView> {
    let mut h = harness(ForwardView::default());
    settle(&mut h);
    h
}

#[test]
fn default_view_is_mnist_image_0_under_linear_and_cosine_at_t_250() {
    let h = mnist_view();
    let v = h.state();
    assert_eq!(v.dataset().unwrap().name(), "mnist");
    assert_eq!(v.index, 0);
    assert_eq!(v.t, 250);
    let kinds: Vec<_> = v.schedules.iter().map(|s| s.spec.kind).collect();
    assert_eq!(kinds, [ScheduleKind::Linear, ScheduleKind::Cosine]);
    assert_eq!(v.schedules[0].spec.steps, 1000);
    assert_eq!((v.shown_t(0), v.shown_t(1)), (Some(250), Some(250)));
    assert_eq!(v.mode, NoiseMode::ClosedForm);
    assert!(v.same_noise);
    // ᾱ_250 is 0.5241 for linear and 0.8470 for cosine (`diffusion-lab schedule`).
    h.get_by_label("t = 250 · ᾱ = 0.524");
    h.get_by_label("t = 250 · ᾱ = 0.847");
    for kind in [TileKind::Xt, TileKind::Noise, TileKind::Eps] {
        assert_eq!(v.tile_rgba(kind, 0).unwrap().len(), 28 * 28 * 4);
    }
    assert_eq!(v.strip_ts(0).unwrap().len(), 8);
    h.get_by_label("Strips: x_t at equal steps of t");
    h.get_by_label("Pixel values of x_t against N(0, 1)");
    assert!(
        v.status_text()
            .starts_with("MNIST #0 · 2 schedules · t = 250")
    );
}

#[test]
fn moving_the_slider_changes_the_displayed_t_and_image() {
    let mut h = mnist_view();
    let before_rgba = h.state().tile_rgba(TileKind::Xt, 0).unwrap().to_vec();
    let before_xt = h.state().xt(0).unwrap().to_vec();
    h.get_by_role_and_label(Role::Slider, "Time step t")
        .set_value_accesskit(600.0);
    settle(&mut h);
    let v = h.state();
    assert_eq!(v.t, 600);
    assert_eq!(v.shown_t(0), Some(600));
    assert_eq!(h.get_all_by_label_contains("t = 600 · ᾱ = ").count(), 2);
    assert!(h.query_by_label_contains("t = 250 · ᾱ").is_none());
    assert_ne!(v.xt(0).unwrap(), before_xt.as_slice());
    assert_ne!(
        v.tile_rgba(TileKind::Xt, 0).unwrap(),
        before_rgba.as_slice()
    );
    // x₀ and ε did not move.
    let eps_before = v.eps(0).unwrap().to_vec();
    h.get_by_role_and_label(Role::Slider, "Time step t")
        .set_value_accesskit(0.0);
    settle(&mut h);
    let v = h.state();
    assert_eq!(v.eps(0).unwrap(), eps_before.as_slice());
    // At t = 0, x_t is the data.
    assert_eq!(v.xt(0).unwrap(), v.x0().unwrap().data.as_slice());
    assert_eq!(
        v.tile_rgba(TileKind::Xt, 0).unwrap(),
        v.tile_rgba(TileKind::X0, 0).unwrap()
    );
}

#[test]
fn the_lock_keeps_one_eps_for_every_schedule() {
    let mut h = mnist_view();
    let eps0 = h.state().eps(0).unwrap().to_vec();
    assert_eq!(h.state().eps(1).unwrap(), eps0.as_slice());
    assert_eq!(
        h.state().tile_rgba(TileKind::Eps, 0),
        h.state().tile_rgba(TileKind::Eps, 1)
    );
    // Changing a schedule changes x_t, not ε.
    let xt1 = h.state().xt(1).unwrap().to_vec();
    h.state_mut().schedules[1].spec.kind = ScheduleKind::Sigmoid;
    settle(&mut h);
    assert_ne!(h.state().xt(1).unwrap(), xt1.as_slice());
    assert_eq!(h.state().eps(0).unwrap(), eps0.as_slice());
    assert_eq!(h.state().eps(1).unwrap(), eps0.as_slice());
    // Unlock: every schedule gets its own ε.
    h.get_by_label("Same ε for every schedule").click();
    settle(&mut h);
    assert!(!h.state().same_noise);
    assert_eq!(h.state().eps(0).unwrap(), eps0.as_slice());
    assert_ne!(h.state().eps(1).unwrap(), eps0.as_slice());
    h.get_by_label("ε of schedule 1");
    // Lock again: back to the one ε.
    h.get_by_label("Same ε for every schedule").click();
    settle(&mut h);
    assert_eq!(h.state().eps(1).unwrap(), eps0.as_slice());
    h.get_by_label("ε (shared)");
}

#[test]
fn reseed_draws_a_new_eps_still_shared() {
    let mut h = mnist_view();
    let eps0 = h.state().eps(0).unwrap().to_vec();
    h.get_by_label("Reseed").click();
    settle(&mut h);
    let v = h.state();
    assert_eq!(v.seed, 1);
    assert_ne!(v.eps(0).unwrap(), eps0.as_slice());
    assert_eq!(v.eps(0), v.eps(1));
}

#[test]
fn the_step_by_step_chain_reaches_t_and_differs_from_the_closed_form() {
    let mut h = mnist_view();
    let closed = h.state().xt(0).unwrap().to_vec();
    h.get_by_label_contains("Step by step").click();
    settle(&mut h);
    let v = h.state();
    assert_eq!(v.mode, NoiseMode::Chain);
    assert_eq!((v.shown_t(0), v.shown_t(1)), (Some(250), Some(250)));
    let chain = v.xt(0).unwrap();
    assert_ne!(chain, closed.as_slice());
    // Same distribution: the noise part x_t − √ᾱ·x₀ has variance 1 − ᾱ either way.
    let table = v.schedules[0].table().unwrap();
    let (a, var) = (
        table.alpha_bar_at(250).sqrt(),
        table.one_minus_alpha_bar_at(250),
    );
    let x0 = &v.x0().unwrap().data;
    let noise_var = |xt: &[f32]| {
        xt.iter()
            .zip(x0)
            .map(|(x, x0)| (f64::from(*x) - a * f64::from(*x0)).powi(2))
            .sum::<f64>()
            / xt.len() as f64
    };
    for xt in [chain, closed.as_slice()] {
        let v = noise_var(xt);
        assert!((v / var - 1.0).abs() < 0.15, "noise variance {v} vs {var}");
    }
    // Going back in t uses the checkpoints.
    h.get_by_role_and_label(Role::Slider, "Time step t")
        .set_value_accesskit(40.0);
    settle(&mut h);
    assert_eq!(h.state().shown_t(0), Some(40));
}

#[test]
fn hovering_a_pixel_reads_its_parts() {
    let mut h = mnist_view();
    h.get_by_label_contains("Hover a pixel");
    let node = h.get_by_label("x_t, schedule 1");
    let rect = node.rect();
    // The centre of a 28×28 digit is ink.
    h.hover_at(rect.center());
    h.run_ok();
    h.step();
    h.get_by_label_contains("pixel (14, 14): x₀ = ");
    h.get_by_label_contains("linear: x_t = ");
    assert_eq!(h.get_all_by_label_contains("√ᾱ·x₀ = ").count(), 2);
    h.get_by_label_contains("cosine: x_t = ");
}

#[test]
fn schedules_can_be_added_up_to_four_and_removed() {
    let mut h = mnist_view();
    for kind in ["sigmoid", "power", "sine"] {
        if h.query_by_label("Add schedule").is_none() {
            break;
        }
        h.get_by_label("Add schedule").click();
        h.run_ok();
        h.get_by_label(kind).click();
        settle(&mut h);
    }
    assert_eq!(h.state().schedules.len(), 4);
    assert!(h.query_by_label("Add schedule").is_none(), "four at most");
    assert_eq!(h.state().shown_t(3), Some(250));
    assert!(h.state().tile_rgba(TileKind::Xt, 3).is_some());
    h.get_all_by_label("Remove").next().unwrap().click();
    settle(&mut h);
    let kinds: Vec<_> = h.state().schedules.iter().map(|s| s.spec.kind).collect();
    assert_eq!(
        kinds,
        [
            ScheduleKind::Cosine,
            ScheduleKind::Sigmoid,
            ScheduleKind::Power
        ]
    );
    assert!(h.state().tile_rgba(TileKind::Xt, 3).is_none());
}

#[test]
fn an_invalid_schedule_shows_its_error_and_the_rest_still_works() {
    let mut h = mnist_view();
    h.state_mut().schedules[0].spec.beta_end = 1.5;
    settle(&mut h);
    h.get_by_label_contains("--beta-end must lie strictly inside (0, 1)");
    assert!(h.state().xt(0).is_none());
    assert_eq!(h.state().shown_t(1), Some(250));
    h.state_mut().schedules[0].spec.beta_end = 0.02;
    settle(&mut h);
    assert!(h.state().xt(0).is_some());
}

#[test]
fn strips_follow_columns_and_log_snr_spacing() {
    let mut h = mnist_view();
    assert_eq!(
        h.state().strip_ts(0).unwrap(),
        [0, 143, 286, 429, 571, 714, 857, 1000]
    );
    h.get_by_label("equal log-SNR").click();
    settle(&mut h);
    assert_eq!(h.state().strip_spacing, StripSpacing::EqualLogSnr);
    let lin = h.state().strip_ts(0).unwrap().to_vec();
    let cos = h.state().strip_ts(1).unwrap().to_vec();
    assert_eq!((lin[0], cos[0]), (0, 0));
    assert_ne!(lin, cos, "equal SNR falls at different t");
    h.get_by_label_contains("Strips: x_t at equal steps of log-SNR");
    h.state_mut().strip_columns = 4;
    settle(&mut h);
    assert_eq!(h.state().strip_ts(0).unwrap().len(), 4);
}

#[test]
fn a_grid_of_the_batch_is_one_image() {
    let mut h = mnist_view();
    h.state_mut().grid = 3;
    settle(&mut h);
    let v = h.state();
    let x0 = v.x0().unwrap();
    assert_eq!((x0.width, x0.height), (84, 84));
    assert_eq!(v.tile_rgba(TileKind::Xt, 0).unwrap().len(), 84 * 84 * 4);
    let (shape, data) = v.xt_array().unwrap();
    assert_eq!(shape, [2 * 9, 1, 28, 28]);
    assert_eq!(data.len(), 18 * 784);
}

#[test]
fn exports_compose_the_strip_the_comparison_and_x_t() {
    let h = mnist_view();
    let v = h.state();
    let strip = v.strip_sheet().unwrap();
    // 28-pixel tiles are magnified 3× in exports; 2-pixel gaps.
    assert_eq!(
        (strip.width(), strip.height()),
        (8 * 84 + 9 * 2, 2 * 84 + 3 * 2)
    );
    let cmp = v.comparison_sheet().unwrap();
    assert_eq!(
        (cmp.width(), cmp.height()),
        (4 * 84 + 5 * 2, 2 * 84 + 3 * 2)
    );
    let (shape, data) = v.xt_array().unwrap();
    assert_eq!(shape, [2, 1, 28, 28]);
    assert_eq!(&data[..784], v.xt(0).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("xt.npy");
    diffusion_lab::data::write_npy(&p, &shape, &data).unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() > 2 * 784 * 4);
}

#[test]
fn play_advances_t() {
    let mut h = mnist_view();
    h.get_by_label("Play").click();
    for _ in 0..10 {
        h.step();
    }
    assert!(h.state().playing);
    assert!(h.state().t > 250, "t = {}", h.state().t);
    h.get_by_label("Pause").click();
    h.step();
    assert!(!h.state().playing);
}

#[test]
fn a_loaded_data_set_replaces_the_image() {
    let mut h = mnist_view();
    h.get_by_label("Data set").click();
    h.run_ok();
    h.get_by_label("triangles (binary)").click();
    settle(&mut h);
    let v = h.state();
    assert_eq!(v.dataset().unwrap().name(), "triangles-binary-32");
    assert_eq!(v.x0().unwrap().width, 32);
    assert!(v.x0().unwrap().data.iter().all(|&x| x == -1.0 || x == 1.0));
    assert!(v.status_text().starts_with("triangles (binary) #0"));
}

#[test]
fn app_shell_has_a_forward_process_tab() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, app: &mut DiffusionApp| app.shell_ui(ui),
            DiffusionApp::new(View::Schedule),
        );
    h.get_by_label("Forward process").click();
    let start = Instant::now();
    h.step();
    while h.state().forward.busy() {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
        h.step();
    }
    h.step();
    assert_eq!(h.state().view, View::Forward);
    h.get_by_label_contains("MNIST #0 · 2 schedules · t = 250 · closed form");
    // A view with a schedule added by code shows it too.
    h.state_mut()
        .forward
        .add_schedule(ScheduleSpec::new(ScheduleKind::Sigmoid, 1000));
    h.step();
    h.get_by_label_contains("3 schedules");
}

#[test]
fn a_hover_left_over_from_a_bigger_image_is_ignored() {
    let mut h = mnist_view();
    h.state_mut().grid = 3;
    settle(&mut h);
    let rect = h.get_by_label("x_t, schedule 1").rect();
    h.hover_at(rect.min + rect.size() * 0.9);
    h.run_ok();
    h.step();
    h.get_by_label_contains("pixel (75, 75)");
    // The image shrinks under the pointer's old position: no out-of-range read.
    h.state_mut().grid = 1;
    h.step();
    h.step();
    assert_eq!(h.state().x0().unwrap().width, 28);
}

#[test]
fn editing_a_schedule_in_the_side_panel_updates_x_t_and_the_strips() {
    let mut h = mnist_view();
    let before = h.state().xt(0).unwrap().to_vec();
    h.get_all_by_role_and_label(Role::SpinButton, "T")
        .next()
        .expect("the first schedule's T")
        .set_value_accesskit(500.0);
    settle(&mut h);
    let v = h.state();
    assert_eq!(v.schedules[0].spec.steps, 500);
    assert_eq!(v.shown_t(0), Some(250));
    assert_ne!(v.xt(0).unwrap(), before.as_slice());
    assert_eq!(*v.strip_ts(0).unwrap().last().unwrap(), 500);
    assert_eq!(v.t_max(), 1000, "cosine still has T = 1000");
    // Past its T a schedule stays at T.
    h.get_by_role_and_label(Role::Slider, "Time step t")
        .set_value_accesskit(800.0);
    settle(&mut h);
    assert_eq!(h.state().shown_t(0), Some(500));
    assert_eq!(h.state().shown_t(1), Some(800));
}
