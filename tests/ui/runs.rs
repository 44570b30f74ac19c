//! The Runs view (egui_kittest): it lists the runs of a runs folder (and the folders it skips),
//! overlays a run's loss curves when it is picked, and compares samples from the same noise in
//! the background.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::RunsView;
use diffusion_lab::config::*;
use diffusion_lab::diffusion::ScheduleSpec;
use diffusion_lab::model::{DeviceChoice, pick_device};
use diffusion_lab::train::*;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, Node};
use std::path::Path;
use std::time::{Duration, Instant};

fn make_run(dir: &Path, name: &str, steps: usize) {
    let config = RunConfig {
        name: name.into(),
        data: DataSpec::Triangles {
            prep: "binary".into(),
            count: 48,
            size: 16,
            seed: 1,
        },
        schedule: ScheduleSpec {
            steps: 40,
            ..ScheduleSpec::default()
        },
        model_size: ModelSize::Tiny,
        model: None,
        num_classes: 0,
        rescale_timesteps: Some(true),
        time_input: Default::default(),
        train: TrainConfig {
            batch: 4,
            val_fraction: 0.25,
            device: DeviceChoice::Cpu,
            ..TrainConfig::default()
        },
    };
    let mut t = Trainer::new(config, pick_device(DeviceChoice::Cpu)).unwrap();
    for _ in 0..steps {
        t.step().unwrap();
        if t.step.is_multiple_of(2) {
            t.validate();
        }
    }
    save_checkpoint(&t, dir).unwrap();
}

/// The run's checkbox (the plot legend repeats the label once the run is picked).
fn checkbox<'a>(h: &'a Harness<'static, RunsView>, label: &'a str) -> Node<'a> {
    h.get_by_role_and_label(Role::CheckBox, label)
}

/// Steps frames until the runs folder has been read (it is read on a background thread).
fn settle(h: &mut Harness<'static, RunsView>) {
    let start = Instant::now();
    h.step();
    while h.state().listing() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "listing timed out"
        );
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    h.step();
}

fn harness(view: RunsView) -> Harness<'static, RunsView> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, v: &mut RunsView| {
                let c = v.ui(ui);
                let _ = c.run(v);
            },
            view,
        )
}

#[test]
fn lists_runs_overlays_picked_ones_and_compares_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    make_run(&runs.join("20250102-000000-first"), "first", 4);
    make_run(&runs.join("20250103-000000-second"), "second", 6);
    std::fs::create_dir_all(runs.join("20250104-000000-broken")).unwrap();
    std::fs::write(runs.join("20250104-000000-broken/state.json"), "{").unwrap();

    let mut h = harness(RunsView::new(runs.clone()));
    settle(&mut h);
    // Both runs are listed, newest first; the broken folder is reported.
    let names: Vec<&str> = h
        .state()
        .list
        .runs
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["second", "first"]);
    checkbox(&h, "20250102-000000-first");
    checkbox(&h, "20250103-000000-second");
    h.get_by_label("1 folders skipped");
    assert!(h.state().drawn_curves().is_empty(), "nothing picked yet");

    // Picking a run overlays its curve; picking another adds a second one.
    checkbox(&h, "20250103-000000-second").click();
    h.step();
    h.step();
    assert_eq!(h.state().drawn_curves(), ["20250103-000000-second"]);
    checkbox(&h, "20250102-000000-first").click();
    h.step();
    h.step();
    assert_eq!(h.state().drawn_curves().len(), 2);
    // Unpicking removes it.
    checkbox(&h, "20250102-000000-first").click();
    h.step();
    h.step();
    assert_eq!(h.state().drawn_curves(), ["20250103-000000-second"]);

    // Compare samples: drawn in the background, the UI keeps running meanwhile.
    h.get_by_label("Compare samples").click();
    h.step();
    assert!(h.state().busy(), "sampling runs in the background");
    let start = Instant::now();
    while h.state().busy() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "sampling timed out"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.step();
    assert_eq!(h.state().error, None);
    let s = &h.state().samples;
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].shape, [1, 16, 16]);
    assert_eq!(s[0].pixels.len(), 16 * 16 * 16);
    // Triangles have no bundled classifier, so no quality line.
    assert!(s[0].quality.is_none());

    // NLL of the picked run, on the same background job.
    h.get_by_label("NLL (bits/dim)").click();
    h.step();
    let start = Instant::now();
    while h.state().busy() || h.state().nll.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(120), "NLL timed out");
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    assert_eq!(h.state().error, None);
    let nll = &h.state().nll;
    assert_eq!(nll.len(), 1);
    let report = nll[0].report.as_ref().expect("a bound");
    assert!(report.bits_per_dim.is_finite() && report.bits_per_dim > 0.0);
    h.step();
    h.get_by_label_contains("bits/dim (");

    // A new run appears after Refresh.
    make_run(&runs.join("20250105-000000-third"), "third", 2);
    h.get_by_label("Refresh").click();
    settle(&mut h);
    assert_eq!(h.state().list.runs.len(), 3);
    checkbox(&h, "20250105-000000-third");
    assert_eq!(
        h.state().drawn_curves(),
        ["20250103-000000-second"],
        "picks survive a refresh"
    );
}

#[test]
fn empty_runs_folder_says_how_to_make_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = harness(RunsView::new(tmp.path().join("runs")));
    settle(&mut h);
    h.get_by_label("No runs yet: start one in the Training view, or run `diffusion-lab train`.");
    assert!(h.state().list.runs.is_empty());
}

#[test]
fn a_study_runs_in_the_background_shows_its_curves_and_can_be_cancelled() {
    use diffusion_lab::diffusion::ScheduleKind;
    use diffusion_lab::train::study_runner::StudyPlan;
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let data = DataSpec::Triangles {
        prep: "binary".into(),
        count: 48,
        size: 16,
        seed: 1,
    };
    let plan = StudyPlan {
        name: "ui".into(),
        base: RunConfig {
            name: "ui".into(),
            data: data.clone(),
            schedule: ScheduleSpec::default(),
            model_size: ModelSize::Tiny,
            model: None,
            num_classes: 0,
            rescale_timesteps: Some(true),
            time_input: Default::default(),
            train: TrainConfig {
                batch: 4,
                val_fraction: 0.25,
                device: DeviceChoice::Cpu,
                ..TrainConfig::default()
            },
        },
        schedules: vec![
            ScheduleSpec::new(ScheduleKind::Linear, 30),
            ScheduleSpec::new(ScheduleKind::Cosine, 30),
        ],
        data: vec![data],
        seeds: vec![0],
        epochs: 50,
        steps_per_epoch: Some(2),
        strip_columns: 4,
        strip_steps: Some(3),
        linear_epoch_scale: 1.0,
    };
    let mut h = harness(RunsView::new(runs.clone()));
    settle(&mut h);
    let ctx = h.ctx.clone();
    h.state_mut().start_study_plan(plan, &ctx);
    h.step();
    assert!(h.state().study_running());
    // Per-epoch rows arrive while it trains; the UI keeps drawing frames meanwhile.
    let start = Instant::now();
    while h.state().study.as_ref().map_or(0, |s| s.rows.len()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no epochs arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.get_by_label("Cancel study").click();
    h.step();
    let start = Instant::now();
    while h.state().study_running() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "cancel did not stop it"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    settle(&mut h);
    assert_eq!(h.state().error, None);
    let study = h.state().study.clone().unwrap();
    assert!(
        study.rows.len() >= 2 && study.rows.len() < 100,
        "stopped early"
    );
    assert!(study.rows.iter().all(|r| r.schedule == "linear"));
    assert!(study.dir.join("summary.csv").is_file());
    // The study folder is in the runs folder and its run is listed after the refresh.
    assert_eq!(h.state().studies, vec![study.dir.clone()]);
    assert_eq!(h.state().list.runs.len(), 1);
    assert_eq!(
        h.state().list.runs[0].study.as_deref(),
        study.dir.file_name().and_then(|n| n.to_str())
    );
    // A study's report (#15 §3) is shown beside its curves once report.csv exists.
    let row = diffusion_lab::train::study_runner::ReportRow {
        schedule: "linear".into(),
        prep: "binary".into(),
        alpha_bar_t: 0.8,
        prior_bits: 0.5,
        data_grey: 0.0,
        sample_grey: 0.25,
        sample_stray: 0.125,
    };
    std::fs::write(
        study.dir.join("report.csv"),
        diffusion_lab::train::study_runner::report_csv(&[row]),
    )
    .unwrap();
    h.state_mut().show_study(&study.dir);
    settle(&mut h);
    let shown = h.get_by_label_contains("L_T bits/dim");
    let text = {
        use egui_kittest::kittest::NodeT;
        let node = shown.accesskit_node();
        node.label().or_else(|| node.value()).unwrap_or_default()
    };
    assert!(
        text.contains("8.000e-1") && text.contains("0.1250"),
        "{text}"
    );
}

/// #14 §3: seed 000's preset opens on the bundled table, and a table started from the view
/// runs its chains in the background and shows them.
#[test]
fn seed_000s_table_is_shown_and_runs_in_the_background() {
    use diffusion_lab::config::{DataSpec, Seed000Plan, Target, TimeInputKind};
    use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};
    use diffusion_lab::model::{DeviceChoice, pick_device};
    use diffusion_lab::train::{Trainer, save_checkpoint};
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let mut h = harness(RunsView::new(runs.clone()));
    settle(&mut h);
    // The preset picked at first is named (it used to hold the preset's text, so "Start
    // study" said no preset was picked until one was chosen by hand).
    let first = h.state().study_preset.clone().expect("a study preset");
    assert!(
        h.state().study_presets.iter().any(|(n, _)| *n == first),
        "{first}"
    );
    h.state_mut().pick_study_preset("seed000");
    h.step();
    let shown = h.state().study.clone().expect("a table is shown");
    assert!(!shown.seed000.is_empty(), "the bundled table");
    assert!(
        h.query_all_by_label("Folder_3 sample_new_v2")
            .next()
            .is_some()
    );
    // Three toy models: Folder_1, Folder_2 and the layer on Folder_2.
    let models = dir.path().join("models");
    let mut paths = Vec::new();
    for classes in [10, 0] {
        let mut c = diffusion_lab::config::RunConfig {
            name: "s000".into(),
            data: DataSpec::Bundled {
                name: "mnist".into(),
                limit: 64,
            },
            schedule: ScheduleSpec::new(ScheduleKind::VDiffusion, 50),
            model_size: diffusion_lab::config::ModelSize::Tiny,
            num_classes: classes,
            time_input: TimeInputKind::LogSnr,
            ..Default::default()
        };
        c.train.target = Target::V;
        c.train.continuous_time = true;
        c.train.batch = 4;
        c.train.val_every = 0;
        c.train.preview_every = 0;
        c.train.checkpoint_every = 0;
        c.train.device = DeviceChoice::Cpu;
        let mut t = Trainer::new(c, pick_device(DeviceChoice::Cpu)).unwrap();
        t.step().unwrap();
        let p = models.join(format!("c{classes}"));
        save_checkpoint(&t, &p).unwrap();
        paths.push(p);
    }
    let (config, _, _, ema) =
        diffusion_lab::store::load_for_inference(&paths[1], &burn::tensor::Device::flex()).unwrap();
    let data = config.data.load().unwrap();
    let cfg = diffusion_lab::config::seed000::LayerTrain {
        steps: 2,
        batch: 4,
        ..Default::default()
    };
    diffusion_lab::train::add_layer::train_add_layer(
        &ema,
        &config,
        "c0",
        1,
        &data,
        &cfg,
        &mut |_, _, _| true,
    )
    .unwrap()
    .save(&paths[1])
    .unwrap();
    let plan = Seed000Plan {
        folder1: paths[0].display().to_string(),
        folder2: paths[1].display().to_string(),
        layer: paths[1].display().to_string(),
        steps: vec![2],
        images: vec![10],
        seeds: 1,
        chunk: 10,
        ..Default::default()
    };
    let ctx = h.ctx.clone();
    h.state_mut().start_seed000("toy", plan, &ctx);
    assert!(h.state().study_running());
    let start = Instant::now();
    while h.state().study_running() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the table timed out"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    settle(&mut h);
    let study = h.state().study.clone().unwrap();
    assert_eq!(study.seed000.len(), 4, "one row per column");
    assert!(study.seed000.iter().all(|r| r.is.0 >= 1.0 && r.seeds == 1));
    assert!(study.dir.join("seed000.csv").is_file());
    assert!(h.state().studies.contains(&study.dir), "listed as a study");
    assert!(h.state().error.is_none(), "{:?}", h.state().error);
}
