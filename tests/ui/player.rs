//! The reverse-chain player (egui_kittest): it samples the bundled model in the background,
//! the transport steps and scrubs, the A/B panes share x_T, and an export writes its file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::{ClassPick, ComparePair, ExportKind, ModelSource, PlayerView};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

fn harness() -> Harness<'static, PlayerView> {
    let mut view = PlayerView::default();
    // The tiny model: the canonical default is ~8× the compute, slow in a debug build.
    view.source = ModelSource::Bundled("mnist-tiny");
    view.n = 4;
    view.a.settings.steps = 10;
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, v: &mut PlayerView| {
                let ctx = ui.ctx().clone();
                v.logic(&ctx);
                let c = v.ui(ui);
                let _ = c.run(v);
            },
            view,
        )
}

fn run_until(h: &mut Harness<'_, PlayerView>, what: &str, pred: impl Fn(&PlayerView) -> bool) {
    let start = Instant::now();
    while !pred(h.state()) {
        // Pane B runs DDPM-β̃ over all T = 1000 steps in a debug build: about a minute alone
        // on 2 cores, over two minutes while other builds share them.
        assert!(
            start.elapsed() < Duration::from_secs(400),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
}

#[test]
fn the_player_samples_steps_and_exports() {
    let mut h = harness();
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    // DDIM with 10 steps: x_T, 9 more steps, then x0.
    assert_eq!(h.state().frames(), 11);
    assert_eq!(h.state().frame(), 10, "the player follows the chain to x0");
    assert_eq!(h.state().current_t(), Some(0));

    h.get_by_label("|<").click();
    h.step();
    assert_eq!(h.state().frame(), 0);
    assert_eq!(h.state().current_t(), Some(1000));
    h.get_by_label(">").click();
    h.step();
    assert_eq!(h.state().frame(), 1);
    h.state_mut().step_by(-5);
    assert_eq!(h.state().frame(), 0);

    // Play runs to the end and stops.
    h.get_by_label("Play").click();
    h.step();
    assert!(h.state().is_playing());
    run_until(&mut h, "playback to end", |v| !v.is_playing());
    assert_eq!(h.state().frame(), 10);

    // The equation panel writes the update out with today's numbers.
    h.state_mut().seek(3);
    h.step();
    h.get_by_label_contains("x̂₀ = (x_t −");

    // A/B: pane B starts from the same x_T.
    h.get_by_label("Compare A/B").click();
    h.step();
    run_until(&mut h, "pane B", |v| !v.is_busy() && v.b.frames() > 0);
    {
        let v = h.state();
        let (a, b) = (v.a.first_xt(), v.b.first_xt());
        assert_eq!(a, b, "A and B must start from the same x_T");
    }

    // Export the chain as a GIF and as a run card.
    let dir = tempfile::tempdir().unwrap();
    for (kind, name) in [
        (ExportKind::Gif, "chain.gif"),
        (ExportKind::Card, "card.json"),
    ] {
        let path = dir.path().join(name);
        h.state_mut().export_to(kind, path.clone());
        run_until(&mut h, "the export", |v| !v.is_exporting());
        let msg = h.state().export_message.clone().unwrap_or_default();
        assert!(msg.starts_with("Saved"), "{msg}");
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
    }

    // #20 item 2: where no file dialog can open, the export asks for a path in the app,
    // prefilled in the pictures folder, instead of doing nothing.
    diffusion_lab::app::dialog::disable_file_dialogs();
    h.step();
    h.get_by_label("Export").scroll_to_me();
    // Let the scroll animation end before clicking the header where it now is.
    for _ in 0..30 {
        h.step();
    }
    h.get_by_label("Export").click();
    h.step();
    h.step();
    assert!(
        h.query_by_label("Label grids and frames with t and the sampler")
            .is_some(),
        "the Export section opened"
    );
    h.state_mut().ask_and_export(ExportKind::GridPng);
    h.step();
    h.step();
    let Some((kind, prefilled)) = h.state().export_fallback.clone() else {
        panic!(
            "no fallback; export message {:?}, exporting {}",
            h.state().export_message,
            h.state().is_exporting()
        );
    };
    h.get_by_label("No file dialog could open here. Save to:");
    assert_eq!(kind, ExportKind::GridPng);
    assert!(prefilled.ends_with("diffusion-lab/grid.png"), "{prefilled}");
    let target = dir.path().join("sub").join("grid.png");
    h.state_mut().export_fallback = Some((kind, target.display().to_string()));
    h.step();
    h.get_by_label("Save");
    h.state_mut().save_fallback_export();
    h.step();
    h.step();
    run_until(&mut h, "the fallback export", |v| !v.is_exporting());
    h.step();
    let msg = h.state().export_message.clone().unwrap_or_default();
    let img = image::open(&target);
    assert!(
        msg.starts_with("Saved") && msg.contains("grid.png") && img.is_ok(),
        "{msg}; {}: {img:?}",
        target.display()
    );
    h.get_by_label("Open folder");
}

#[test]
fn score_these_samples_shows_the_quality_table_next_to_the_grid() {
    let mut h = harness();
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    h.get_by_label("Score these samples").click();
    h.step();
    run_until(&mut h, "the score", |v| {
        v.score.report.is_some() || v.score.error.is_some()
    });
    let report = h
        .state()
        .score
        .report
        .clone()
        .expect("a table, not an error");
    let labels: Vec<&str> = report.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["samples", "real (floor)", "Gaussian noise", "blurred real"]
    );
    assert_eq!(report.rows[0].n, 4);
    assert_eq!(report.rows[0].histogram.iter().sum::<usize>(), 4);
    h.step();
    h.get_by_label_contains("mnist-classifier features, not comparable with Inception FID");
    h.get_by_label("Gaussian noise");
}

#[test]
fn branches_of_a_deterministic_chain_differ() {
    // Pane A is DDIM with η = 0, which adds no noise: the branches continue with η = 1 by
    // default, so the k continuations end as different images (they were identical before).
    let mut h = harness();
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    h.state_mut().seek(3);
    h.state_mut().fork_k = 3;
    h.step();
    h.state_mut().fork();
    h.step();
    run_until(&mut h, "the branches", |v| {
        !v.is_busy() && v.branches.final_x0().is_some()
    });
    let x0 = h.state().branches.final_x0().unwrap().to_vec();
    let p = x0.len() / 3;
    let diff = |a: usize, b: usize| {
        x0[a * p..(a + 1) * p]
            .iter()
            .zip(&x0[b * p..(b + 1) * p])
            .map(|(u, v)| (u - v).abs())
            .fold(0f32, f32::max)
    };
    assert!(
        diff(0, 1) > 0.1 && diff(1, 2) > 0.1,
        "branches are the same image"
    );
}

/// A tiny class-conditional checkpoint, one training step old.
fn cond_checkpoint(dir: &std::path::Path) -> std::path::PathBuf {
    use diffusion_lab::config::{DataSpec, ModelSize, RunConfig, TrainConfig};
    use diffusion_lab::model::{DeviceChoice, pick_device};
    let config = RunConfig {
        name: "cond".into(),
        data: DataSpec::Bundled {
            name: "mnist".into(),
            limit: 64,
        },
        model_size: ModelSize::Tiny,
        num_classes: 10,
        train: TrainConfig {
            steps: 1,
            batch: 4,
            val_every: 0,
            preview_every: 0,
            checkpoint_every: 0,
            device: DeviceChoice::Cpu,
            ..TrainConfig::default()
        },
        ..RunConfig::default()
    };
    let mut t = diffusion_lab::train::Trainer::new(config, pick_device(DeviceChoice::Cpu)).unwrap();
    t.step().unwrap();
    let out = dir.join("cond");
    diffusion_lab::train::save_checkpoint(&t, &out).unwrap();
    out
}

#[test]
fn a_conditional_model_gets_a_class_picker_a_w_slider_and_the_w_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness();
    run_until(&mut h, "the bundled model's chain", |v| !v.is_busy());
    // As picking "Checkpoint folder…" in the model menu does.
    h.state_mut().source = ModelSource::Checkpoint(cond_checkpoint(dir.path()));
    h.state_mut().a.settings.steps = 3;
    h.state_mut().load_model();
    run_until(&mut h, "the checkpoint", |v| {
        !v.is_busy() && (v.model_classes() > 0 || v.model_error.is_some())
    });
    // It opens on one row per class: a 10 × 10 grid.
    assert_eq!(h.state().n, 100);
    h.state_mut().sample_all();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    assert_eq!(
        h.state().model_classes(),
        10,
        "{:?} {:?}",
        h.state().model_error,
        h.state().model().map(|m| m.label.clone())
    );
    h.step();
    h.get_by_label("Class");
    h.get_by_label("Sweep w");
    h.get_by_label_contains("ε_w = (1 + w)");
    // Pane A asks every class in rows with w = 2 by default.
    assert!(h.state().a.settings.cfg_w == 2.0);
    h.state_mut().set_class_pick(ClassPick::One(7));
    h.state_mut().selected = 1;
    h.get_by_label("Sweep w").click();
    h.step();
    run_until(&mut h, "the sweep", |v| {
        !v.guidance.sweep_images.is_empty() || v.guidance.error.is_some()
    });
    let st = h.state();
    assert_eq!(st.guidance.error, None);
    assert_eq!(st.guidance.sweep_class, 7);
    let ws: Vec<f64> = st.guidance.sweep_images.iter().map(|(w, _)| *w).collect();
    assert_eq!(ws, [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]);
    // w changes the image (the class table is trained for one step, so the change is small
    // but not zero), and every image is finite.
    let (first, last) = (
        &st.guidance.sweep_images[0].1,
        &st.guidance.sweep_images[5].1,
    );
    assert!(first.iter().chain(last).all(|v| v.is_finite()));
    assert!(first.iter().zip(last).any(|(a, b)| (a - b).abs() > 1e-4));
    h.step();
    h.get_by_label("w = 8");
    // Seed 004's trade-off, measured and plotted.
    h.state_mut().guidance.curve_per_class = 2;
    h.get_by_label("Measure accuracy and FID over w").click();
    h.step();
    run_until(&mut h, "the curve", |v| {
        v.guidance.curve.is_some() || v.guidance.error.is_some()
    });
    let curve = h
        .state()
        .guidance
        .curve
        .clone()
        .expect("a curve, not an error");
    assert_eq!(curve.points.len(), 6);
    assert!(
        curve
            .points
            .iter()
            .all(|p| (0.0..=1.0).contains(&p.accuracy) && p.class_fid.is_finite())
    );
    h.step();
    h.get_by_label("class FID");
    // The A/B pair of two weights.
    h.state_mut().apply_pair(ComparePair::GuidanceWeights);
    assert_eq!(
        (h.state().a.settings.cfg_w, h.state().b.settings.cfg_w),
        (0.0, 4.0)
    );
}

#[test]
fn an_unconditional_model_shows_no_class_picker() {
    let mut h = harness();
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    h.step();
    assert_eq!(h.state().model_classes(), 0);
    assert!(h.query_by_label("Sweep w").is_none());
    assert!(h.query_by_label("Class").is_none());
}

#[test]
fn a_noisy_classifier_steers_an_unconditional_model() {
    use diffusion_lab::model::{NoisyClassifier, NoisyClassifierInfo, NoisyClassifierNet};
    let dir = tempfile::tempdir().unwrap();
    let device = NoisyClassifier::device();
    let c = NoisyClassifier {
        net: NoisyClassifierNet::new([1, 28, 28], 10, 4, &device),
        info: NoisyClassifierInfo {
            shape: [1, 28, 28],
            classes: (0..10).map(|c| c.to_string()).collect(),
            width: 4,
            data: "mnist".into(),
            schedule: "linear".into(),
            steps: 1000,
            train_steps: 0,
            accuracy_by_t: Vec::new(),
            seed: 0,
        },
    };
    c.save(&dir.path().join("noisy")).unwrap();
    let mut h = harness();
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    let unguided = h.state().a.final_x0().unwrap().to_vec();
    // A folder that is not a classifier is refused with its name.
    let e = h
        .state_mut()
        .set_classifier(dir.path().to_path_buf())
        .unwrap_err();
    assert!(e.contains("not a noisy-classifier folder"), "{e}");
    h.state_mut()
        .set_classifier(dir.path().join("noisy"))
        .unwrap();
    assert_eq!(h.state().model_classes(), 10);
    assert!(!h.state().model_is_conditional());
    h.state_mut().set_class_pick(ClassPick::One(4));
    h.state_mut().n = 4;
    h.state_mut().guidance.gamma = 5.0;
    h.state_mut().sample_all();
    run_until(&mut h, "the guided chain", |v| {
        !v.is_busy() && v.a.is_complete()
    });
    let guided = h.state().a.final_x0().unwrap().to_vec();
    assert_eq!(guided.len(), unguided.len());
    assert!(guided.iter().all(|v| v.is_finite()));
    assert!(guided != unguided, "γ = 5 changes the samples");
    h.step();
    // The γ slider (its label and the slider it names) and the class picker are shown.
    assert!(h.query_all_by_label("γ").count() >= 1);
    h.get_by_label("Class");
    let card = h.state().run_card().unwrap();
    assert_eq!(card.guidance.unwrap().gamma, 5.0);
    assert_eq!(card.classifier, Some(dir.path().join("noisy")));
}

#[test]
fn raw_is_offered_only_where_the_model_has_raw_weights() {
    let mut h = harness();
    h.step();
    run_until(&mut h, "the tiny model's chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    assert!(
        h.state().model().unwrap().has_raw,
        "mnist-tiny ships model.bpk"
    );
    h.state_mut().a.settings.weights = diffusion_lab::sampling::export::Weights::Raw;
    h.step();
    assert_eq!(
        h.state().a.settings.weights,
        diffusion_lab::sampling::export::Weights::Raw
    );
    // The canonical model ships only its EMA weights: "raw" is disabled and EMA is used.
    h.state_mut().source = ModelSource::Bundled("mnist-canonical");
    h.state_mut().load_model();
    run_until(&mut h, "the canonical model", |v| {
        !v.is_busy() && v.model().is_some_and(|m| !m.has_raw)
    });
    h.step();
    assert_eq!(
        h.state().a.settings.weights,
        diffusion_lab::sampling::export::Weights::Ema
    );
}

/// #15 §5: the sampler picker offers Euler and Heun on the Karras σ grid and DPM-Solver++ (2M),
/// each with a tooltip; a DPM-Solver++ chain records x_t per step like the others and its
/// equation panel writes out the multistep update.
#[test]
fn the_sampler_picker_offers_the_karras_samplers() {
    use diffusion_lab::sampling::SamplerChoice;
    use egui::accesskit::Role;
    let mut h = harness();
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    h.get_by_role_and_label(Role::ComboBox, "A").click();
    // The popup opens on the frame after the click.
    for _ in 0..3 {
        h.step();
    }
    let new = [
        SamplerChoice::EulerKarras,
        SamplerChoice::HeunKarras,
        SamplerChoice::DpmPp2m,
    ];
    for c in new {
        h.get_by_label(c.label());
        assert!(!c.tooltip().is_empty());
    }
    h.get_by_label(SamplerChoice::DpmPp2m.label()).click();
    h.step();
    assert_eq!(h.state().a.settings.sampler, SamplerChoice::DpmPp2m);
    // Its steps are the Karras grid points (S).
    h.get_by_role_and_label(Role::SpinButton, "S");
    h.get_by_label("Sample").click();
    h.step();
    // x_T, one frame per step of the plan, then x₀ (repeated t on the Karras grid are merged,
    // so the plan has at most 10 steps).
    let table = h.state().model().unwrap().table.clone();
    let plan = diffusion_lab::diffusion::SamplerPlan::new(&table, h.state().a.settings.kind());
    let plan = plan.unwrap();
    let (frames, first_t) = (plan.steps.len() + 1, plan.first_t());
    assert!((8..=11).contains(&frames), "{frames}");
    run_until(&mut h, "the DPM-Solver++ chain", |v| {
        !v.is_busy() && v.frames() == frames
    });
    assert_eq!(h.state().current_t(), Some(0));
    // The first step is first order (DDIM form), the second reuses the first step's x̂₀.
    h.state_mut().seek(1);
    h.step();
    h.get_by_label_contains("(DPM-Solver++ 2M)");
    // (in the rule and in its numbers)
    let reused = format!("x̂₀(t = {first_t})");
    assert_eq!(h.get_all_by_label_contains(&reused).count(), 2);
}

/// #15 §1: the strided sampler is named "strided (fixed Σ)" and offers both rounding rules;
/// the learned-Σ samplers are listed but disabled for the bundled fixed-variance model.
#[test]
fn the_strided_sampler_names_its_sigma_and_rounding() {
    use diffusion_lab::diffusion::StrideRule;
    use diffusion_lab::sampling::SamplerChoice;
    use egui::accesskit::Role;
    use egui_kittest::kittest::NodeT;
    let mut h = harness();
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    h.get_by_role_and_label(Role::ComboBox, "A").click();
    for _ in 0..3 {
        h.step();
    }
    for c in [SamplerChoice::IddpmLearned, SamplerChoice::DdpmLearned] {
        let node = h.get_by_label(c.label());
        assert!(
            node.accesskit_node().is_disabled(),
            "{} is disabled for a fixed-Σ model",
            c.label()
        );
    }
    h.get_by_label("strided (fixed Σ)").click();
    h.step();
    assert_eq!(h.state().a.settings.sampler, SamplerChoice::Iddpm);
    h.get_by_role_and_label(Role::ComboBox, "rounding").click();
    for _ in 0..3 {
        h.step();
    }
    h.get_by_label("round").click();
    h.step();
    assert_eq!(h.state().a.settings.stride_rule, StrideRule::Round);
    assert!(matches!(
        h.state().a.settings.kind(),
        diffusion_lab::diffusion::SamplerKind::Iddpm {
            rule: StrideRule::Round,
            ..
        }
    ));
}

/// A preset's learned-Σ sampler on a fixed-variance model samples with its fixed-Σ twin (and
/// says so) instead of a "learned" chain that is not.
#[test]
fn a_learned_sampler_on_a_fixed_model_falls_back_to_its_fixed_twin() {
    use diffusion_lab::sampling::SamplerChoice;
    let mut h = harness();
    h.state_mut().a.settings.sampler = SamplerChoice::IddpmLearned;
    h.step();
    run_until(&mut h, "the first chain", |v| {
        !v.is_busy() && v.frames() > 0
    });
    assert_eq!(h.state().a.settings.sampler, SamplerChoice::Iddpm);
}
