//! Classroom mode with egui_kittest (no display needed): the presenter toggle hides the controls
//! and enlarges the type, the keyboard shortcuts drive the player, the forward explorer and the
//! lessons, the lesson picker lists the shipped lessons, and the settings round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::{DiffusionApp, Settings, shipped_lessons};
use diffusion_lab::config::View;
use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn harness(app: DiffusionApp, w: f32, h: f32) -> Harness<'static, DiffusionApp> {
    Harness::builder()
        .with_size(egui::vec2(w, h))
        .build_ui_state(|ui, app: &mut DiffusionApp| app.shell_ui(ui), app)
}

fn app(view: View) -> Harness<'static, DiffusionApp> {
    harness(DiffusionApp::new(view), 1280.0, 800.0)
}

fn press(h: &mut Harness<'static, DiffusionApp>, key: Key) {
    h.key_press(key);
    h.step();
}

#[test]
fn presenter_toggle_hides_the_controls_and_enlarges_the_type() {
    let mut h = app(View::Schedule);
    h.step();
    let normal = h.get_by_label("Noise schedules").rect().height();
    h.get_by_label("Schedules");
    h.get_by_label("Present");
    assert!(!h.state().presenter.on);

    // P turns the presenter on; it starts the default lesson at step 1.
    press(&mut h, Key::P);
    assert!(h.state().presenter.on);
    assert_eq!(h.state().presenter.step, Some(0));
    assert_eq!(
        h.state().presenter.current().unwrap().name,
        "lesson-forward"
    );
    // Step 3 of the forward lesson shows the schedule lab.
    press(&mut h, Key::Num3);
    h.step();
    assert_eq!(h.state().view, View::Schedule);
    assert!(
        h.query_by_label("Schedules").is_none(),
        "the tab bar is hidden"
    );
    assert!(
        h.query_by_label("Present").is_none(),
        "the controls are hidden"
    );
    let big = h.get_by_label("Noise schedules").rect().height();
    assert!(
        big > normal * 1.4,
        "text is larger in the presenter: {big} vs {normal}"
    );
    h.get_by_label("α_t = 1 − β_t,    ᾱ_t = α₁ α₂ … α_t");
    h.get_by_label_contains("ᾱ_t is the signal that survives");

    // Esc leaves; the controls come back at their normal size.
    press(&mut h, Key::Escape);
    h.step();
    assert!(!h.state().presenter.on);
    h.get_by_label("Schedules");
    let again = h.get_by_label("Noise schedules").rect().height();
    assert!((again - normal).abs() < 0.5, "{again} vs {normal}");
}

#[test]
fn the_present_button_and_the_exit_button_toggle_the_presenter() {
    let mut h = app(View::Schedule);
    h.step();
    h.get_by_label("Present").click();
    h.step();
    h.step();
    assert!(h.state().presenter.on);
    h.get_by_label("Exit").click();
    h.step();
    h.step();
    assert!(!h.state().presenter.on);
}

#[test]
fn view_presenter_opens_the_presenter_on_the_first_lesson_step() {
    let h = app(View::Presenter);
    let s = h.state();
    assert!(s.presenter.on);
    assert_eq!(s.presenter.step, Some(0));
    assert_eq!(
        s.view,
        View::Forward,
        "lesson-forward step 1 is the forward explorer"
    );
    assert_eq!(s.forward.t, 0);
}

#[test]
fn space_plays_and_pauses_the_player_and_arrows_step_it() {
    let mut h = app(View::Player);
    // A short chain of the bundled model to step through (the harness runs no App::logic, so
    // drive the player's own).
    h.state_mut().player.n = 2;
    h.state_mut().player.a.settings.steps = 5;
    let start = std::time::Instant::now();
    loop {
        let ctx = h.ctx.clone();
        h.state_mut().player.logic(&ctx);
        h.step();
        if !h.state().player.is_busy() && h.state().player.frames() > 3 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "timed out waiting for the player's first chain"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.state_mut().player.seek(0);
    assert!(!h.state().player.is_playing());
    press(&mut h, Key::Space);
    assert!(h.state().player.is_playing());
    press(&mut h, Key::Space);
    assert!(!h.state().player.is_playing());
    press(&mut h, Key::ArrowRight);
    press(&mut h, Key::ArrowRight);
    assert_eq!(h.state().player.frame(), 2);
    press(&mut h, Key::ArrowLeft);
    assert_eq!(h.state().player.frame(), 1);
    press(&mut h, Key::Space);
    press(&mut h, Key::ArrowRight);
    assert!(!h.state().player.is_playing(), "stepping pauses");
}

#[test]
fn on_the_forward_explorer_space_plays_t_and_arrows_step_it() {
    let mut h = app(View::Forward);
    h.step();
    h.state_mut().forward.t = 250;
    press(&mut h, Key::ArrowRight);
    assert_eq!(h.state().forward.t, 251);
    h.key_press_modifiers(Modifiers::SHIFT, Key::ArrowLeft);
    h.step();
    assert_eq!(h.state().forward.t, 241, "Shift steps by 10");
    press(&mut h, Key::Space);
    assert!(h.state().forward.playing);
    press(&mut h, Key::Space);
    assert!(!h.state().forward.playing);
    h.state_mut().forward.t = 999;
    press(&mut h, Key::ArrowRight);
    press(&mut h, Key::ArrowRight);
    assert_eq!(h.state().forward.t, 1000, "t stops at T");
}

#[test]
fn digits_jump_to_lesson_steps_switching_view_and_setting_t() {
    let mut h = app(View::Schedule);
    h.step();
    // Outside the presenter and before a lesson is picked, digits do nothing.
    press(&mut h, Key::Num4);
    assert_eq!(h.state().view, View::Schedule);
    assert_eq!(h.state().presenter.step, None);

    h.state_mut().set_presenter(true);
    press(&mut h, Key::Num4);
    let s = h.state();
    assert_eq!(s.presenter.step, Some(3));
    assert_eq!(s.view, View::Forward);
    assert_eq!(s.forward.t, 250);
    h.get_by_label("x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε,    ε ~ N(0, I)");
    press(&mut h, Key::Num6);
    assert_eq!(h.state().forward.t, 1000);
    // There is no step 9: nothing changes.
    press(&mut h, Key::Num9);
    assert_eq!(h.state().presenter.step, Some(5));
    // Page Down / Page Up (clickers) move one step.
    press(&mut h, Key::PageDown);
    assert_eq!(h.state().presenter.step, Some(6));
    press(&mut h, Key::PageUp);
    press(&mut h, Key::PageUp);
    assert_eq!(h.state().presenter.step, Some(4));
    assert_eq!(h.state().forward.t, 500);
    // On a view without a player, the arrows move through the lesson.
    press(&mut h, Key::Num3);
    assert_eq!(h.state().view, View::Schedule);
    press(&mut h, Key::ArrowRight);
    assert_eq!(h.state().presenter.step, Some(3));
    assert_eq!(h.state().view, View::Forward);
}

#[test]
fn f_toggles_full_screen() {
    let mut h = app(View::Schedule);
    h.step();
    press(&mut h, Key::F);
    assert!(h.state().fullscreen);
    press(&mut h, Key::F);
    assert!(!h.state().fullscreen);
}

#[test]
fn the_lesson_picker_lists_the_shipped_lessons() {
    let lessons = shipped_lessons();
    let names: Vec<&str> = lessons.iter().map(|l| l.name.as_str()).collect();
    for name in [
        "lesson-forward",
        "lesson-reverse",
        "lesson-2d",
        "schedule-study",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(
        names[0].starts_with("lesson-"),
        "lessons come first: {names:?}"
    );
    let mut h = app(View::Schedule);
    h.step();
    h.get_by_label("Lessons").click();
    h.step();
    h.step();
    h.get_by_label("Lesson: the reverse chain (6 steps)")
        .click();
    h.step();
    h.step();
    let s = h.state();
    assert_eq!(s.presenter.current().unwrap().name, "lesson-reverse");
    assert_eq!(s.presenter.step, Some(0));
    assert_eq!(s.view, View::Training, "step 1 of the reverse lesson");
    assert!(
        !s.presenter.on,
        "picking a lesson does not start the presenter"
    );
}

#[test]
fn settings_round_trip_and_reset_to_defaults() {
    let mut a = DiffusionApp::new(View::Schedule);
    a.set_presenter(true);
    assert!(a.presenter.select("lesson-reverse"));
    assert!(a.jump_to_step(2));
    a.presenter.text_scale = 2.0;
    let saved = a.settings();
    assert_eq!(saved.last_view, "player");
    let json = serde_json::to_string(&saved).unwrap();
    let restored: Settings = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, saved);

    let mut b = DiffusionApp::new(View::Schedule);
    b.apply_settings(&restored, false);
    assert!(b.presenter.on);
    assert_eq!(b.view, View::Player);
    assert_eq!(b.presenter.current().unwrap().name, "lesson-reverse");
    assert_eq!(b.presenter.step, Some(2));
    assert_eq!(b.presenter.text_scale, 2.0);
    // (Dialog folders are the process's; other tests pick some meanwhile.)
    let without_folders = |s: Settings| Settings {
        dialog_folders: Default::default(),
        ..s
    };
    assert_eq!(
        without_folders(b.settings()),
        without_folders(saved.clone())
    );

    // A view given on the command line wins over the persisted one.
    let mut c = DiffusionApp::new(View::Forward);
    c.apply_settings(&restored, true);
    assert_eq!(c.view, View::Forward);
    assert!(!c.presenter.on);

    // `--view presenter` keeps the presenter on and starts the remembered lesson at step 1.
    let mut d = DiffusionApp::new(View::Presenter);
    d.apply_settings(&restored, true);
    assert!(d.presenter.on);
    assert_eq!(d.presenter.current().unwrap().name, "lesson-reverse");
    assert_eq!(d.presenter.step, Some(0));
    assert_eq!(d.view, View::Training, "step 1 of the reverse lesson");

    // Older or partial settings fill in defaults.
    let partial: Settings = serde_json::from_str(r#"{"presenter": true}"#).unwrap();
    assert_eq!(partial.ui_scale, 1.0);

    // Reset to defaults, including what the user built in the views (#20 item 10).
    b.schedule_lab.entries.truncate(1);
    b.schedule_lab
        .add(diffusion_lab::diffusion::ScheduleSpec::new(
            diffusion_lab::diffusion::ScheduleKind::Sigmoid,
            500,
        ));
    b.player.n = 7;
    let mut h = harness(b, 1280.0, 800.0);
    h.step();
    let ctx = h.ctx.clone();
    h.state_mut().reset_to_defaults(&ctx);
    h.step();
    let s = h.state();
    assert!(!s.presenter.on);
    assert_eq!(s.view, View::Schedule);
    assert_eq!(s.presenter.step, None);
    // Reset keeps the folders the file dialogs remember (they are not a setting one would
    // want lost with the layout).
    assert_eq!(
        without_folders(s.settings()),
        without_folders(Settings::default())
    );
    let kinds: Vec<_> = s
        .schedule_lab
        .entries
        .iter()
        .map(|e| e.spec.clone())
        .collect();
    let fresh: Vec<_> = diffusion_lab::app::ScheduleLab::default()
        .entries
        .iter()
        .map(|e| e.spec.clone())
        .collect();
    assert_eq!(kinds, fresh, "the user's schedules are reset");
    assert_eq!(s.player.n, diffusion_lab::app::PlayerView::default().n);
}

#[test]
fn the_reset_action_is_in_the_settings_menu() {
    let mut h = app(View::Schedule);
    h.step();
    h.state_mut().set_presenter(true);
    h.state_mut().set_presenter(false);
    h.state_mut().view = View::Runs;
    h.step();
    h.get_by_label("Settings").click();
    h.step();
    h.step();
    h.get_by_label("Reset to defaults").click();
    h.step();
    h.step();
    assert_eq!(h.state().view, View::Schedule);
    assert_eq!(h.state().presenter.step, None);
}

#[test]
fn every_lesson_text_has_glyphs_in_the_default_font() {
    let mut h = app(View::Schedule);
    h.step();
    let font = egui::FontId::proportional(20.0);
    for lesson in shipped_lessons() {
        for (i, s) in lesson.steps.iter().enumerate() {
            for text in [&s.caption, &s.formula, &lesson.title] {
                let missing: Vec<char> = text
                    .chars()
                    .filter(|&c| !h.ctx.fonts_mut(|f| f.has_glyph(&font, c)))
                    .collect();
                assert!(
                    missing.is_empty(),
                    "{} step {}: no glyph for {missing:?} in {text:?}",
                    lesson.name,
                    i + 1
                );
            }
        }
    }
}

#[test]
fn the_presenter_fits_a_1280_by_720_projector() {
    let mut h = harness(DiffusionApp::new(View::Schedule), 1280.0, 720.0);
    h.step();
    h.state_mut().set_presenter(true);
    press(&mut h, Key::Num7);
    h.step();
    // The longest formula of the forward lesson lies inside the window.
    let r = h
        .get_by_label("ᾱ_t = f(t)/f(0),    f(t) = cos²(((t/T + s)/(1 + s))·π/2)")
        .rect();
    assert!(r.min.x >= 0.0 && r.max.x <= 1280.0, "{r:?}");
    assert!(r.height() >= 36.0, "the formula is large: {r:?}");
}

#[test]
fn shortcuts_are_ignored_while_a_text_field_has_focus() {
    let mut app = DiffusionApp::new(View::Player);
    app.set_presenter(true);
    assert!(app.jump_to_step(1), "lesson-forward step 2");
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, (app, text): &mut (DiffusionApp, String)| {
                egui::Panel::bottom("typing").show(ui, |ui| {
                    ui.add(egui::TextEdit::singleline(text).hint_text("type here"));
                });
                app.shell_ui(ui);
            },
            (app, String::new()),
        );
    h.step();
    h.get_by_role(egui::accesskit::Role::TextInput).click();
    h.step();
    h.step();
    // (Esc is left out: the text field takes it to give up its focus.)
    for key in [Key::Num4, Key::P, Key::F, Key::Space] {
        h.key_press(key);
        h.step();
    }
    let (app, _) = h.state();
    assert_eq!(app.presenter.step, Some(1), "1–9 went to the text field");
    assert!(app.presenter.on, "P went to the text field");
    assert!(!app.fullscreen);
    assert!(!app.forward.playing, "space went to the text field");
}

#[test]
fn opening_a_preset_sets_up_every_view_and_starts_on_its_view() {
    let mut h = app(View::Schedule);
    h.step();
    let app = h.state_mut();
    assert!(!app.open_preset("no-such-preset"));
    assert!(app.open_preset("data-quality"));
    assert_eq!(app.view, View::Runs, "data-quality starts on the runs view");
    assert_eq!(app.training.preset_name, "data-quality");
    assert_eq!(
        app.player.n, 5,
        "the preset's [sampler] n reaches the player"
    );
    assert!(app.open_preset("lesson-2d"));
    assert_eq!(app.view, View::Toy2d);
    let toy =
        diffusion_lab::config::Preset::from_toml(include_str!("../../presets/lesson-2d.toml"))
            .unwrap()
            .toy
            .unwrap();
    assert_eq!(
        app.toy.config, toy,
        "the preset's [toy] reaches the 2-D lab"
    );
}

#[test]
fn the_first_window_fills_a_sensible_share_of_the_screen() {
    // #20 item 10: the window opened at 1280×800 on a 1920×1080 screen.
    use diffusion_lab::app::first_window_size;
    assert_eq!(
        first_window_size(egui::vec2(1920.0, 1080.0)),
        egui::vec2(1536.0, 864.0)
    );
    assert_eq!(
        first_window_size(egui::vec2(3840.0, 2160.0)),
        egui::vec2(3072.0, 1728.0)
    );
    // A small screen: the default size where it fits, never more than the screen.
    assert_eq!(
        first_window_size(egui::vec2(1366.0, 768.0)),
        egui::vec2(1280.0, 768.0)
    );
}

#[test]
fn schedules_move_between_the_lab_and_the_forward_view() {
    // #20 item 8: schedules built in the lab were gone when the forward view opened.
    use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};
    let mut h = crate::ticking_app(DiffusionApp::new(View::Schedule));
    h.state_mut()
        .schedule_lab
        .add(ScheduleSpec::new(ScheduleKind::Sigmoid, 1000));
    h.step();
    h.get_by_label("Use in the forward view").click();
    h.step();
    h.step();
    let s = h.state();
    assert_eq!(s.view, View::Forward);
    let kinds: Vec<_> = s.forward.schedules.iter().map(|f| f.spec.kind).collect();
    assert_eq!(
        kinds,
        [
            ScheduleKind::Linear,
            ScheduleKind::Cosine,
            ScheduleKind::Sigmoid
        ]
    );
    // And back, after the forward view changed one.
    h.state_mut().forward.schedules[0].spec.kind = ScheduleKind::Power;
    h.step();
    h.get_by_label("Use in the schedule lab").click();
    h.step();
    h.step();
    let s = h.state();
    assert_eq!(s.view, View::Schedule);
    let kinds: Vec<_> = s.schedule_lab.entries.iter().map(|e| e.spec.kind).collect();
    assert_eq!(
        kinds,
        [
            ScheduleKind::Power,
            ScheduleKind::Cosine,
            ScheduleKind::Sigmoid
        ]
    );
}

/// The kinds of the schedules shown in the forward explorer and the schedule lab.
fn shown_kinds(app: &DiffusionApp) -> (Vec<ScheduleKind>, Vec<ScheduleKind>) {
    let forward = app.forward.schedules.iter().map(|s| s.spec.kind).collect();
    let lab = app
        .schedule_lab
        .shown_specs()
        .iter()
        .map(|s| s.kind)
        .collect();
    (forward, lab)
}

/// A user's state that no lesson talks about: Twemoji in the forward explorer, and only a
/// custom schedule there and in the schedule lab.
fn users_own_setup(app: &mut DiffusionApp) {
    app.forward
        .show_source(diffusion_lab::explore::Source::Bundled("twemoji-32".into()));
    let custom = ScheduleSpec::new(ScheduleKind::Sigmoid, 1000);
    app.forward.set_schedules(std::slice::from_ref(&custom));
    app.schedule_lab.set_schedules(&[custom]);
    app.forward.index = 7;
}

/// Every step of every shipped lesson sets what its caption refers to (#20 item 4: lesson step
/// 1 said "an MNIST digit" over the Twemoji the user had picked): the lesson's data set in the
/// forward explorer, its image, the schedules the caption names in the explorer and the lab, t,
/// and the player's sampler.
#[test]
fn every_lesson_step_sets_what_its_caption_talks_about() {
    use diffusion_lab::app::PaneSettings;
    use diffusion_lab::sampling::SamplerChoice;
    let mut h = app(View::Schedule);
    h.step();
    let lessons = shipped_lessons();
    assert!(lessons.len() >= 3);
    let mut checked = 0;
    for lesson in &lessons {
        let preset = diffusion_lab::config::SHIPPED_PRESETS
            .iter()
            .find(|(n, _)| *n == lesson.name)
            .map(|(_, text)| diffusion_lab::config::Preset::from_toml(text).unwrap())
            .unwrap();
        for (n, step) in lesson.steps.iter().enumerate() {
            let app = h.state_mut();
            users_own_setup(app);
            assert!(app.presenter.select(&lesson.name));
            app.apply_lesson_setup();
            assert!(app.jump_to_step(n));
            let at = format!("{} step {}: {:?}", lesson.name, n + 1, step.caption);
            let text = format!("{} {}", step.caption, step.formula);
            // The data set: the lesson's, whatever the user had loaded.
            let want = diffusion_lab::explore::Source::from_data_spec(&preset.data).unwrap();
            assert_eq!(app.forward.source, want, "{at}");
            if text.contains("MNIST") {
                assert_eq!(
                    app.forward.source,
                    diffusion_lab::explore::Source::Bundled("mnist".into()),
                    "{at}"
                );
            }
            assert_eq!(app.forward.index, step.image.unwrap_or(0), "{at}");
            // The schedules the caption names are on screen, and no leftover of the user's.
            let (forward, lab) = shown_kinds(app);
            for (word, kind) in [
                ("cosine", ScheduleKind::Cosine),
                ("linear", ScheduleKind::Linear),
            ] {
                if text.to_lowercase().contains(word) {
                    assert!(forward.contains(&kind), "{at}: forward shows {forward:?}");
                    assert!(lab.contains(&kind), "{at}: the lab shows {lab:?}");
                }
            }
            assert!(!forward.contains(&ScheduleKind::Sigmoid), "{at}");
            assert!(!lab.contains(&ScheduleKind::Sigmoid), "{at}");
            if step.view == View::Forward
                && let Some(t) = step.t
            {
                assert_eq!(app.forward.t, t, "{at}");
            }
            if step.view == View::Toy2d
                && let Some(t) = step.t
            {
                assert_eq!(app.toy.t, t.min(app.toy.t_max()), "{at}");
            }
            // "The data" is x₀ itself; "noising" shows a noised t.
            if step.view == View::Toy2d && step.caption.starts_with("The data") {
                assert_eq!(app.toy.t, 0, "{at}");
            }
            if step.view == View::Toy2d && step.caption.starts_with("Noising") {
                assert!(app.toy.t >= app.toy.t_max() / 4, "{at}: t = {}", app.toy.t);
            }
            if step.view == View::Forward && step.caption.to_lowercase().contains("at t = t") {
                assert_eq!(app.forward.t, app.forward.t_max(), "{at}");
            }
            // The player's sampler matches what the caption says about it.
            let PaneSettings { sampler, eta, .. } = app.player.a.settings.clone();
            if step.caption.contains("DDIM skips steps") {
                assert_eq!(sampler, SamplerChoice::Ddim, "{at}");
                assert_eq!(eta, 0.0, "{at}: 'with η = 0'");
            }
            if step.caption.contains("fresh noise") {
                let stochastic = sampler != SamplerChoice::Ddim || eta > 0.0;
                assert!(
                    stochastic,
                    "{at}: {sampler:?} with η = {eta} adds no fresh noise"
                );
            }
            // Drawn, the step shows the data set it names (loaded in the background).
            if step.view == View::Forward {
                for _ in 0..400 {
                    h.step();
                    if h.state().forward.dataset().is_some() && !h.state().forward.busy() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                let ds = h.state().forward.dataset().expect("the data set loads");
                if text.contains("MNIST") {
                    assert_eq!(ds.shape()[1..], [1, 28, 28], "{at}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} steps");
}

/// Opening a preset shows its data set and schedules in the forward explorer and the lab (#20
/// item 4: Presets → mnist-linear-vs-cosine kept the user's Twemoji).
#[test]
fn a_preset_shows_its_data_and_schedules() {
    let mut h = app(View::Schedule);
    h.step();
    let app = h.state_mut();
    users_own_setup(app);
    assert!(app.open_preset("mnist-linear-vs-cosine"));
    assert_eq!(
        app.forward.source,
        diffusion_lab::explore::Source::Bundled("mnist".into())
    );
    let (forward, lab) = shown_kinds(app);
    assert_eq!(forward, [ScheduleKind::Linear, ScheduleKind::Cosine]);
    assert_eq!(lab, [ScheduleKind::Linear, ScheduleKind::Cosine]);
    assert!(app.open_preset("data-quality"));
    assert!(matches!(
        app.forward.source,
        diffusion_lab::explore::Source::Triangles { .. }
    ));
    let (forward, _) = shown_kinds(app);
    assert_eq!(forward, [ScheduleKind::Linear]);
}

/// Settings → Theme switches egui between dark, light and the system's choice, and the choice
/// is remembered (#17).
#[test]
fn the_theme_switch_changes_the_colours_and_is_remembered() {
    use diffusion_lab::app::ThemeChoice;
    let mut h = app(View::Schedule);
    h.step();
    h.get_by_label("Settings").click();
    h.step();
    h.step();
    h.get_by_label("Light").click();
    h.step();
    h.step();
    assert_eq!(h.state().theme, ThemeChoice::Light);
    assert_eq!(h.ctx.theme(), egui::Theme::Light);
    assert!(!h.ctx.global_style().visuals.dark_mode);
    h.state_mut().theme = ThemeChoice::Dark;
    h.step();
    h.step();
    assert_eq!(h.ctx.theme(), egui::Theme::Dark);
    let saved = h.state().settings();
    assert_eq!(saved.theme, ThemeChoice::Dark);
    let json = serde_json::to_string(&saved).unwrap();
    assert!(json.contains(r#""theme":"dark""#), "{json}");
    let mut b = DiffusionApp::new(View::Schedule);
    b.apply_settings(&serde_json::from_str(&json).unwrap(), false);
    assert_eq!(b.theme, ThemeChoice::Dark);
    // Reset goes back to following the system.
    b.apply_settings(&Settings::default(), false);
    assert_eq!(b.theme, ThemeChoice::System);
}

/// ? and F1 open a list of the current view's shortcuts, and every key it lists for the forward
/// explorer does what the list says; Esc closes it (#17).
#[test]
fn the_shortcut_overlay_lists_keys_that_work() {
    let mut h = app(View::Forward);
    h.step();
    press(&mut h, Key::F1);
    assert!(h.state().show_shortcuts);
    h.step();
    h.get_by_label("Keyboard shortcuts");
    let rows = diffusion_lab::app::shortcut_rows(View::Forward, false, false);
    for (keys, _) in &rows {
        h.get_by_label(keys);
    }
    press(&mut h, Key::Escape);
    assert!(!h.state().show_shortcuts, "Esc closes the list");
    // '?' arrives as text.
    h.event(egui::Event::Text("?".into()));
    h.step();
    assert!(h.state().show_shortcuts);
    press(&mut h, Key::F1);
    assert!(!h.state().show_shortcuts, "F1 closes it again");

    // The keys it lists for this view.
    let keys: Vec<&str> = rows.iter().map(|(k, _)| *k).collect();
    assert!(keys.contains(&"Space") && keys.contains(&"← / →") && keys.contains(&"F"));
    assert!(
        !keys.contains(&"1 – 9"),
        "no lesson keys listed while no lesson runs"
    );
    let t0 = h.state().forward.t;
    press(&mut h, Key::ArrowRight);
    assert_eq!(h.state().forward.t, t0 + 1, "→");
    h.key_press_modifiers(Modifiers::SHIFT, Key::ArrowLeft);
    h.step();
    assert_eq!(h.state().forward.t, t0 + 1 - 10, "Shift + ←");
    press(&mut h, Key::Space);
    assert!(h.state().forward.playing, "Space");
    press(&mut h, Key::Space);
    assert!(!h.state().forward.playing);
    press(&mut h, Key::F);
    assert!(h.state().fullscreen, "F");
    press(&mut h, Key::P);
    assert!(h.state().presenter.on, "P");
    // In the presenter the lesson keys are listed too, and Esc leaves it.
    let presenting = diffusion_lab::app::shortcut_rows(View::Forward, true, true);
    assert!(presenting.iter().any(|(k, _)| *k == "1 – 9"));
    assert!(presenting.iter().any(|(k, _)| *k == "Esc"));
    press(&mut h, Key::Escape);
    assert!(!h.state().presenter.on, "Esc");
}

/// File dialogs open in the folder where the same kind of file was last picked, and the folders
/// are remembered with the settings (#17).
#[test]
fn dialogs_remember_the_last_folder_per_kind_of_file() {
    use diffusion_lab::app::dialog;
    let tmp = tempfile::tempdir().unwrap();
    let pngs = tmp.path().join("pictures");
    let arrays = tmp.path().join("arrays");
    std::fs::create_dir_all(&pngs).unwrap();
    std::fs::create_dir_all(&arrays).unwrap();
    dialog::remember("PNG image (kind test)", &pngs.join("grid.png"));
    dialog::remember("NumPy array (kind test)", &arrays.join("x0.npy"));
    assert_eq!(
        dialog::remembered_folder("PNG image (kind test)"),
        Some(pngs.clone())
    );
    assert_eq!(
        dialog::remembered_folder("NumPy array (kind test)"),
        Some(arrays.clone())
    );
    let saved = DiffusionApp::new(View::Schedule).settings();
    assert_eq!(
        saved.dialog_folders["PNG image (kind test)"],
        pngs.display().to_string()
    );
    // Restored on the next start; a folder that has gone is dropped, and a kind picked in
    // this session keeps this session's folder.
    let gifs = tmp.path().join("gifs");
    std::fs::create_dir_all(&gifs).unwrap();
    let mut restored = saved.clone();
    restored.dialog_folders.insert(
        "GIF animation (kind test)".into(),
        gifs.display().to_string(),
    );
    restored
        .dialog_folders
        .insert("Run card (kind test)".into(), "/no/such/folder".into());
    restored
        .dialog_folders
        .insert("PNG image (kind test)".into(), "/".into());
    DiffusionApp::new(View::Schedule).apply_settings(&restored, false);
    assert_eq!(
        dialog::remembered_folder("GIF animation (kind test)"),
        Some(gifs)
    );
    assert_eq!(dialog::remembered_folder("Run card (kind test)"), None);
    assert_eq!(
        dialog::remembered_folder("PNG image (kind test)"),
        Some(pngs)
    );
}

/// Settings → Runs folder moves where runs go and what the Runs view lists; empty is the
/// per-user default (#17).
#[test]
fn the_runs_folder_setting_moves_training_and_the_runs_view() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = DiffusionApp::new(View::Schedule);
    assert_eq!(
        a.training.runs_dir,
        diffusion_lab::store::default_runs_dir()
    );
    let s = Settings {
        runs_dir: tmp.path().display().to_string(),
        ..Settings::default()
    };
    a.apply_settings(&s, false);
    assert_eq!(a.training.runs_dir, tmp.path());
    assert_eq!(a.runs.runs_dir, tmp.path());
    assert_eq!(a.settings().runs_dir, tmp.path().display().to_string());
    a.apply_settings(&Settings::default(), false);
    assert_eq!(
        a.training.runs_dir,
        diffusion_lab::store::default_runs_dir()
    );
    assert_eq!(a.runs.runs_dir, diffusion_lab::store::default_runs_dir());
}

/// The forward lesson in the presenter at both projector sizes (#17): the pictures (x₀ and each
/// schedule's x_t) come first and together take at least 40 % of the window; their captions are
/// whole (no "lin…", no "t = 2…") and inside the window; the histogram and curves sit under.
#[test]
fn the_presenter_forward_view_puts_the_pictures_first() {
    for (w, h) in [(1280.0f32, 720.0f32), (1920.0, 1080.0)] {
        let mut app = DiffusionApp::new(View::Schedule);
        assert!(app.presenter.select("lesson-forward"));
        app.set_presenter(true);
        app.apply_lesson_setup();
        assert!(app.jump_to_step(6), "step 7: linear and cosine");
        let mut hh = harness(app, w, h);
        for _ in 0..400 {
            hh.step();
            let f = &hh.state().forward;
            if f.x0().is_some()
                && !f.busy()
                && f.tile_rgba(diffusion_lab::app::TileKind::Xt, 1).is_some()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        hh.step();
        let pictures: Vec<egui::Rect> = ["x₀", "x_t, schedule 1", "x_t, schedule 2"]
            .iter()
            .map(|l| hh.get_by_label(l).rect())
            .collect();
        let bbox = pictures.iter().fold(pictures[0], |a, r| a.union(*r));
        let share = bbox.area() / (w * h);
        let tiles: f32 = pictures.iter().map(|r| r.area()).sum::<f32>() / (w * h);
        eprintln!(
            "{w}×{h}: pictures' box {:.0} % of the window, tiles {:.0} %, tile side {:.0}",
            share * 100.0,
            tiles * 100.0,
            pictures[1].width()
        );
        assert!(
            share >= 0.40,
            "{w}×{h}: the pictures take {:.0} %",
            share * 100.0
        );
        let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w, h));
        for caption in ["linear", "cosine"] {
            let r = hh.get_by_label(caption).rect();
            assert!(window.contains_rect(r), "{caption} at {r:?}");
        }
        // The t captions are whole: each shows t and ᾱ with three decimals.
        let captions: Vec<_> = hh.get_all_by_label_contains("t = 250 · ᾱ = ").collect();
        assert_eq!(captions.len(), 2, "one per schedule");
        for c in captions {
            let text = {
                use egui_kittest::kittest::NodeT;
                let node = c.accesskit_node();
                node.label().or_else(|| node.value()).unwrap_or_default()
            };
            assert!(
                text.len() >= "t = 250 · ᾱ = 0.000".len() && !text.contains('…'),
                "{text:?}"
            );
            assert!(window.contains_rect(c.rect()), "{text:?} at {:?}", c.rect());
        }
        // Nothing is pushed off the right edge: the time row's speed and the third curve.
        for label in ["speed", "SNR_t (log axis)"] {
            let r = hh.get_by_label(label).rect();
            assert!(r.right() <= w, "{w}×{h}: {label} ends at {}", r.right());
        }
        // The secondary plots are there, under the pictures.
        let hist = hh
            .get_by_label("Pixel values of x_t against N(0, 1)")
            .rect();
        assert!(hist.top() >= bbox.bottom() - 1.0, "{hist:?} under {bbox:?}");
    }
}

/// A lesson step's t survives the chain being drawn (#20): "Sampling starts from pure noise"
/// (t = T) showed the finished digits because the player settled on the last frame after the
/// lesson had asked for t.
#[test]
fn a_lesson_steps_t_is_shown_once_the_chain_is_drawn() {
    use diffusion_lab::app::ModelSource;
    let mut app = DiffusionApp::new(View::Schedule);
    assert!(app.presenter.select("lesson-reverse"));
    app.set_presenter(true);
    app.apply_lesson_setup();
    assert!(app.jump_to_step(1), "step 2: x_T");
    // A small, quick chain of the tiny bundled model (the lesson's DDPM over all T).
    app.player.n = 2;
    app.player.source = ModelSource::Bundled("mnist-tiny");
    let mut h = crate::ticking_app(app);
    let start = std::time::Instant::now();
    loop {
        h.step();
        let p = &h.state().player;
        if !p.is_busy() && p.frames() > 10 {
            break;
        }
        // A hang guard, not a speed check: 1,000 DDPM steps of a debug build took 105 s
        // beside a scoring run and over 180 s inside the full suite on 2 busy cores.
        assert!(
            start.elapsed() < std::time::Duration::from_secs(600),
            "no chain"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.step();
    assert_eq!(
        h.state().player.current_t(),
        Some(1000),
        "x_T, as the caption says"
    );
    // The next step asks for t = 700 on the same chain.
    h.state_mut().jump_to_step(2);
    h.step();
    assert_eq!(h.state().player.current_t(), Some(700));
}

/// The 2-D lab and the player in the presenter (#17): no side panel of controls, the clouds in
/// one row taking most of the window with whole titles, and the player's equation along the
/// bottom at full width.
#[test]
fn the_presenter_gives_the_2d_lab_and_the_player_their_pictures() {
    let (w, h) = (1280.0f32, 720.0f32);
    let mut app = DiffusionApp::new(View::Schedule);
    assert!(app.presenter.select("lesson-2d"));
    app.set_presenter(true);
    app.apply_lesson_setup();
    assert!(app.jump_to_step(2), "the score step");
    let mut hh = harness(app, w, h);
    for _ in 0..5 {
        hh.step();
    }
    assert!(
        hh.query_by_label("Dataset").is_none(),
        "the side panel is hidden"
    );
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w, h));
    let title = hh
        .get_by_label_contains("True score of the noised mixture")
        .rect();
    assert!(window.contains_rect(title), "{title:?}");
    let forward = hh.get_by_label_contains("Forward: x_t at t =").rect();
    assert!(
        forward.left() < 40.0,
        "the clouds start at the left edge: {forward:?}"
    );

    for (w, h) in [(1280.0f32, 720.0f32), (1920.0, 1080.0)] {
        player_pictures_take_40_percent(w, h);
    }
}

fn player_pictures_take_40_percent(w: f32, h: f32) {
    let mut app = DiffusionApp::new(View::Schedule);
    assert!(app.presenter.select("lesson-reverse"));
    app.set_presenter(true);
    app.apply_lesson_setup();
    assert!(app.jump_to_step(2));
    app.player.n = 4; // a square 2 × 2 grid, as the lesson's 4 × 4 is
    let mut hh = crate::ticking_app_sized(app, w, h);
    let start = std::time::Instant::now();
    while hh
        .query_by_label_contains(": x̂₀ (predicted clean image)")
        .is_none()
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no panes"
        );
        hh.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    hh.step();
    // The main pictures first (#17): x_t and x̂₀ side by side over at least 40 % of the
    // window (ε̂ and the noise stay in the normal layout).
    let xt = hh.get_by_label_contains(": x_t").rect();
    let x0 = hh
        .get_by_label_contains(": x̂₀ (predicted clean image)")
        .rect();
    let share = (xt.area() + x0.area()) / (w * h);
    eprintln!(
        "player presenter at {w}×{h}: x_t {:.0}×{:.0}, x̂₀ {:.0}×{:.0}: {:.0} % of the window",
        xt.width(),
        xt.height(),
        x0.width(),
        x0.height(),
        share * 100.0
    );
    assert!(share >= 0.40, "the pictures take {:.0} %", share * 100.0);
    assert!(x0.left() >= xt.right() - 1.0, "side by side: {xt:?} {x0:?}");
    // Whole: above the transport bar, left of the equation column.
    let transport = hh.get_by_label("|<").rect();
    assert!(
        xt.bottom() <= transport.top(),
        "{xt:?} runs under {transport:?}"
    );
    assert!(x0.right() <= w, "{x0:?}");
    assert!(hh.query_by_label("σ·z (noise added)").is_none());
}
