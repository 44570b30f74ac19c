//! Classroom mode: the presenter layout (large type, high contrast, controls hidden), the lessons
//! of the shipped presets, the keyboard shortcuts, and the settings that persist between runs.

use crate::config::{LessonStep, Preset, SHIPPED_PRESETS, View};
use egui::{Color32, FontId, Key, Modifiers, RichText, Stroke, TextStyle};
use serde::{Deserialize, Serialize};

/// The eframe storage key of [`Settings`].
pub const SETTINGS_KEY: &str = "diffusion-lab/settings";

/// The lesson the presenter opens with when none was picked.
pub const DEFAULT_LESSON: &str = "lesson-forward";

/// The settings that come back on the next start (eframe storage). Runtime state (workers,
/// textures) is not here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The presenter layout is on.
    pub presenter: bool,
    /// The view on screen (a `--view` name).
    pub last_view: String,
    /// The preset of the training view (a shipped preset name).
    pub last_preset: String,
    /// The lesson (a shipped preset name).
    pub lesson: String,
    /// The lesson step shown (0-based), if one was jumped to.
    pub lesson_step: Option<usize>,
    /// The whole UI's zoom factor (egui points per logical pixel; Ctrl +/− change it).
    pub ui_scale: f32,
    /// How much larger text is in the presenter layout.
    pub presenter_text_scale: f32,
    /// Dark, light, or whatever the system uses.
    pub theme: ThemeChoice,
    /// Where training runs go and the Runs view looks; empty: the per-user default
    /// ([`crate::store::default_runs_dir`]). `--runs-dir` overrides it for one session.
    pub runs_dir: String,
    /// The folder each kind of file was last picked in ([`super::dialog::remember`]).
    pub dialog_folders: std::collections::BTreeMap<String, String>,
}

/// The colour theme (Settings → Theme).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeChoice {
    /// Follow the system's dark/light setting.
    #[default]
    System,
    /// Always dark.
    Dark,
    /// Always light.
    Light,
}

impl ThemeChoice {
    /// Every choice, in menu order.
    pub const ALL: [ThemeChoice; 3] = [Self::System, Self::Dark, Self::Light];

    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            Self::System => "Follow the system",
            Self::Dark => "Dark",
            Self::Light => "Light",
        }
    }

    /// egui's preference for it.
    pub fn preference(self) -> egui::ThemePreference {
        match self {
            Self::System => egui::ThemePreference::System,
            Self::Dark => egui::ThemePreference::Dark,
            Self::Light => egui::ThemePreference::Light,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            presenter: false,
            last_view: View::Schedule.name().to_owned(),
            last_preset: SHIPPED_PRESETS[0].0.to_owned(),
            lesson: DEFAULT_LESSON.to_owned(),
            lesson_step: None,
            ui_scale: 1.0,
            presenter_text_scale: 1.6,
            theme: ThemeChoice::System,
            runs_dir: String::new(),
            dialog_folders: Default::default(),
        }
    }
}

/// A lesson: the `[[lesson]]` steps of one shipped preset.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// The preset's name.
    pub name: String,
    /// The preset's title.
    pub title: String,
    /// The steps, in order.
    pub steps: Vec<LessonStep>,
    /// The preset's `[data]`: the forward explorer shows it at every step.
    pub data: crate::config::DataSpec,
    /// The schedules of steps that name none ([`crate::config::Preset::shown_schedules`]).
    pub schedules: Vec<crate::diffusion::ScheduleSpec>,
    /// The preset's `[sampler]` (the player starts with it).
    pub sampler: crate::config::SamplerSpec,
    /// The preset's `[toy]`, if any (the 2-D lab starts with it).
    pub toy: Option<crate::toy::ToyLabConfig>,
}

/// The lessons of the shipped presets (those with at least one step), lessons first.
pub fn shipped_lessons() -> Vec<Lesson> {
    let mut lessons: Vec<Lesson> = SHIPPED_PRESETS
        .iter()
        .filter_map(|(name, text)| {
            let p = Preset::from_toml(text).ok()?;
            (!p.lesson.is_empty()).then(|| Lesson {
                name: (*name).to_owned(),
                title: p.display_title().to_owned(),
                schedules: p.shown_schedules(),
                data: p.data.clone(),
                steps: p.lesson,
                sampler: p.sampler,
                toy: p.toy,
            })
        })
        .collect();
    lessons.sort_by_key(|l| !l.name.starts_with("lesson-"));
    lessons
}

/// A keyboard shortcut of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    /// Space: play/pause the player (or the forward explorer's t).
    PlayPause,
    /// ←/→ (Shift: ×10): step the player or t; on other views in the presenter, the lesson.
    Step(isize),
    /// Page Up/Down (presentation clickers): previous/next lesson step.
    LessonStep(isize),
    /// 1–9: jump to lesson step N (0-based here), in the presenter or once a lesson is picked.
    JumpTo(usize),
    /// F: full screen on/off.
    Fullscreen,
    /// P: presenter layout on/off.
    TogglePresenter,
    /// Esc: leave the presenter layout (or close the shortcut overlay).
    LeavePresenter,
    /// ? or F1: show or hide the list of shortcuts.
    Help,
}

/// The shortcuts that work on `view` (in the presenter layout when `presenting`; the lesson keys
/// once a lesson runs, `lesson_keys`), as (keys, what they do) rows for the overlay that ? and
/// F1 open. The same keys as
/// [`read_shortcuts`]; a test presses each listed key and checks that it does something.
pub fn shortcut_rows(
    view: View,
    presenting: bool,
    lesson_keys: bool,
) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    match view {
        View::Forward => {
            rows.push(("Space", "play or pause t".to_owned()));
            rows.push(("← / →", "t one step back or forward".to_owned()));
            rows.push(("Shift + ← / →", "t ten steps back or forward".to_owned()));
        }
        View::Player | View::Presenter => {
            rows.push(("Space", "play or pause the reverse chain".to_owned()));
            rows.push(("← / →", "the chain one frame back or forward".to_owned()));
            rows.push(("Shift + ← / →", "ten frames back or forward".to_owned()));
        }
        _ if presenting => {
            rows.push(("← / →", "the previous or next lesson step".to_owned()));
        }
        _ => {}
    }
    if lesson_keys {
        rows.push(("1 – 9", "jump to that step of the lesson".to_owned()));
        rows.push((
            "Page Up / Page Down",
            "previous or next lesson step (clickers send these)".to_owned(),
        ));
    }
    rows.push(("P", "presenter layout on or off".to_owned()));
    if presenting {
        rows.push(("Esc", "leave the presenter layout".to_owned()));
    }
    rows.push(("F", "full screen on or off".to_owned()));
    rows.push((
        "Ctrl + + / Ctrl + − / Ctrl + 0",
        "zoom in, out, back to 100 %".to_owned(),
    ));
    rows.push(("? or F1", "this list".to_owned()));
    rows
}

/// Reads and consumes this frame's shortcuts; none while a text field has focus. Esc is only
/// taken while `presenting` (elsewhere it closes menus), and the lesson keys (1–9, Page Up/Down)
/// only while `lesson_keys`.
pub fn read_shortcuts(ctx: &egui::Context, presenting: bool, lesson_keys: bool) -> Vec<Shortcut> {
    if ctx.egui_wants_keyboard_input() {
        return Vec::new();
    }
    const DIGITS: [Key; 9] = [
        Key::Num1,
        Key::Num2,
        Key::Num3,
        Key::Num4,
        Key::Num5,
        Key::Num6,
        Key::Num7,
        Key::Num8,
        Key::Num9,
    ];
    ctx.input_mut(|i| {
        let mut out = Vec::new();
        let none = Modifiers::NONE;
        while i.consume_key(none, Key::Space) {
            out.push(Shortcut::PlayPause);
        }
        for (key, delta) in [(Key::ArrowLeft, -1), (Key::ArrowRight, 1)] {
            while i.consume_key(Modifiers::SHIFT, key) {
                out.push(Shortcut::Step(delta * 10));
            }
            while i.consume_key(none, key) {
                out.push(Shortcut::Step(delta));
            }
        }
        if lesson_keys {
            while i.consume_key(none, Key::PageUp) {
                out.push(Shortcut::LessonStep(-1));
            }
            while i.consume_key(none, Key::PageDown) {
                out.push(Shortcut::LessonStep(1));
            }
            for (n, key) in DIGITS.into_iter().enumerate() {
                if i.consume_key(none, key) {
                    out.push(Shortcut::JumpTo(n));
                }
            }
        }
        if i.consume_key(none, Key::F) {
            out.push(Shortcut::Fullscreen);
        }
        if i.consume_key(none, Key::P) {
            out.push(Shortcut::TogglePresenter);
        }
        if presenting && i.consume_key(none, Key::Escape) {
            out.push(Shortcut::LeavePresenter);
        }
        // '?' arrives as text (Shift + / on most layouts), F1 as a key.
        let question = i
            .events
            .iter()
            .any(|e| matches!(e, egui::Event::Text(t) if t == "?"));
        if question
            || i.consume_key(none, Key::F1)
            || i.consume_key(Modifiers::SHIFT, Key::Questionmark)
        {
            i.events
                .retain(|e| !matches!(e, egui::Event::Text(t) if t == "?"));
            out.push(Shortcut::Help);
        }
        out
    })
}

/// The presenter's colours: black on white, for projectors in lit rooms.
mod palette {
    use egui::Color32;
    /// Text.
    pub const INK: Color32 = Color32::BLACK;
    /// Background.
    pub const PAPER: Color32 = Color32::WHITE;
    /// The formula.
    pub const FORMULA: Color32 = Color32::from_rgb(0, 40, 120);
    /// Secondary text.
    pub const MUTED: Color32 = Color32::from_rgb(60, 60, 60);
    /// The strip's background.
    pub const STRIP: Color32 = Color32::from_rgb(236, 240, 248);
}

/// The presenter layout's paper colour (its panels' background).
pub fn paper() -> Color32 {
    palette::PAPER
}

/// The presenter style: every text size × `text_scale`, taller widgets, and a high-contrast
/// light theme (black text on white, dark strokes).
pub fn presenter_style(base: &egui::Style, text_scale: f32) -> egui::Style {
    let mut style = base.clone();
    let scale = text_scale.clamp(1.0, 3.0);
    // Whole points keep every widget on the pixel grid.
    for font in style.text_styles.values_mut() {
        font.size = (font.size * scale).round();
    }
    let sp = &mut style.spacing;
    sp.interact_size.y = (sp.interact_size.y * scale).round();
    sp.icon_width = (sp.icon_width * scale).round();
    sp.icon_width_inner = (sp.icon_width_inner * scale).round();
    sp.button_padding = (sp.button_padding * scale).round();
    sp.item_spacing = (sp.item_spacing * scale.sqrt()).round();
    let mut v = egui::Visuals::light();
    v.override_text_color = Some(palette::INK);
    v.panel_fill = palette::PAPER;
    v.window_fill = palette::PAPER;
    v.extreme_bg_color = palette::PAPER;
    v.faint_bg_color = Color32::from_gray(235);
    let strong = Stroke::new(1.5, palette::INK);
    v.widgets.noninteractive.fg_stroke = strong;
    v.widgets.noninteractive.bg_stroke = Stroke::new(1.0, Color32::from_gray(90));
    v.widgets.inactive.fg_stroke = strong;
    v.widgets.inactive.bg_stroke = Stroke::new(1.0, Color32::from_gray(60));
    v.widgets.inactive.bg_fill = Color32::from_gray(220);
    v.widgets.inactive.weak_bg_fill = Color32::from_gray(220);
    v.widgets.hovered.fg_stroke = Stroke::new(2.0, palette::INK);
    v.widgets.active.fg_stroke = Stroke::new(2.0, palette::INK);
    v.selection.bg_fill = Color32::from_rgb(120, 170, 255);
    v.selection.stroke = Stroke::new(2.0, palette::INK);
    style.visuals = v;
    style
}

/// What the presenter strip asks the app to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripAction {
    /// Leave the presenter layout.
    Leave,
    /// Show lesson step N (0-based).
    Jump(usize),
}

/// The presenter: whether it is on, the lessons, and where in them we are.
pub struct Presenter {
    /// The presenter layout is on.
    pub on: bool,
    /// The lessons of the shipped presets.
    pub lessons: Vec<Lesson>,
    /// The current lesson (index into `lessons`).
    pub lesson: usize,
    /// The step shown (0-based), once one was jumped to.
    pub step: Option<usize>,
    /// How much larger text is in the presenter layout.
    pub text_scale: f32,
    /// The sampler the lesson last gave the player (a step re-samples only when it changes).
    pub applied_sampler: Option<crate::config::SamplerSpec>,
}

impl Default for Presenter {
    fn default() -> Self {
        let lessons = shipped_lessons();
        let lesson = lessons
            .iter()
            .position(|l| l.name == DEFAULT_LESSON)
            .unwrap_or(0);
        Self {
            on: false,
            lessons,
            lesson,
            step: None,
            text_scale: Settings::default().presenter_text_scale,
            applied_sampler: None,
        }
    }
}

impl Presenter {
    /// The current lesson, if any preset has one.
    pub fn current(&self) -> Option<&Lesson> {
        self.lessons.get(self.lesson)
    }

    /// Selects the lesson named `name`; false if there is none.
    pub fn select(&mut self, name: &str) -> bool {
        match self.lessons.iter().position(|l| l.name == name) {
            Some(i) => {
                self.lesson = i;
                self.step = None;
                true
            }
            None => false,
        }
    }

    /// The step `n` (0-based) of the current lesson, if it has one.
    pub fn step_at(&self, n: usize) -> Option<&LessonStep> {
        self.current()?.steps.get(n)
    }

    /// The step shown.
    pub fn current_step(&self) -> Option<&LessonStep> {
        self.step_at(self.step?)
    }

    /// The lesson strip: title and step number, the formula large, the caption under it.
    pub fn strip_ui(&self, ui: &mut egui::Ui) -> Option<StripAction> {
        let mut action = None;
        let lesson = self.current()?;
        let width = ui.available_width();
        // The formula is the largest text on screen: about 1/30 of the width, at least the
        // heading size (1280 px → 43 pt, 1920 px → 64 pt at a text scale of 1.6).
        let heading = ui
            .style()
            .text_styles
            .get(&TextStyle::Heading)
            .map_or(28.0, |f| f.size);
        let formula_size = (width / 30.0).clamp(heading, heading * 2.2).round();
        let body = ui
            .style()
            .text_styles
            .get(&TextStyle::Body)
            .map_or(20.0, |f| f.size);
        let caption_size = (formula_size * 0.6).max(body).round();
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(&lesson.title)
                    .size(body)
                    .color(palette::MUTED)
                    .strong(),
            );
            for i in 0..lesson.steps.len() {
                let shown = self.step == Some(i);
                let text = RichText::new(format!("{}", i + 1)).size(body);
                if ui
                    .selectable_label(shown, text)
                    .on_hover_text(format!("Step {} (key {})", i + 1, i + 1))
                    .clicked()
                {
                    action = Some(StripAction::Jump(i));
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .button(RichText::new("Exit").size(body))
                    .on_hover_text("Leave the presenter layout (Esc)")
                    .clicked()
                {
                    action = Some(StripAction::Leave);
                }
                ui.label(
                    RichText::new("space play · arrows step · 1–9 lesson · F full screen")
                        .size(body * 0.8)
                        .color(palette::MUTED),
                );
            });
        });
        let (formula, caption) = match self.current_step() {
            Some(s) => (s.formula.as_str(), s.caption.as_str()),
            None => ("", "Press 1 to start the lesson"),
        };
        ui.vertical_centered(|ui| {
            if !formula.is_empty() {
                ui.label(
                    RichText::new(formula)
                        .font(FontId::proportional(formula_size))
                        .color(palette::FORMULA),
                );
            }
            ui.label(
                RichText::new(caption)
                    .font(FontId::proportional(caption_size))
                    .color(palette::INK),
            );
        });
        ui.add_space(4.0);
        action
    }

    /// The frame of the lesson strip.
    pub fn strip_frame() -> egui::Frame {
        egui::Frame::new()
            .fill(palette::STRIP)
            .inner_margin(egui::Margin::symmetric(16, 8))
            .stroke(Stroke::new(1.0, Color32::from_gray(150)))
    }

    /// The "Lessons" picker: every lesson of the shipped presets. Returns the lesson picked.
    pub fn picker_ui(&self, ui: &mut egui::Ui) -> Option<usize> {
        let mut picked = None;
        ui.menu_button("Lessons", |ui| {
            for (i, l) in self.lessons.iter().enumerate() {
                let label = format!("{} ({} steps)", l.title, l.steps.len());
                if ui
                    .selectable_label(i == self.lesson, label)
                    .on_hover_text(format!("presets/{}.toml", l.name))
                    .clicked()
                {
                    picked = Some(i);
                    ui.close();
                }
            }
        });
        picked
    }
}
