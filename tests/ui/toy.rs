//! The 2-D lab view (egui_kittest): it renders with the default dataset, its controls work, and
//! "Train MLP" drives a real background run whose loss and energy distance reach the view.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::ToyView;
use diffusion_lab::toy::ToyDataset;
use diffusion_lab::toy::lab::{ScoreSource, ToyStatus, ToyTab};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

fn harness(view: ToyView) -> Harness<'static, ToyView> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, v: &mut ToyView| {
                let c = v.ui(ui);
                let _ = c.run(v);
            },
            view,
        )
}

fn run_until(h: &mut Harness<'_, ToyView>, what: &str, pred: impl Fn(&ToyView) -> bool) {
    let start = Instant::now();
    while !pred(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "timed out waiting for {what}; status {:?}",
            h.state().status
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
}

#[test]
fn view_renders_with_true_score_results_and_controls_work() {
    let mut h = harness(ToyView::default());
    h.step();
    // The default mixture starts its true-score runs on the first frame, in the background.
    run_until(&mut h, "the first true-score runs", |v| !v.is_sampling());
    h.step();
    h.get_by_label("Status: Idle");
    h.get_by_label("True score of the noised mixture, t = 10");
    h.get_by_label("Learned score: train the MLP");
    // The finished run is scored against fresh data in the reverse plot's title.
    h.get_by_label_contains("D² to data");
    assert!(h.state().frames().len() > 10, "a recorded reverse run");
    assert!(h.state().fig3().is_some());
    // The same-noise lock: with it, x_t at two timesteps shares ε; without it, moving t redraws.
    let a = h.state().forward_cloud();
    h.state_mut().t = 30;
    h.step();
    let b = h.state().forward_cloud();
    h.state_mut().t = 10;
    h.step();
    assert_eq!(
        a,
        h.state().forward_cloud(),
        "locked noise gives the same x_t back"
    );
    h.get_by_label("Same noise as t moves").click();
    h.step();
    assert!(!h.state().lock_noise);
    h.state_mut().t = 30;
    h.step();
    assert_ne!(b, h.state().forward_cloud(), "fresh noise after unlocking");
    // Playback: Play runs the frames from the start.
    h.get_by_label("Play").click();
    h.step();
    assert!(h.state().playing);
    // The Fig. 3 tab shows the weights of each cloud.
    h.get_by_label("Fig. 3: Langevin vs annealed").click();
    h.step();
    assert_eq!(h.state().tab, ToyTab::Fig3);
    h.get_by_label("Run Fig. 3");
}

#[test]
fn sampling_with_the_true_score_runs_in_the_background() {
    let mut view = ToyView::with_dataset(ToyDataset::from_name("gmm").unwrap());
    view.sampler = 3; // annealed Langevin
    view.source = ScoreSource::True;
    let mut h = harness(view);
    h.step();
    run_until(&mut h, "the first run", |v| !v.is_sampling());
    // The first run is shown at its end, with the annealed sampler's last level.
    let v = h.state();
    assert_eq!(v.frame + 1, v.frames().len());
    assert!(!v.playing);
    let last = v.frames().last().unwrap().label.clone();
    assert!(last.contains("level 10/10"), "{last}");
    // A new dataset drops results that belonged to the old one.
    h.state_mut()
        .set_dataset(ToyDataset::from_name("two-gaussians").unwrap());
    assert!(h.state().frames().is_empty());
    // "Sample" runs in the background and then plays from the first frame.
    h.step();
    h.get_by_label("Sample").click();
    h.step();
    run_until(&mut h, "sampling", |v| {
        !v.is_sampling() && !v.frames().is_empty()
    });
    assert!(h.state().playing);
    assert_eq!(h.state().frames()[0].label, "start (uniform)");
}

#[test]
fn train_mlp_reports_loss_and_energy_distance_then_samples() {
    let mut view = ToyView::default();
    view.config.train_steps = 300;
    view.config.eval_every = 100;
    view.config.eval_points = 200;
    let mut h = harness(view);
    h.step();
    h.get_by_label("Train MLP").click();
    h.step();
    run_until(&mut h, "training", |v| v.loss_points() >= 3);
    h.get_by_label("Pause").click();
    h.step();
    run_until(&mut h, "pause", |v| v.status == ToyStatus::Paused);
    h.step();
    h.get_by_label("Resume").click();
    h.step();
    run_until(&mut h, "finish", |v| {
        v.status == ToyStatus::Finished && !v.is_training()
    });
    let v = h.state();
    assert!(v.has_learned());
    assert_eq!(v.loss_points(), 300, "every step's loss reaches the plot");
    // Measured at steps 0, 100, 200 and 300.
    let steps: Vec<f64> = v.energy_points().iter().map(|p| p[0]).collect();
    assert_eq!(steps, vec![0.0, 100.0, 200.0, 300.0]);
    assert!(v.energy_points().iter().all(|p| p[1].is_finite()));
    // After training the view samples with the learned score on its own.
    assert_eq!(v.source, ScoreSource::Learned);
    run_until(&mut h, "learned sampling", |v| !v.is_sampling());
    h.step();
    h.get_by_label_contains("Learned score −ε̂/√(1−ᾱ_t), t = 10 (step 300");
}

#[test]
fn dragging_in_the_forward_plot_draws_a_dataset() {
    let mut view = ToyView::with_dataset(ToyDataset::from_name("drawn").unwrap());
    view.drawing = true;
    let mut h = harness(view);
    h.step();
    let label = h.get_by_label("Draw: drag to add points").rect();
    let start = label.min + egui::vec2(120.0, 120.0);
    h.drag_at(start);
    h.step();
    for k in 1..=5 {
        h.hover_at(start + egui::vec2(12.0 * k as f32, 6.0 * k as f32));
        h.step();
    }
    h.drop_at(start + egui::vec2(70.0, 35.0));
    h.step();
    let ToyDataset::Drawn(d) = &h.state().dataset else {
        panic!("still a drawn dataset")
    };
    // The heart outline was replaced by the stroke: a few points along a line of slope ½ in
    // screen space (y down), i.e. −½ in plot coordinates with equal axes.
    let pts = d.points();
    assert!(pts.len() >= 3 && pts.len() < 48, "{} points", pts.len());
    let (a, b) = (pts[0], pts[pts.len() - 1]);
    let slope = (b[1] - a[1]) / (b[0] - a[0]);
    assert!((slope + 0.5).abs() < 0.1, "slope {slope} of {pts:?}");
    h.get_by_label_contains("drawn points");
}

#[test]
fn the_mixture_editor_adds_and_removes_components() {
    let mut h = harness(ToyView::with_dataset(ToyDataset::from_name("gmm").unwrap()));
    h.step();
    let count = |v: &ToyView| v.dataset.mixture().map_or(0, |m| m.components().len());
    assert_eq!(count(h.state()), 3);
    h.get_by_label("Add component").click();
    h.step();
    assert_eq!(count(h.state()), 4);
    // Weights are renormalised: 0.5/0.3/0.2 plus a new one of relative weight ¼.
    let w: f64 = h
        .state()
        .dataset
        .mixture()
        .unwrap()
        .components()
        .iter()
        .map(|c| c.weight)
        .sum();
    assert!((w - 1.0).abs() < 1e-12);
    h.get_all_by_label("Remove").next().unwrap().click();
    h.step();
    assert_eq!(count(h.state()), 3);
    // The true score stays available for an edited mixture.
    h.get_by_label_contains("True score of the noised mixture");
}
