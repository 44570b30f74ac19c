//! Presets: every shipped preset parses and trains headless for a few steps; malformed presets
//! are reported with line and column, unknown fields by name; studies and grids expand as
//! documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::config::{
    DataSpec, Preset, RunConfig, SHIPPED_PRESETS, SamplerName, StudyData, View,
};
use diffusion_lab::diffusion::ScheduleKind;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_diffusion-lab");

fn preset_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("presets")
}

fn preset(name: &str) -> Preset {
    let (_, text) = SHIPPED_PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no shipped preset {name}"));
    Preset::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_file_in_presets_is_shipped_and_the_embedded_copy_is_current() {
    let mut files: Vec<String> = std::fs::read_dir(preset_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "toml").then(|| p.file_stem().unwrap().to_str().unwrap().to_owned())
        })
        .collect();
    files.sort();
    let mut shipped: Vec<String> = SHIPPED_PRESETS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    shipped.sort();
    assert_eq!(files, shipped);
    for (name, text) in SHIPPED_PRESETS {
        let on_disk = std::fs::read_to_string(preset_dir().join(format!("{name}.toml"))).unwrap();
        assert_eq!(&on_disk, text, "{name}");
        let p = Preset::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name, *name, "a preset's name is its file name");
        assert!(!p.title.is_empty(), "{name} has a title");
        assert!(p.view.is_some(), "{name} names its starting view");
        // The run part parses on its own too, as before presets grew their other tables.
        assert_eq!(RunConfig::from_toml(text).unwrap(), p.run_config());
    }
}

#[test]
fn todays_run_configs_still_parse_and_round_trip() {
    // A run config without any of the new tables, as checkpoints and older presets hold.
    let text = "name = \"old\"\nmodel_size = \"tiny\"\n[data]\nsource = \"bundled\"\nname = \"mnist\"\n[schedule]\nkind = \"cosine\"\nsteps = 500\n[train]\nsteps = 7\n";
    let run = RunConfig::from_toml(text).unwrap();
    assert_eq!(run.name, "old");
    assert_eq!(run.schedule.kind, ScheduleKind::Cosine);
    assert_eq!(run.train.steps, 7);
    let p = Preset::from_toml(text).unwrap();
    assert!(p.lesson.is_empty() && p.study.is_none() && p.grid.is_none() && p.toy.is_none());
    assert_eq!(p.sampler.kind, SamplerName::Ddim);
    assert_eq!(Preset::default().run_config(), RunConfig::default());
}

#[test]
fn lessons_have_at_most_nine_steps_each_with_caption_and_formula() {
    let mut lessons = 0;
    for (name, text) in SHIPPED_PRESETS {
        let p = Preset::from_toml(text).unwrap();
        assert!(p.lesson.len() <= 9, "{name}: keys 1–9 reach every step");
        for (i, s) in p.lesson.iter().enumerate() {
            assert!(!s.caption.is_empty(), "{name} step {}", i + 1);
            assert!(!s.formula.is_empty(), "{name} step {}", i + 1);
            assert!(
                s.caption.chars().count() <= 100,
                "{name} step {}: short",
                i + 1
            );
            assert!(
                s.formula.chars().count() <= 70,
                "{name} step {}: fits",
                i + 1
            );
        }
        lessons += usize::from(!p.lesson.is_empty());
    }
    assert!(lessons >= 7, "the lessons and most presets carry a lesson");
    let fwd = preset("lesson-forward");
    assert_eq!(fwd.view, Some(View::Forward));
    assert_eq!(fwd.lesson[3].t, Some(250));
    assert_eq!(
        fwd.lesson[3].formula,
        "x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε,    ε ~ N(0, I)"
    );
    assert_eq!(preset("lesson-reverse").lesson.len(), 6);
    let toy = preset("lesson-2d").toy.unwrap();
    assert_eq!((toy.dataset.as_str(), toy.schedule.steps), ("gmm", 100));
}

#[test]
fn the_schedule_study_is_five_schedules_by_three_preparations_by_five_seeds() {
    let p = preset("schedule-study");
    let study = p.study.clone().unwrap();
    let shapes: Vec<(ScheduleKind, f64)> = study
        .schedules
        .iter()
        .map(|s| {
            (
                s.kind,
                if s.kind == ScheduleKind::Power {
                    s.power
                } else {
                    0.0
                },
            )
        })
        .collect();
    assert_eq!(
        shapes,
        [
            (ScheduleKind::Linear, 0.0),
            (ScheduleKind::Sine, 0.0),
            (ScheduleKind::Power, 1.5),
            (ScheduleKind::Power, 2.0),
            (ScheduleKind::Power, 10.0)
        ]
    );
    for s in &study.schedules {
        assert_eq!((s.steps, s.beta_start, s.beta_end), (1000, 1e-4, 0.02));
    }
    let runs = study.runs(&p.run_config());
    assert_eq!(runs.len(), 5 * 3 * 5);
    assert_eq!(runs[0].label, "linear / triangles (direct) / seed 0");
    assert_eq!(runs[74].label, "power 10 / triangles (binary) / seed 4");
    assert_eq!(runs[74].config.train.seed, 4);
    assert_eq!(
        runs[74].config.data,
        DataSpec::Triangles {
            prep: "binary".into(),
            count: 10_000,
            size: 32,
            seed: 3
        }
    );
    let dq = preset("data-quality").study.unwrap();
    assert!(dq.schedules.is_empty(), "one schedule: the preset's own");
    assert_eq!(dq.runs(&preset("data-quality").run_config()).len(), 3 * 5);
    let lc = preset("mnist-linear-vs-cosine");
    let runs = lc.study.clone().unwrap().runs(&lc.run_config());
    let kinds: Vec<_> = runs.iter().map(|r| r.config.schedule.kind).collect();
    assert_eq!(kinds, [ScheduleKind::Linear, ScheduleKind::Cosine]);
    assert!(runs.iter().all(|r| r.config.data
        == DataSpec::Bundled {
            name: "mnist".into(),
            limit: 0
        }));
}

#[test]
fn the_ddim_grid_has_the_shape_of_seed_001s_table_on_the_bundled_models_settings() {
    let p = preset("ddim-grid");
    let g = p.grid.clone().unwrap();
    assert_eq!(g.etas, [0.0, 0.2, 0.5, 1.0]);
    assert!(g.sigma_hat, "the σ̂ row");
    assert_eq!(g.steps, [10, 20, 50, 100, 1000]);
    // As the DDIM code samples: uniform skip (leading), no clipping of x̂₀.
    assert_eq!(g.spacing, diffusion_lab::diffusion::Spacing::Leading);
    assert!(!g.clip);
    // The bundled model was trained with mnist-tiny; the grid samples it, so they agree.
    let tiny = preset("mnist-tiny").run_config();
    let run = p.run_config();
    assert_eq!(run.schedule, tiny.schedule);
    assert_eq!(run.model_size, tiny.model_size);
    assert_eq!(run.data, tiny.data);
}

#[test]
fn study_seeds_may_be_a_count_and_preps_may_be_tables() {
    let p = Preset::from_toml(
        "[study]\nseeds = 3\npreps = [\"mnist\", { source = \"triangles\", prep = \"binary\", count = 50 }]\n",
    )
    .unwrap();
    let s = p.study.unwrap();
    assert_eq!(s.seeds, [0, 1, 2]);
    assert_eq!(s.preps[0], StudyData::Name("mnist".into()));
    assert!(matches!(
        &s.preps[1],
        StudyData::Spec(DataSpec::Triangles { count: 50, .. })
    ));
}

/// Parses `text`, which must fail, and returns the message.
#[track_caller]
fn error(text: &str) -> String {
    match Preset::from_toml(text) {
        Ok(_) => panic!("accepted a malformed preset:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn malformed_presets_are_reported_with_line_and_column() {
    // A syntax error on line 3.
    let e = error("name = \"x\"\n[train]\nsteps = = 3\n");
    assert!(e.starts_with("line 3, column 9:"), "{e}");
    assert!(e.contains("3 | steps = = 3"), "the line is quoted: {e}");
    // A wrong type on line 4.
    let e = error("name = \"x\"\n\n[train]\nbatch = \"many\"\n");
    assert!(e.starts_with("line 4, column 9:"), "{e}");
    // An unknown value of an enum, with the values it could be.
    let e = error("name = \"x\"\nview = \"nowhere\"\n");
    assert!(e.starts_with("line 2, column 8:"), "{e}");
    assert!(e.contains("nowhere"), "{e}");
    // A lesson step's field of the wrong type, in the second [[lesson]] table.
    let e = error(
        "[[lesson]]\ncaption = \"a\"\nformula = \"x\"\n\n[[lesson]]\ncaption = \"b\"\nt = -4\n",
    );
    assert!(e.starts_with("line 7, column 5:"), "{e}");
}

#[test]
fn unknown_fields_are_named_with_their_line() {
    for (text, field, line) in [
        ("name = \"x\"\nbogus = 1\n", "bogus", 2),
        ("name = \"x\"\n[train]\nsteps = 3\nlrr = 0.1\n", "lrr", 4),
        ("[sampler]\nkind = \"ddim\"\netta = 0.5\n", "etta", 3),
        ("[[lesson]]\ncaption = \"a\"\nformla = \"x\"\n", "formla", 3),
        ("[study]\nepochs = 2\nschedule = []\n", "schedule", 3),
        ("[grid]\netas = [0.0]\nstep = [10]\n", "step", 3),
        ("[toy]\ndatasett = \"gmm\"\n", "datasett", 2),
    ] {
        let e = error(text);
        assert!(
            e.contains(&format!("unknown field `{field}`")),
            "{field}: {e}"
        );
        assert!(
            e.starts_with(&format!("line {line}, column ")),
            "{field}: line {line}: {e}"
        );
    }
}

#[test]
fn values_out_of_range_name_their_field() {
    for (text, culprit) in [
        ("[sampler]\nsteps = 0\n", "sampler.steps"),
        ("[sampler]\neta = -1.0\n", "sampler.eta"),
        ("[sampler]\nn = 0\n", "sampler.n"),
        (
            "[[lesson]]\ncaption = \"a\"\nt = 5000\n",
            "lesson step 1: t",
        ),
        ("[[lesson]]\nformula = \"x\"\n", "lesson step 1: caption"),
        ("[study]\nseeds = []\n", "study.seeds"),
        ("[study]\nepochs = 0\n", "study.epochs"),
        ("[grid]\nsteps = [0]\n", "grid.steps"),
        ("[grid]\netas = [-0.5]\n", "grid.etas"),
    ] {
        let e = error(text);
        assert!(e.contains(culprit), "{culprit}: {e}");
    }
}

#[test]
fn a_schedule_of_zero_steps_is_named_as_such() {
    // Was "sampler.steps must be 1..=0 (the schedule's T)", blaming the sampler.
    let e = error("[schedule]\nsteps = 0\n");
    assert!(e.contains("schedule.steps must be 1..="), "{e}");
    assert!(!e.contains("sampler.steps"), "{e}");
}

#[test]
fn the_train_command_reports_a_malformed_preset_with_its_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\n[train]\nsteps = 3\nlrr = 0.1\n").unwrap();
    let out = Command::new(BIN)
        .args(["train", "--preset", bad.to_str().unwrap(), "--steps", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 4, column 1"), "{err}");
    assert!(err.contains("unknown field `lrr`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `diffusion-lab train --preset presets/NAME.toml --steps N --out DIR --device cpu`.
fn train_headless(name: &str, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join(name);
    let preset = preset_dir().join(format!("{name}.toml"));
    let out = Command::new(BIN)
        .args(["train", "--preset", preset.to_str().unwrap()])
        .args(["--steps", &steps.to_string(), "--device", "cpu"])
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: {err}");
    assert!(!err.contains("panicked"), "{name}: {err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("done: step {steps} ")),
        "{name}: {stdout}"
    );
    let losses = std::fs::read_to_string(out_dir.join("losses.csv")).unwrap();
    let rows: Vec<f64> = losses
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rows.len(), steps, "{name}: one loss per step");
    assert!(
        rows.iter().all(|l| l.is_finite() && *l > 0.0),
        "{name}: {rows:?}"
    );
    assert!(out_dir.join("state.json").is_file(), "{name}: a checkpoint");
}

/// Every shipped preset trains headless. The tiny-model presets run the 20 steps; the
/// canonical model (793,697 parameters) runs 2, to keep the test quick on a CPU.
#[test]
fn every_shipped_preset_trains_headless() {
    for (name, text) in SHIPPED_PRESETS {
        let big = RunConfig::from_toml(text).unwrap().model_size
            != diffusion_lab::config::ModelSize::Tiny;
        train_headless(name, if big { 2 } else { 20 });
    }
}

#[test]
fn a_preset_names_only_bundled_models_for_the_player() {
    for (name, text) in SHIPPED_PRESETS {
        let p = Preset::from_toml(text).unwrap();
        if let Some(m) = &p.sampler.model {
            assert!(
                diffusion_lab::store::bundled_model(m).is_some(),
                "{name}: sampler.model = {m} is not a bundled model"
            );
        }
    }
}

/// #15 §5: new runs feed the UNet t·1000/T (improved-diffusion's `rescale_timesteps`); the
/// checkpoints written before it (every bundled model) keep the raw t they were trained with.
#[test]
fn new_runs_rescale_t_and_old_checkpoints_keep_the_raw_t() {
    let text = "name = \"long\"\nmodel_size = \"tiny\"\n[schedule]\nsteps = 100000\n";
    let config = RunConfig::from_toml(text).unwrap();
    assert_eq!(config.rescale_timesteps, Some(true));
    let unet = config.unet(1, 16);
    assert!(
        (unet.time_scale - 0.01).abs() < 1e-15,
        "{}",
        unet.time_scale
    );
    // The tiny model's sinusoid is 16 wide: its lowest frequency is 10000^(−14/16) =
    // 3.1623e−4 rad per unit of t. Raw, t = T = 100,000 turns it 31.6 rad (five turns, so
    // far-apart t share an embedding); rescaled, t·1000/T turns it at most 0.316 rad.
    let lowest = 10000f64.powf(-14.0 / 16.0);
    assert!((lowest - 3.162_277_66e-4).abs() < 1e-12);
    assert!(lowest * 100_000.0 * unet.time_scale < std::f64::consts::PI);
    assert!(lowest * 100_000.0 > 2.0 * std::f64::consts::TAU);
    // Opting out keeps the raw t.
    let raw = RunConfig::from_toml(&format!("rescale_timesteps = false\n{text}")).unwrap();
    assert_eq!(raw.unet(1, 16).time_scale, 1.0);

    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models");
    for entry in std::fs::read_dir(models).unwrap() {
        let dir = entry.unwrap().path();
        let (config, _) = diffusion_lab::store::read_info(&dir).unwrap();
        let unet = config.unet(1, 28);
        assert_eq!(unet.time_scale, 1.0, "{}", dir.display());
        if config.time_input == diffusion_lab::config::TimeInputKind::LogSnr {
            // Seed 000's models read λ(t), whatever T is: rescaling t does not apply.
            assert!(
                matches!(
                    unet.time_input,
                    diffusion_lab::model::TimeInput::LogSnr { .. }
                ),
                "{}",
                dir.display()
            );
        } else {
            // Step-conditioned models predate rescale_timesteps (None), or were trained with
            // it at T = 1000, where t·1000/T is t (fashion-canonical).
            assert!(
                config.rescale_timesteps.is_none() || config.schedule.steps == 1000,
                "{}",
                dir.display()
            );
        }
    }
}
