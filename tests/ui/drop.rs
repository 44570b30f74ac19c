//! Drag and drop (#17): a preset anywhere, images, folders and .npy files onto the forward
//! explorer, a checkpoint folder or a run card onto the player; a bad file says what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::{DiffusionApp, ModelSource};
use diffusion_lab::config::View;
use diffusion_lab::explore::Source;
use egui_kittest::Harness;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file as the window system hands it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn app(view: View) -> Harness<'static, DiffusionApp> {
    diffusion_lab::app::dialog::disable_file_dialogs();
    let mut h = crate::ticking_app(DiffusionApp::new(view));
    h.step();
    h
}

fn drop_file(h: &mut Harness<'static, DiffusionApp>, path: &Path) {
    h.input_mut()
        .dropped_files
        .push(Arc::new(Dropped(path.to_path_buf())));
    h.step();
    h.step();
}

#[test]
fn an_image_dropped_on_the_forward_view_is_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("photo.png");
    image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
    })
    .save(&png)
    .unwrap();
    let mut h = app(View::Forward);
    drop_file(&mut h, &png);
    assert_eq!(h.state().view, View::Forward);
    assert!(
        matches!(&h.state().forward.source, Source::Images { paths, .. } if paths == std::slice::from_ref(&png))
    );
    for _ in 0..300 {
        h.step();
        if h.state().forward.dataset().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(h.state().forward.dataset().expect("loads").len(), 1);
    let (note, error) = h.state().drop_note.clone().unwrap();
    assert!(!error && note.contains("photo.png"), "{note}");
}

#[test]
fn a_preset_dropped_anywhere_opens_it() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = tmp.path().join("my-cosine.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/mnist-cosine.toml"),
        &toml,
    )
    .unwrap();
    let mut h = app(View::Runs);
    drop_file(&mut h, &toml);
    let app = h.state();
    assert_eq!(app.training.preset_name, "my-cosine");
    assert_eq!(
        app.training.config.schedule.kind,
        diffusion_lab::diffusion::ScheduleKind::Cosine
    );
    assert!(
        app.forward
            .schedules
            .iter()
            .any(|s| s.spec.kind == diffusion_lab::diffusion::ScheduleKind::Cosine)
    );
    // A malformed preset is named, with what is wrong, and changes nothing.
    let bad = tmp.path().join("broken.toml");
    std::fs::write(&bad, "name = 3\n[schedule]\nsteps = -1\n").unwrap();
    drop_file(&mut h, &bad);
    let (note, error) = h.state().drop_note.clone().unwrap();
    assert!(error && note.contains("broken.toml"), "{note}");
    assert_eq!(h.state().training.preset_name, "my-cosine");
}

#[test]
fn a_checkpoint_or_a_run_card_dropped_on_the_player_opens_it() {
    let ckpt = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/mnist-tiny");
    let mut h = app(View::Player);
    drop_file(&mut h, &ckpt);
    assert_eq!(h.state().view, View::Player);
    assert_eq!(
        h.state().player.source,
        ModelSource::Checkpoint(ckpt.clone())
    );

    // A run card: its checkpoint, sampler, grid size and seed.
    let tmp = tempfile::tempdir().unwrap();
    let card_path = tmp.path().join("card.json");
    let card = diffusion_lab::sampling::export::RunCard {
        generator: "test".into(),
        checkpoint: ckpt.clone(),
        checkpoint_step: 0,
        weights: diffusion_lab::sampling::export::Weights::Ema,
        schedule: diffusion_lab::diffusion::ScheduleSpec::new(
            diffusion_lab::diffusion::ScheduleKind::Linear,
            1000,
        ),
        sampler: diffusion_lab::diffusion::SamplerKind::Ddim {
            steps: 20,
            eta: 0.5,
            spacing: diffusion_lab::diffusion::Spacing::Trailing,
        },
        n: 9,
        seed: 7,
        clip: false,
        stride: 1,
        guidance: None,
        classifier: None,
    };
    card.write(&card_path).unwrap();
    h.state_mut().player.source = ModelSource::Bundled("mnist-canonical");
    drop_file(&mut h, &card_path);
    let p = &h.state().player;
    assert_eq!(p.source, ModelSource::Checkpoint(ckpt));
    assert_eq!((p.a.settings.steps, p.a.settings.eta), (20, 0.5));
    assert_eq!((p.n, p.seed, p.clip), (9, 7, false));
}

#[test]
fn a_file_that_cannot_be_opened_is_named_in_the_status_bar() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("notes.npy");
    std::fs::write(&junk, b"not an array").unwrap();
    let mut h = app(View::Forward);
    drop_file(&mut h, &junk);
    for _ in 0..300 {
        h.step();
        if h.state().forward.load_error.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let err = h.state().forward.load_error.clone().expect("an error");
    assert!(
        err.contains("notes.npy") || err.to_lowercase().contains("npy"),
        "{err}"
    );
    // A path that does not exist is refused at once, naming it.
    drop_file(&mut h, &tmp.path().join("gone.png"));
    let (note, error) = h.state().drop_note.clone().unwrap();
    assert!(error && note.contains("gone.png"), "{note}");
}
