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
    let mut view = TrainingView::new(tiny(), "test");
    view.runs_dir = dir.path().to_path_buf();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, v: &mut TrainingView| v.ui(ui), view);
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
