//! The UI soak (#18): random clicks, drags, wheel turns, keys and typing for thousands of
//! frames in every view, the presenter and every lesson, then the app is closed and every
//! background job must have ended. Its own test binary, so no other test's jobs are counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::DiffusionApp;
use diffusion_lab::config::View;
use egui::{Event, Key, Modifiers, PointerButton, Pos2, Vec2};
use egui_kittest::Harness;

/// A small seeded generator (SplitMix64), so a failure replays with the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pos(&mut self, w: f32, h: f32) -> Pos2 {
        Pos2::new(self.below(w as u64) as f32, self.below(h as u64) as f32)
    }
}

const KEYS: [Key; 16] = [
    Key::Space,
    Key::ArrowLeft,
    Key::ArrowRight,
    Key::ArrowUp,
    Key::ArrowDown,
    Key::Escape,
    Key::Enter,
    Key::Tab,
    Key::Backspace,
    Key::Num1,
    Key::Num3,
    Key::Num9,
    Key::P,
    Key::F,
    Key::Home,
    Key::End,
];

const TEXTS: [&str; 8] = [
    "0.5",
    "-1",
    "1e9",
    "abc",
    "(u",
    "NaN",
    "12345678901234567890",
    "ü∅",
];

fn click(h: &Harness<'_, DiffusionApp>, pos: Pos2, button: PointerButton) {
    h.event(Event::PointerMoved(pos));
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos,
            button,
            pressed,
            modifiers: Modifiers::default(),
        });
    }
}

/// One random action, queued for the next frame.
fn random_action(h: &Harness<'_, DiffusionApp>, rng: &mut Rng, w: f32, hgt: f32) {
    match rng.below(10) {
        0..=3 => click(h, rng.pos(w, hgt), PointerButton::Primary),
        4 => click(h, rng.pos(w, hgt), PointerButton::Secondary),
        5 => {
            // A drag: press, three moves, release.
            let (a, b) = (rng.pos(w, hgt), rng.pos(w, hgt));
            h.event(Event::PointerMoved(a));
            h.event(Event::PointerButton {
                pos: a,
                button: PointerButton::Primary,
                pressed: true,
                modifiers: Modifiers::default(),
            });
            for k in 1..=3 {
                h.event(Event::PointerMoved(a + (b - a) * (k as f32 / 3.0)));
            }
            h.event(Event::PointerButton {
                pos: b,
                button: PointerButton::Primary,
                pressed: false,
                modifiers: Modifiers::default(),
            });
        }
        6 => {
            h.event(Event::PointerMoved(rng.pos(w, hgt)));
            h.event(Event::MouseWheel {
                unit: egui::MouseWheelUnit::Line,
                delta: Vec2::new(0.0, rng.below(7) as f32 - 3.0),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
                modifiers: Modifiers::default(),
            });
        }
        7 | 8 => {
            let key = KEYS[rng.below(KEYS.len() as u64) as usize];
            for pressed in [true, false] {
                h.event(Event::Key {
                    key,
                    physical_key: None,
                    pressed,
                    repeat: false,
                    modifiers: Modifiers::default(),
                });
            }
        }
        _ => h.event(Event::Text(
            TEXTS[rng.below(TEXTS.len() as u64) as usize].to_owned(),
        )),
    }
}

fn frames(h: &mut Harness<'_, DiffusionApp>, rng: &mut Rng, n: usize) {
    let (w, hgt) = (1280.0, 800.0);
    for _ in 0..n {
        random_action(h, rng, w, hgt);
        h.step();
    }
}

#[test]
fn random_input_in_every_view_and_lesson_never_panics_and_closing_joins_every_job() {
    diffusion_lab::app::dialog::disable_file_dialogs();
    let runs = tempfile::tempdir().unwrap();
    let mut app = DiffusionApp::new(View::Schedule);
    app.set_runs_dir(runs.path().to_path_buf());
    // Typed text may hold characters the fonts lack (a user may paste anything): the app then
    // draws a box, as eframe does by default; the app's own labels are checked in tests/ui.
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(
            |ui, app: &mut DiffusionApp| {
                app.tick(ui.ctx());
                app.shell_ui(ui);
            },
            app,
        );
    let mut rng = Rng(18);
    let per_view: usize = std::env::var("SOAK_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    for view in View::TABS {
        h.state_mut().set_presenter(false);
        h.state_mut().view = view;
        frames(&mut h, &mut rng, per_view);
    }
    // The presenter, every lesson, every step.
    let lessons = h.state().presenter.lessons.len();
    assert!(lessons >= 3);
    for lesson in 0..lessons {
        h.state_mut().set_presenter(true);
        h.state_mut().presenter.lesson = lesson;
        h.state_mut().apply_lesson_setup();
        let steps = h.state().presenter.lessons[lesson].steps.len();
        for step in 0..steps {
            h.state_mut().jump_to_step(step);
            frames(&mut h, &mut rng, (per_view / steps.max(1)).max(20));
        }
    }
    // Closing the app (dropping it, as eframe does after on_exit) stops every job it started.
    let mut app = h.into_state();
    app.training.shutdown();
    drop(app);
    // Every job's thread is joined when its owner drops it, so none may still run now.
    assert_eq!(
        diffusion_lab::jobs::running_jobs(),
        0,
        "background jobs still running after the app closed"
    );
}
