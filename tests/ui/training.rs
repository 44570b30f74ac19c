//! The training view (egui_kittest): Start and Stop drive a real background run and update the
//! status; the worker's events reach the plots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::{RunStatus, TrainingView};
use diffusion_lab::config::{DataSpec, ModelSize, RunConfig, TrainConfig};
use diffusion_lab::diffusion::ScheduleSpec;
use diffusion_lab::model::DeviceChoice;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

fn tiny() -> RunConfig {
    RunConfig {
        name: "ui-test".into(),
        data: DataSpec::Triangles {
            prep: "binary".into(),
            count: 64,
            size: 16,
            seed: 1,
        },
        schedule: ScheduleSpec {
            steps: 100,
            ..ScheduleSpec::default()
        },
        model_size: ModelSize::Tiny,
        model: None,
        num_classes: 0,
        rescale_timesteps: Some(true),
        time_input: Default::default(),
        train: TrainConfig {
            steps: 100_000,
            batch: 8,
            val_every: 5,
            val_fraction: 0.25,
            preview_every: 0,
            checkpoint_every: 0,
            device: DeviceChoice::Cpu,
            ..TrainConfig::default()
        },
    }
}

/// The Training view on the tiny run, writing its runs under `runs_dir`, with the app's
/// command runner after each frame.
fn harness(runs_dir: &std::path::Path) -> Harness<'static, TrainingView> {
    let mut view = TrainingView::new(tiny(), "test");
    view.runs_dir = runs_dir.to_path_buf();
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, v: &mut TrainingView| {
                let c = v.ui(ui);
                let _ = c.run(v);
            },
            view,
        )
}

fn run_until(h: &mut Harness<'_, TrainingView>, what: &str, pred: impl Fn(&TrainingView) -> bool) {
    let start = Instant::now();
    while !pred(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}; status {:?}",
            h.state().status
        );
        std::thread::sleep(Duration::from_millis(20));
        let ctx = h.ctx.clone();
        h.state_mut().logic(&ctx);
        h.step();
    }
}

#[test]
fn start_then_stop_updates_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Status: Idle");
    h.get_by_label("Start").click();
    h.step();
    run_until(&mut h, "training", |v| {
        v.status == RunStatus::Training && v.loss_points() >= 3
    });
    h.step();
    h.get_by_label("Status: Training");
    h.get_by_label("Pause").click();
    h.step();
    run_until(&mut h, "pause", |v| v.status == RunStatus::Paused);
    h.step();
    h.get_by_label("Resume").click();
    h.step();
    run_until(&mut h, "resume", |v| v.status == RunStatus::Training);
    h.step();
    h.get_by_label("Stop").click();
    h.step();
    run_until(&mut h, "stop", |v| {
        v.status == RunStatus::Finished && !v.is_running()
    });
    h.step();
    h.get_by_label("Status: Stopped");
    let ck = h
        .state()
        .last_checkpoint
        .clone()
        .expect("a checkpoint was saved on stop");
    assert!(ck.join("model.bpk").exists());
    assert!(h.state().status_line().contains("CPU"));
}

#[test]
fn start_points_the_chain_at_the_live_run_which_sharpens_from_the_same_x_t() {
    use diffusion_lab::app::DiffusionApp;
    use diffusion_lab::config::View;
    // #19: on Start the reverse-chain pane beside the loss follows the new run from step 0,
    // and re-samples from the same x_T as snapshots of the weights arrive.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny();
    cfg.train.live_secs = Some(0.3);
    cfg.train.val_every = 0;
    let mut app = DiffusionApp::new(View::Training);
    app.training = TrainingView::new(cfg, "test");
    app.training.runs_dir = dir.path().to_path_buf();
    app.player.set_live_duty(1.0);
    app.player.n = 4;
    app.player.a.settings.steps = 10;
    let mut h = crate::ticking_app(app);
    h.step();
    h.get_by_label("Start").click();
    let wait =
        |h: &mut Harness<'_, DiffusionApp>, what: &str, pred: &dyn Fn(&DiffusionApp) -> bool| {
            let start = Instant::now();
            while !pred(h.state()) {
                assert!(
                    start.elapsed() < Duration::from_secs(120),
                    "timed out waiting for {what}; strip {:?}",
                    h.state().player.live_strip_steps()
                );
                std::thread::sleep(Duration::from_millis(20));
                h.step();
            }
        };
    // Within a few frames the pane names the live run, at the untrained weights.
    wait(&mut h, "the first live chain", &|a| {
        a.player.live_strip_steps().len() == 1
    });
    let first_step = h.state().player.live_strip_steps()[0];
    assert!(first_step < 50, "{first_step}");
    h.step();
    h.get_by_label_contains("Live run 'ui-test'");
    assert!(h.query_by_label_contains("bundled").is_none());
    // A few snapshots later: later steps, the same x_T, another x̂₀.
    wait(&mut h, "three snapshots in the strip", &|a| {
        let s = a.player.live_strip_steps();
        s.len() >= 3 && s.last() > s.first()
    });
    let steps = h.state().player.live_strip_steps();
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    let strip: Vec<_> = h.state().player.live_strip().collect();
    let (first, last) = (strip[0], strip[strip.len() - 1]);
    assert_eq!(
        first.x_t, last.x_t,
        "every snapshot starts from the same x_T"
    );
    assert_eq!(first.x0.len(), last.x0.len());
    let diff: f32 = first
        .x0
        .iter()
        .zip(&last.x0)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / first.x0.len() as f32;
    assert!(diff > 1e-3, "x̂₀ did not change: mean |Δ| = {diff}");
    h.step();
    // The strip labels its snapshots "step N".
    assert!(h.query_all_by_label_contains("step ").count() >= 3);
    // Stop keeps the chain and its strip; Continue resumes the same run and its strip grows.
    h.get_by_label("Stop").click();
    wait(&mut h, "the stop", &|a| {
        a.training.status == RunStatus::Finished
    });
    let kept = h.state().player.live_strip_steps();
    assert!(kept.len() >= 3, "{kept:?}");
    h.step();
    h.get_by_label("Continue").click();
    let last_kept = *kept.last().unwrap();
    wait(&mut h, "a chain of the continued run", &|a| {
        a.player
            .live_strip_steps()
            .last()
            .is_some_and(|&s| s > last_kept)
    });
    assert!(h.state().player.live_strip_steps().len() >= kept.len());
    h.step();
    // The bundled model is one click away, and the live run one click back.
    h.get_by_label("Bundled model").click();
    h.step();
    assert!(matches!(
        h.state().player.source,
        diffusion_lab::app::ModelSource::Bundled(_)
    ));
    h.get_by_label("Live weights").click();
    h.step();
    assert_eq!(
        h.state().player.source,
        diffusion_lab::app::ModelSource::Live
    );
    // "Open in the player" switches to the full player on the same weights. The run goes on,
    // so a new chain can land in the strip between finding the button and the click, moving
    // the button (seen once in a full parallel run); find it again then.
    for _ in 0..5 {
        h.get_by_label("Open in the player").click();
        h.step();
        h.step();
        if h.state().view == View::Player {
            break;
        }
    }
    assert_eq!(h.state().view, View::Player);
    h.state_mut().training.shutdown();
}

/// A run shown from its checkpoint (here the bundled model's history) has no recorded speed:
/// the view says so instead of an empty images/s plot, and the loss-by-t heatmap has axes, a
/// colour bar and a hover value (#17).
#[test]
fn a_finished_run_shows_no_empty_speed_plot_and_a_heatmap_with_axes() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/mnist-canonical");
    let mut view = TrainingView::new(tiny(), "history");
    view.show_history(&dir);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 900.0))
        .build_ui_state(
            |ui, v: &mut TrainingView| {
                let c = v.ui(ui);
                let _ = c.run(v);
            },
            view,
        );
    h.step();
    h.step();
    h.get_by_label_contains("images/s: not recorded for this run");
    h.get_by_label("Loss by timestep (hover a cell for its value)");
    h.get_by_label_contains("(log scale)");
}

/// The heatmap's cell lookup against a direct computation: 4 buckets of T = 1000, rows every
/// 50 steps from step 100.
#[test]
fn the_heatmap_finds_the_cell_under_the_pointer() {
    use diffusion_lab::app::HeatLayout;
    let rows: Vec<(usize, Vec<f32>)> = (0..6)
        .map(|r| {
            let step = 100 + 50 * r;
            (step, (0..4).map(|c| (r * 10 + c) as f32 + 1.0).collect())
        })
        .collect();
    let l = HeatLayout::new(&rows, 1000).unwrap();
    assert_eq!(
        (l.cols, l.tile_t, l.tile_step, l.y0),
        (4, 250.0, 50.0, 75.0)
    );
    assert!((l.lo - 1f64.log10()).abs() < 1e-9 && (l.hi - 54f64.log10()).abs() < 1e-6);
    // t = 600 is bucket 2 (500–750); step 212 is nearest row 2 (step 200, its band 175–225).
    assert_eq!(l.cell_at(600.0, 212.0), Some((500, 750, 200, 23.0)));
    assert_eq!(l.cell_at(10.0, 80.0), Some((0, 250, 100, 1.0)));
    assert_eq!(l.cell_at(999.0, 374.0), Some((750, 1000, 350, 54.0)));
    assert_eq!(l.cell_at(1001.0, 200.0), None, "past T");
    assert_eq!(l.cell_at(500.0, 70.0), None, "below the first row");
    assert_eq!(l.cell_at(500.0, 400.0), None, "above the last row");
    // Only the last 120 rows are drawn.
    let many: Vec<(usize, Vec<f32>)> = (0..200).map(|r| (r, vec![1.0, 2.0])).collect();
    let l = HeatLayout::new(&many, 10).unwrap();
    assert_eq!(l.rows.len(), 120);
    assert_eq!(l.rows[0].0, 80);
}

/// #15 §1: the Loss picker sets L_hybrid (learned Σ), which enables importance-sampled t, and
/// such a run trains (its UNet outputs ε̂ and v).
#[test]
fn the_loss_picker_trains_a_learned_variance() {
    use diffusion_lab::diffusion::{LossKind, TSampling};
    use egui::accesskit::Role;
    use egui_kittest::kittest::NodeT;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.step();
    let importance = h.get_by_label("importance-sampled t");
    assert!(
        importance.accesskit_node().is_disabled(),
        "L_simple computes no bound terms"
    );
    h.get_by_role_and_label(Role::ComboBox, "Loss").click();
    for _ in 0..3 {
        h.step();
    }
    h.get_by_label(LossKind::Hybrid.label()).click();
    h.step();
    assert_eq!(h.state().config.train.loss, LossKind::Hybrid);
    h.get_by_label("importance-sampled t").click();
    h.step();
    assert_eq!(h.state().config.train.t_sampling, TSampling::Importance);
    h.get_by_label("Start").click();
    h.step();
    run_until(&mut h, "training", |v| {
        v.status == RunStatus::Training && v.loss_points() >= 3
    });
    h.get_by_label("Stop").click();
    h.step();
    run_until(&mut h, "stop", |v| !v.is_running());
}

/// #14 §3: seed 000's objective from the view: v-prediction, the log-SNR time input and
/// continuous t (enabled only with log-SNR), then a run that trains with them.
#[test]
fn the_objective_row_trains_seed_000s_v_objective_on_log_snr() {
    use diffusion_lab::config::TimeInputKind;
    use diffusion_lab::diffusion::{LossWeighting, Target};
    use egui::accesskit::Role;
    use egui_kittest::kittest::NodeT;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.step();
    assert!(
        h.get_by_label("continuous t")
            .accesskit_node()
            .is_disabled(),
        "a step-conditioned network has only seen integer t"
    );
    for (combo, item) in [
        ("Predict", "v"),
        ("weighting", LossWeighting::TruncatedSnr.label()),
        ("Time input", "log-SNR λ(t)"),
    ] {
        h.get_by_role_and_label(Role::ComboBox, combo).click();
        for _ in 0..3 {
            h.step();
        }
        h.get_by_label(item).click();
        h.step();
    }
    h.get_by_label("continuous t").click();
    h.step();
    let c = &h.state().config;
    assert_eq!(c.train.target, Target::V);
    assert_eq!(c.train.loss_weighting, LossWeighting::TruncatedSnr);
    assert_eq!(c.time_input, TimeInputKind::LogSnr);
    assert!(c.train.continuous_time);
    h.get_by_label("Start").click();
    h.step();
    run_until(&mut h, "training", |v| {
        v.status == RunStatus::Training && v.loss_points() >= 3
    });
    h.get_by_label("Stop").click();
    h.step();
    run_until(&mut h, "stop", |v| !v.is_running());
}
