//! The desktop app: the window, its views, and the screenshot mode.

pub mod command;
pub mod dialog;
pub mod fonts;
mod forward_bench;
mod forward_view;
mod player_view;
mod presenter;
mod requests;
mod runs_view;
mod schedule_lab;
mod screenshot;
mod toy_view;
mod training_view;
pub mod widgets;
use requests::PendingPlot;
mod window_bench;

pub use forward_bench::{FrameStats, bench_forward_frame, bench_view};
pub use forward_view::{ForwardSchedule, ForwardView, NoiseMode, TileKind};
pub use player_view::{
    CFG_FORMULA, CG_FORMULA, ClassPick, ComparePair, ExportKind, GuidanceState, LiveFollow,
    ModelSource, Pane, PaneSettings, PlayerView, StripEntry, guidance_formulas,
    player_equation_lines,
};
pub use presenter::{
    Lesson, Presenter, SETTINGS_KEY, Settings, Shortcut, StripAction, ThemeChoice, presenter_style,
    shipped_lessons, shortcut_rows,
};
pub use runs_view::RunsView;
pub use schedule_lab::{ScheduleEntry, ScheduleLab, XAxis, emptiest_corner};
pub use screenshot::ScreenshotJob;
pub use toy_view::ToyView;
pub use training_view::{HeatLayout, RunStatus, TrainingView, grid_image};
pub use window_bench::{WindowBench, run_window_bench};

use crate::config::View;

/// The Okabe–Ito colours, distinguishable on a projector and for common colour blindness; every
/// view draws its curves and schedules in this order.
pub const PALETTE: [egui::Color32; 8] = [
    egui::Color32::from_rgb(0, 114, 178),
    egui::Color32::from_rgb(213, 94, 0),
    egui::Color32::from_rgb(0, 158, 115),
    egui::Color32::from_rgb(204, 121, 167),
    egui::Color32::from_rgb(230, 159, 0),
    egui::Color32::from_rgb(86, 180, 233),
    egui::Color32::from_rgb(240, 228, 66),
    egui::Color32::from_rgb(120, 120, 120),
];
use crate::config::{RunConfig, SHIPPED_PRESETS};
use std::path::PathBuf;
use std::sync::Arc;

/// The window renderers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RendererArg {
    /// wgpu on a hardware GPU, glow when only software adapters exist.
    #[default]
    Auto,
    /// wgpu: Vulkan, Metal or DX12.
    Wgpu,
    /// glow: OpenGL.
    Glow,
}

impl RendererArg {
    /// Resolves `Auto` by probing the adapters (about a tenth of a second).
    pub fn resolve(self) -> RendererArg {
        match self {
            RendererArg::Auto if crate::model::has_hardware_adapter() => RendererArg::Wgpu,
            RendererArg::Auto => RendererArg::Glow,
            r => r,
        }
    }
}

impl From<RendererArg> for eframe::Renderer {
    fn from(r: RendererArg) -> Self {
        match r {
            RendererArg::Wgpu => eframe::Renderer::Wgpu,
            RendererArg::Glow => eframe::Renderer::Glow,
            RendererArg::Auto => r.resolve().into(),
        }
    }
}

/// How the app was asked to start.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// The view shown first (`None`: the last view of the previous session, else the schedule
    /// lab). `Presenter` opens the presenter layout on the current lesson.
    pub view: Option<View>,
    /// The inner window size in logical pixels.
    pub size: [u32; 2],
    /// `--size` was given (otherwise the first start sizes the window to the screen).
    pub size_given: bool,
    /// Render one frame of `view` to this PNG and exit.
    pub screenshot: Option<PathBuf>,
    /// The window renderer.
    pub renderer: RendererArg,
    /// Open this shipped preset (by name) as the app starts, as the Presets menu does.
    pub preset: Option<String>,
    /// Press Start in the Training view as the app starts (a lesson script's "train now").
    pub train: bool,
    /// Where training runs are written and the Runs view looks (default: the per-user folder).
    pub runs_dir: Option<PathBuf>,
    /// Open the presenter at this step (1-based) of the preset's lesson.
    pub lesson_step: Option<usize>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            view: None,
            size: [1280, 800],
            size_given: false,
            screenshot: None,
            renderer: RendererArg::default(),
            preset: None,
            train: false,
            runs_dir: None,
            lesson_step: None,
        }
    }
}

/// The app state: one struct per view, plus the shell around them.
pub struct DiffusionApp {
    /// The view on screen.
    pub view: View,
    /// The schedule lab.
    pub schedule_lab: ScheduleLab,
    /// The training view.
    pub training: TrainingView,
    /// The forward-process explorer.
    pub forward: ForwardView,
    /// The reverse-chain player.
    pub player: PlayerView,
    /// The 2-D lab.
    pub toy: ToyView,
    /// The runs folder.
    pub runs: RunsView,
    /// Classroom mode: the presenter layout and the lessons.
    pub presenter: Presenter,
    /// Whether full screen was asked for (F).
    pub fullscreen: bool,
    /// The zoom factor last seen (persisted as `Settings::ui_scale`).
    ui_scale: f32,
    /// "Reset to defaults" was picked; done at the start of the next frame.
    reset_pending: bool,
    screenshot: Option<ScreenshotJob>,
    /// Start training on the next frame (`--train`).
    pub start_training: bool,
    /// Wakes the UI when SIGINT, SIGTERM or SIGHUP arrives, so the window closes (and saves)
    /// even when nothing else would draw a frame; stopped and joined on exit.
    signal_watch: Option<SignalWatch>,
    /// A close was asked for by a signal.
    closing: bool,
    /// First start without `--size`: size the window to the screen once its size is known.
    pub size_to_screen: bool,
    /// Whether the app's fonts ([`fonts`]) are installed in the context.
    fonts_installed: bool,
    /// The keyboard-shortcut overlay (? or F1) is open.
    pub show_shortcuts: bool,
    /// The colour theme (Settings → Theme).
    pub theme: presenter::ThemeChoice,
    /// The theme last given to egui (applied when `theme` changes).
    theme_applied: Option<presenter::ThemeChoice>,
    /// The runs folder chosen in the settings; empty: the per-user default.
    pub runs_dir_setting: String,
    /// Why the runs folder could not be opened, shown in the settings menu.
    settings_note: Option<String>,
    /// What the last dropped file did (and whether that is an error), in the status bar.
    pub drop_note: Option<(String, bool)>,
    /// A plot being saved as PNG: grabbed from a screenshot a few frames after the dialog.
    pending_plot: Option<PendingPlot>,
}

/// The job of [`DiffusionApp::signal_watch`]: wakes the UI when SIGINT or SIGTERM arrives.
struct SignalWatch(crate::jobs::BgJob<()>);

impl SignalWatch {
    fn spawn(ctx: egui::Context) -> Option<Self> {
        if !crate::signals::install() {
            return None;
        }
        let job = crate::jobs::BgJob::spawn("signal-watch", Arc::new(|| {}), move |job| {
            while !job.cancelled() {
                if crate::signals::requested().is_some() {
                    ctx.request_repaint();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        job.ok().map(Self)
    }

    /// Stops the watch and joins its thread.
    fn join(self) {
        drop(self.0);
    }
}

impl DiffusionApp {
    /// A fresh app showing `view` (`Presenter`: the presenter layout on the first step of the
    /// default lesson).
    pub fn new(view: View) -> Self {
        let mut app = Self {
            view,
            schedule_lab: ScheduleLab::default(),
            training: TrainingView::default(),
            forward: ForwardView::default(),
            player: PlayerView::default(),
            toy: ToyView::default(),
            runs: RunsView::default(),
            presenter: Presenter::default(),
            fullscreen: false,
            ui_scale: 1.0,
            reset_pending: false,
            screenshot: None,
            start_training: false,
            signal_watch: None,
            closing: false,
            size_to_screen: false,
            fonts_installed: false,
            show_shortcuts: false,
            theme: presenter::ThemeChoice::System,
            theme_applied: None,
            runs_dir_setting: String::new(),
            settings_note: None,
            drop_note: None,
            pending_plot: None,
        };
        if view == View::Presenter {
            app.view = View::Schedule;
            app.presenter.on = true;
            app.jump_to_step(0);
        }
        app
    }

    /// The settings to persist.
    pub fn settings(&self) -> Settings {
        Settings {
            presenter: self.presenter.on,
            last_view: self.view.name().to_owned(),
            last_preset: self.training.preset_name.clone(),
            lesson: self
                .presenter
                .current()
                .map(|l| l.name.clone())
                .unwrap_or_default(),
            lesson_step: self.presenter.step,
            ui_scale: self.ui_scale,
            presenter_text_scale: self.presenter.text_scale,
            theme: self.theme,
            runs_dir: self.runs_dir_setting.clone(),
            dialog_folders: dialog::remembered_folders(),
        }
    }

    /// Restores persisted settings. `keep_view`: the view was given on the command line, so
    /// the persisted view and presenter state are not applied.
    pub fn apply_settings(&mut self, s: &Settings, keep_view: bool) {
        self.presenter.text_scale = s.presenter_text_scale.clamp(1.0, 3.0);
        self.ui_scale = s.ui_scale.clamp(0.5, 3.0);
        self.theme = s.theme;
        dialog::restore_folders(&s.dialog_folders);
        if s.runs_dir != self.runs_dir_setting {
            self.runs_dir_setting = s.runs_dir.clone();
            self.set_runs_dir(self.chosen_runs_dir());
        }
        if self.training.preset_name != s.last_preset
            && !self.training.is_running()
            && let Some((name, text)) = SHIPPED_PRESETS.iter().find(|(n, _)| *n == s.last_preset)
            && let Ok(cfg) = RunConfig::from_toml(text)
        {
            self.replace_training(TrainingView::new(cfg, name));
        }
        if !self.presenter.select(&s.lesson) {
            self.presenter.select(presenter::DEFAULT_LESSON);
        }
        if keep_view {
            // `--view presenter`: start the remembered lesson at its first step.
            if self.presenter.on {
                self.jump_to_step(0);
            }
            return;
        }
        if let Some(v) = View::parse(&s.last_view).filter(|v| *v != View::Presenter) {
            self.view = v;
        }
        self.presenter.on = s.presenter;
        if let Some(n) = s.lesson_step {
            self.jump_to_step(n);
        }
    }

    /// "Reset to defaults": default settings, the default lesson, the schedule lab, zoom 1,
    /// presenter off, window size and egui's remembered layout (panel sizes) forgotten. Call
    /// it between frames or before any widget of a frame.
    pub fn reset_to_defaults(&mut self, ctx: &egui::Context) {
        let defaults = Settings::default();
        // Every view's state, not only the window's (#20 item 10): the user's schedules,
        // the forward view's image and schedules, the player's settings, the 2-D lab. The
        // forward view keeps its GPU tiler and a training run keeps going (its view then keeps
        // its curves); their jobs are dropped, which cancels and joins them.
        self.schedule_lab = ScheduleLab::default();
        let forward = std::mem::take(&mut self.forward);
        self.forward.take_gpu_from(forward);
        self.player = PlayerView::default();
        self.toy = ToyView::default();
        if !self.training.is_running() {
            self.replace_training(TrainingView::default());
        }
        self.apply_settings(&defaults, false);
        self.presenter.step = None;
        self.fullscreen = false;
        ctx.set_zoom_factor(defaults.ui_scale);
        // Panel sizes, scroll offsets and the like live in egui's persisted data.
        ctx.memory_mut(|m| m.data = Default::default());
        ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(false));
        ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(
            AppOptions::default().size[0] as f32,
            AppOptions::default().size[1] as f32,
        )));
    }

    /// Shows step `n` (0-based) of the current lesson: switches view and sets t where given.
    /// Returns false (and changes nothing) if the lesson has no such step.
    pub fn jump_to_step(&mut self, n: usize) -> bool {
        let Some(step) = self.presenter.step_at(n).cloned() else {
            return false;
        };
        self.presenter.step = Some(n);
        self.view = step.view;
        // The step sets everything its caption talks about (#20 item 4): the lesson's data set
        // and image, and the step's (or else the lesson's) schedules, in the forward explorer
        // and the schedule lab alike.
        if let Some(lesson) = self.presenter.current() {
            let schedules = if step.schedules.is_empty() {
                lesson.schedules.clone()
            } else {
                step.schedules.clone()
            };
            let source = crate::explore::Source::from_data_spec(&lesson.data);
            let sampler = step
                .sampler
                .clone()
                .unwrap_or_else(|| lesson.sampler.clone());
            self.show_setup(source, &schedules);
            self.forward.index = step.image.unwrap_or(0);
            self.apply_lesson_sampler(sampler);
        }
        if let Some(t) = step.t {
            match self.view {
                View::Forward => {
                    self.forward.playing = false;
                    self.forward.t = t.min(self.forward.t_max());
                }
                View::Player => self.player.seek_t(t),
                View::Toy2d => self.toy.t = t.min(self.toy.t_max()),
                _ => {}
            }
        }
        true
    }

    /// Opens a shipped preset as a complete setup: the training view takes its data, schedule,
    /// model and training; the player its `[sampler]`; the 2-D lab its `[toy]`; and the window
    /// switches to its starting `view` (the training view when it names none). False if there
    /// is no such preset or it does not parse (or a run is training).
    pub fn open_preset(&mut self, name: &str) -> bool {
        let Some((name, text)) = SHIPPED_PRESETS.iter().find(|(n, _)| *n == name) else {
            return false;
        };
        let Ok(preset) = crate::config::Preset::from_toml(text) else {
            return false;
        };
        self.apply_preset(preset, name)
    }

    /// Sets every view up from `preset` (see [`Self::open_preset`]); `name` names it in the
    /// training view. False (and nothing changes) while a run is training.
    pub fn apply_preset(&mut self, preset: crate::config::Preset, name: &str) -> bool {
        if self.training.is_running() {
            return false;
        }
        self.player.apply_sampler(&preset.sampler);
        let source = crate::explore::Source::from_data_spec(&preset.data);
        self.show_setup(source, &preset.shown_schedules());
        if let Some(toy) = &preset.toy {
            self.toy.apply_config(toy);
        }
        self.view = preset.view.unwrap_or(View::Training);
        if preset.study.is_some() || preset.seed000.is_some() {
            self.runs.pick_study_preset(name);
        }
        self.replace_training(TrainingView::new(preset.into_run_config(), name));
        true
    }

    /// Shows `source` (when given) in the forward explorer and `schedules` (when not empty) in
    /// the forward explorer and the schedule lab; what already matches is left alone, so a
    /// loaded data set is not loaded again.
    fn show_setup(
        &mut self,
        source: Option<crate::explore::Source>,
        schedules: &[crate::diffusion::ScheduleSpec],
    ) {
        if let Some(source) = source {
            self.forward.show_source(source);
        }
        if schedules.is_empty() {
            return;
        }
        let shown: Vec<_> = self
            .forward
            .schedules
            .iter()
            .map(|s| s.spec.clone())
            .collect();
        if shown != schedules {
            self.forward.set_schedules(schedules);
        }
        if self.schedule_lab.shown_specs() != schedules {
            self.schedule_lab.set_schedules(schedules);
        }
    }

    /// Opens what was dropped on the window (#17): a preset `.toml` anywhere (it opens that
    /// preset); on the player, a checkpoint folder or a run card (`.json`); elsewhere an image,
    /// a folder of images or a `.npy` array (the forward explorer shows it). Returns what
    /// happened, for the status bar; an error names the file.
    pub fn open_dropped(&mut self, path: &std::path::Path) -> Result<String, String> {
        let shown = path.display();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if ext == "toml" {
            let preset = crate::config::Preset::load(path)?;
            let name = path
                .file_stem()
                .map_or_else(|| "preset".to_owned(), |s| s.to_string_lossy().into_owned());
            if !self.apply_preset(preset, &name) {
                return Err(format!(
                    "{shown}: a run is training; stop it before opening another preset"
                ));
            }
            return Ok(format!("opened the preset {shown}"));
        }
        let is_checkpoint = path.join("config.json").is_file() && path.join("state.json").is_file();
        if is_checkpoint || (self.view == View::Player && ext == "json") {
            if is_checkpoint {
                self.player.source = ModelSource::Checkpoint(path.to_path_buf());
                self.player.load_model();
            } else {
                let card =
                    crate::sampling::export::RunCard::read(path).map_err(|e| e.to_string())?;
                self.player.open_card(&card);
            }
            self.view = View::Player;
            return Ok(format!("the player opens {shown}"));
        }
        let source = crate::explore::Source::parse(
            &path.to_string_lossy(),
            None,
            crate::data::ColorMode::Rgb,
        )
        .map_err(|e| e.to_string())?;
        self.forward.show_source(source);
        self.view = View::Forward;
        Ok(format!("the forward explorer loads {shown}"))
    }

    /// Handles files dropped on the window this frame and shows a hint while some hover.
    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let (dropped, hovering) = ctx.input(|i| {
            (
                i.raw
                    .dropped_files
                    .iter()
                    .map(|f| f.path().to_path_buf())
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect::<Vec<PathBuf>>(),
                !i.raw.hovered_files.is_empty(),
            )
        });
        if let Some(path) = dropped.first() {
            self.drop_note = Some(match self.open_dropped(path) {
                Ok(msg) => (msg, false),
                Err(e) => (e, true),
            });
        }
        if hovering {
            let text = match self.view {
                View::Player => "Drop a checkpoint folder, a run card or a preset",
                _ => "Drop an image, a folder, a .npy file or a preset",
            };
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("drop_hint"),
            ));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(160));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(24.0),
                egui::Color32::WHITE,
            );
        }
    }

    /// A new training view for another preset, keeping the runs folder.
    fn replace_training(&mut self, mut training: TrainingView) {
        training.runs_dir = self.training.runs_dir.clone();
        self.training = training;
    }

    /// The runs folder the settings name: the chosen one, else the per-user default.
    pub fn chosen_runs_dir(&self) -> PathBuf {
        if self.runs_dir_setting.trim().is_empty() {
            crate::store::default_runs_dir()
        } else {
            PathBuf::from(self.runs_dir_setting.trim())
        }
    }

    /// Writes training runs to `dir` and shows that folder in the Runs view.
    pub fn set_runs_dir(&mut self, dir: PathBuf) {
        self.training.runs_dir = dir.clone();
        let auto_pick = self.runs.auto_pick;
        self.runs = RunsView::new(dir);
        self.runs.auto_pick = auto_pick;
    }

    /// Gives the player and the 2-D lab the current lesson's preset settings.
    pub fn apply_lesson_setup(&mut self) {
        if let Some(lesson) = self.presenter.current() {
            let (sampler, toy) = (lesson.sampler.clone(), lesson.toy.clone());
            self.presenter.applied_sampler = None;
            self.apply_lesson_sampler(sampler);
            if let Some(cfg) = toy {
                self.toy.apply_config(&cfg);
            }
        }
    }

    /// Gives the player `sampler` unless the lesson gave it that one last (which would only
    /// draw the same chain again).
    fn apply_lesson_sampler(&mut self, sampler: crate::config::SamplerSpec) {
        if self.presenter.applied_sampler.as_ref() != Some(&sampler) {
            self.player.apply_sampler(&sampler);
            self.presenter.applied_sampler = Some(sampler);
        }
    }

    /// Runs one keyboard shortcut.
    pub fn run_shortcut(&mut self, ctx: &egui::Context, shortcut: Shortcut) {
        match shortcut {
            Shortcut::PlayPause => match self.view {
                View::Forward => self.forward.playing = !self.forward.playing,
                View::Player => self.player.toggle_play(),
                _ => {}
            },
            Shortcut::Step(delta) => match self.view {
                View::Forward => {
                    self.forward.playing = false;
                    let t = self.forward.t.saturating_add_signed(delta);
                    self.forward.t = t.min(self.forward.t_max());
                }
                View::Player => self.player.step_by(delta),
                _ if self.presenter.on => {
                    self.run_shortcut(ctx, Shortcut::LessonStep(delta.signum()));
                }
                _ => {}
            },
            Shortcut::LessonStep(delta) => {
                let n = match self.presenter.step {
                    Some(k) => k.saturating_add_signed(delta),
                    None => 0,
                };
                self.jump_to_step(n);
            }
            Shortcut::JumpTo(n) => {
                self.jump_to_step(n);
            }
            Shortcut::Fullscreen => {
                self.fullscreen = !self.fullscreen;
                ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(self.fullscreen));
            }
            Shortcut::TogglePresenter => self.set_presenter(!self.presenter.on),
            Shortcut::LeavePresenter => self.set_presenter(false),
            Shortcut::Help => self.show_shortcuts = !self.show_shortcuts,
        }
    }

    /// Turns the presenter layout on or off; turning it on shows the lesson's step 1 if no
    /// step was shown yet.
    pub fn set_presenter(&mut self, on: bool) {
        self.presenter.on = on;
        if on && self.presenter.step.is_none() {
            self.jump_to_step(0);
        }
    }

    /// Draws the whole window into `ui` (also used by UI tests).
    pub fn shell_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if !self.fonts_installed {
            fonts::install(&ctx);
            self.fonts_installed = true;
        }
        if self.theme_applied != Some(self.theme) {
            ctx.set_theme(self.theme.preference());
            self.theme_applied = Some(self.theme);
        }
        if std::mem::take(&mut self.reset_pending) {
            self.reset_to_defaults(&ctx);
        }
        let presenting = self.presenter.on;
        // Shortcuts first, so that a focused button does not also take the space bar.
        let lesson_keys = self.presenter.on || self.presenter.step.is_some();
        for shortcut in presenter::read_shortcuts(&ctx, self.presenter.on, lesson_keys) {
            self.run_shortcut(&ctx, shortcut);
        }
        self.schedule_lab.refresh();
        self.forward.show_controls = !self.presenter.on;
        self.player.show_controls = !self.presenter.on;
        self.toy.show_controls = !self.presenter.on;
        if self.presenter.on {
            ui.set_style(presenter_style(ui.style(), self.presenter.text_scale));
            let action = egui::Panel::top("lesson_strip")
                .frame(Presenter::strip_frame())
                .show(ui, |ui| self.presenter.strip_ui(ui))
                .inner;
            match action {
                Some(StripAction::Leave) => self.set_presenter(false),
                Some(StripAction::Jump(n)) => {
                    self.jump_to_step(n);
                }
                None => {}
            }
        } else {
            self.top_bar_ui(ui);
            egui::Panel::bottom("status_bar")
                .frame(panel_frame(ui))
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.label(self.status_text());
                        ui.separator();
                        ui.label(self.training.status_line());
                        if let Some((note, error)) = &self.drop_note {
                            ui.separator();
                            if *error {
                                ui.colored_label(ui.visuals().error_fg_color, note);
                            } else {
                                ui.label(note);
                            }
                        }
                    });
                });
        }
        let app_commands = match self.view {
            View::Schedule => {
                let c = self.schedule_lab.ui(ui);
                c.run(&mut self.schedule_lab)
            }
            View::Training => {
                // The central picture: the reverse chain beside the live loss plots.
                let c = egui::Panel::right("training_player")
                    .frame(panel_frame(ui))
                    .default_size(380.0)
                    .resizable(true)
                    .show(ui, |ui| self.player.compact_ui(ui))
                    .inner;
                let mut out = c.run(&mut self.player);
                let c = self.training.ui(ui);
                out.extend(c.run(&mut self.training));
                out
            }
            View::Forward => {
                let c = self.forward.ui(ui);
                c.run(&mut self.forward)
            }
            // The presenter layout (issue 7) shows the lesson's view full-screen.
            View::Player | View::Presenter => {
                let c = self.player.ui(ui);
                c.run(&mut self.player)
            }
            View::Toy2d => {
                let c = self.toy.ui(ui);
                c.run(&mut self.toy)
            }
            View::Runs => {
                let c = self.runs.ui(ui);
                c.run(&mut self.runs)
            }
        };
        self.run_app_commands(app_commands);
        for r in widgets::take_save_requests(&ctx) {
            self.run_save_request(r);
        }
        self.grab_pending_plot(&ctx);
        // Work queued outside a view's frame (its `logic`, or a hidden view) runs here too.
        let queued = self.drain_outboxes();
        self.run_app_commands(queued);
        self.shortcuts_overlay(&ctx, lesson_keys);
        self.handle_dropped_files(&ctx);
        if self.presenter.on != presenting {
            // This frame was cleared in the old layout's colour (`clear_color` is asked first).
            ctx.request_repaint();
        }
    }

    /// The list of this view's keyboard shortcuts, while ? or F1 has it open (Esc closes it).
    fn shortcuts_overlay(&mut self, ctx: &egui::Context, lesson_keys: bool) {
        if !self.show_shortcuts {
            return;
        }
        if !ctx.egui_wants_keyboard_input()
            && ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape))
        {
            self.show_shortcuts = false;
            return;
        }
        let rows = presenter::shortcut_rows(self.view, self.presenter.on, lesson_keys);
        let mut open = true;
        egui::Window::new("Keyboard shortcuts")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(format!(
                    "On {} (Esc, ? or F1 closes this)",
                    self.view.title()
                ));
                ui.add_space(4.0);
                egui::Grid::new("shortcut_rows")
                    .num_columns(2)
                    .spacing([24.0, 6.0])
                    .striped(true)
                    .show(ui, |ui| {
                        for (keys, what) in &rows {
                            ui.label(egui::RichText::new(*keys).strong().monospace());
                            ui.label(what);
                            ui.end_row();
                        }
                    });
            });
        self.show_shortcuts &= open;
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        let mut picked = None;
        let mut open_preset: Option<String> = None;
        let mut present = false;
        let mut reset = false;
        egui::Panel::top("top_bar")
            .frame(panel_frame(ui))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.heading("Diffusion Lab");
                    ui.separator();
                    for view in View::TABS {
                        ui.selectable_value(&mut self.view, view, view.title());
                    }
                    ui.separator();
                    ui.menu_button("Presets", |ui| {
                        for (name, _) in SHIPPED_PRESETS {
                            if ui.button(*name).clicked() {
                                open_preset = Some((*name).to_owned());
                                ui.close();
                            }
                        }
                    });
                    picked = self.presenter.picker_ui(ui);
                    if ui
                        .button("?")
                        .on_hover_text("Keyboard shortcuts of this view (? or F1)")
                        .clicked()
                    {
                        self.show_shortcuts = !self.show_shortcuts;
                    }
                    present = ui
                        .button("Present")
                        .on_hover_text(
                            "Presenter layout: large type, high contrast (P; Esc leaves)",
                        )
                        .clicked();
                    ui.menu_button("Settings", |ui| {
                        ui.label("Theme");
                        for choice in presenter::ThemeChoice::ALL {
                            ui.radio_value(&mut self.theme, choice, choice.label())
                                .on_hover_text("The colours of every view (remembered)");
                        }
                        ui.separator();
                        ui.add(
                            egui::Slider::new(&mut self.presenter.text_scale, 1.0..=3.0)
                                .text("Presenter text scale"),
                        )
                        .on_hover_text("How much larger text is in the presenter layout (×)");
                        ui.separator();
                        self.runs_dir_settings_ui(ui);
                        ui.separator();
                        if ui
                            .button("Reset to defaults")
                            .on_hover_text("Default settings, view, lesson, zoom and panel sizes")
                            .clicked()
                        {
                            reset = true;
                            ui.close();
                        }
                    });
                });
            });
        if let Some(name) = open_preset {
            self.open_preset(&name);
        }
        if let Some(i) = picked {
            self.presenter.lesson = i;
            self.apply_lesson_setup();
            self.presenter.step = None;
            self.jump_to_step(0);
        }
        if present {
            self.set_presenter(true);
        }
        if reset {
            self.reset_pending = true;
            ui.ctx().request_repaint();
        }
    }

    /// Settings → Runs folder: where training runs go and the Runs view looks.
    fn runs_dir_settings_ui(&mut self, ui: &mut egui::Ui) {
        ui.label("Runs folder");
        let mut changed = false;
        ui.horizontal(|ui| {
            let hint = crate::store::default_runs_dir().display().to_string();
            changed |= ui
                .add(
                    egui::TextEdit::singleline(&mut self.runs_dir_setting)
                        .hint_text(hint)
                        .desired_width(260.0),
                )
                .on_hover_text(
                    "Where training runs are written and the Runs view looks; empty: the \
                     per-user default shown in grey",
                )
                .lost_focus();
            if ui
                .button("Choose…")
                .on_hover_text("Pick the folder in a dialog")
                .clicked()
                && let Some(p) = dialog::FileDialog::new()
                    .set_directory(self.chosen_runs_dir())
                    .pick_folder()
            {
                self.runs_dir_setting = p.display().to_string();
                changed = true;
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Default")
                .on_hover_text("Back to the per-user runs folder")
                .clicked()
            {
                self.runs_dir_setting.clear();
                changed = true;
            }
            if ui
                .button("Open runs folder")
                .on_hover_text("Show the runs folder in the system's file manager")
                .clicked()
            {
                let dir = self.chosen_runs_dir();
                let _ = std::fs::create_dir_all(&dir);
                self.settings_note = dialog::open_folder(&dir).err();
            }
        });
        if let Some(note) = &self.settings_note {
            ui.colored_label(ui.visuals().error_fg_color, note);
        }
        if changed && !self.training.is_running() {
            self.set_runs_dir(self.chosen_runs_dir());
        }
    }

    /// The per-frame work outside drawing: signals, the workers' events, the live chain and the
    /// screenshot clock (eframe's `logic`; tests call it directly).
    pub fn tick(&mut self, ctx: &egui::Context) {
        self.ui_scale = ctx.zoom_factor();
        if !self.closing && crate::signals::requested().is_some() {
            // Same as the close button: on_exit stops the trainer, which saves, and joins it.
            self.closing = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if self.size_to_screen
            && let Some(monitor) = ctx.input(|i| i.viewport().monitor_size)
        {
            // On first start the window fills a sensible share of the screen (#20 item 10).
            self.size_to_screen = false;
            let size = first_window_size(monitor);
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
            let pos = ((monitor - size) * 0.5).max(egui::Vec2::ZERO);
            ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(pos.to_pos2()));
        }
        if std::mem::take(&mut self.start_training) && !self.training.is_running() {
            let c = ctx.clone();
            self.training
                .start(None, None, Arc::new(move || c.request_repaint()));
        }
        self.training.logic(ctx);
        match self.training.started_new.take() {
            // The chain beside the loss follows the new run from its first step (#19).
            Some(true) => {
                let name = self.training.config.name.clone();
                self.player.follow_new_run(&name);
            }
            // A run that continues keeps its chain and strip.
            Some(false) => self.player.follow_continued_run(),
            None => {}
        }
        if let Some(weights) = self.training.take_live_weights() {
            self.player.set_live(weights);
        }
        if matches!(self.view, View::Player | View::Training | View::Presenter) {
            self.player.logic(ctx);
        }
        let queued = self.drain_outboxes();
        self.run_app_commands(queued);
        if let Some(job) = &mut self.screenshot {
            // Wait for the views' background work (tiles, chains, samples) before settling.
            let busy = match self.view {
                View::Forward => self.forward.busy(),
                View::Player | View::Presenter => self.player.is_busy(),
                // A training run started with the screenshot: wait for a few live chains.
                View::Training => {
                    self.player.is_busy()
                        || (self.training.is_running() && self.player.live_strip_short_of(3))
                }
                View::Runs => self.runs.busy(),
                _ => false,
            };
            if busy {
                ctx.request_repaint();
            } else {
                job.logic(ctx);
            }
        }
    }

    fn status_text(&self) -> String {
        match self.view {
            View::Training => format!("Run: {}", self.training.config.name),
            View::Forward => self.forward.status_text(),
            View::Player | View::Presenter => "Reverse chain".to_owned(),
            View::Toy2d => "2-D lab".to_owned(),
            View::Runs => "Runs".to_owned(),
            View::Schedule => {
                let n = self.schedule_lab.entries.len();
                let bad = self
                    .schedule_lab
                    .entries
                    .iter()
                    .filter(|e| e.error().is_some())
                    .count();
                let mut s = format!("{n} schedule{}", if n == 1 { "" } else { "s" });
                if bad > 0 {
                    s.push_str(&format!(" · {bad} invalid"));
                }
                s
            }
        }
    }
}

impl eframe::App for DiffusionApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.tick(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.shell_ui(ui);
    }

    /// The panels' own colour: they draw no background (see `panel_frame`). Worked out from
    /// the state, not remembered from the last frame: eframe asks before drawing the frame, so
    /// a remembered colour would lag one frame when presenter mode or the theme changes.
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        let fill = if self.presenter.on {
            presenter::paper()
        } else {
            visuals.panel_fill
        };
        fill.to_normalized_gamma_f32()
    }

    /// Stores the settings (not in screenshot mode, which starts from a fresh state).
    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.screenshot.is_none() {
            eframe::set_value(storage, SETTINGS_KEY, &self.settings());
        }
    }

    fn persist_egui_memory(&self) -> bool {
        self.screenshot.is_none()
    }

    /// Closing the window stops training cleanly: the worker saves a checkpoint and is joined.
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if let Some(report) = self.training.shutdown_and_report() {
            eprintln!("{report}");
        }
        if let Some(w) = self.signal_watch.take() {
            w.join();
        }
    }
}

/// The frame of a side, top or bottom panel: the usual margins, but no fill. Every panel has
/// the window's background colour, and the window is cleared to it (`App::clear_color`), so
/// filling each panel again would only paint every pixel twice. A software renderer spends
/// about a third of a 1280×800 frame on that second fill (BENCHMARKS.md).
pub(crate) fn panel_frame(ui: &egui::Ui) -> egui::Frame {
    egui::Frame::side_top_panel(ui.style()).fill(egui::Color32::TRANSPARENT)
}

/// The central panel's frame, without a fill for the same reason as `panel_frame`.
pub(crate) fn central_frame(ui: &egui::Ui) -> egui::Frame {
    egui::Frame::central_panel(ui.style()).fill(egui::Color32::TRANSPARENT)
}

/// The window icon: a digit dissolving into noise (`assets/linux/diffusion-lab.png`, which the
/// Linux `.desktop` file names too). An unreadable icon gives an empty one, never an error.
pub fn app_icon() -> Arc<egui::IconData> {
    let png = include_bytes!("../../assets/linux/diffusion-lab.png");
    let icon = image::load_from_memory(png).map(|i| {
        let rgba = i.to_rgba8();
        egui::IconData {
            width: rgba.width(),
            height: rgba.height(),
            rgba: rgba.into_raw(),
        }
    });
    Arc::new(icon.unwrap_or_default())
}

/// Opens the window and runs until it closes. In screenshot mode, returns an error if the PNG
/// could not be written.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let [w, h] = options.size;
    let screenshot_mode = options.screenshot.is_some();
    // Screenshots start from a fresh state: a storage file that does not exist (and is never
    // written, see `save` and `persist_egui_memory`), and no restored window geometry.
    let scratch_state = screenshot_mode.then(|| {
        std::env::temp_dir().join(format!(
            "diffusion-lab-screenshot-{}.ron",
            std::process::id()
        ))
    });
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Diffusion Lab")
            .with_app_id("diffusion-lab")
            .with_inner_size([w as f32, h as f32])
            .with_min_inner_size([480.0, 360.0])
            .with_icon(app_icon()),
        renderer: options.renderer.into(),
        persist_window: !screenshot_mode,
        persistence_path: scratch_state.clone(),
        ..Default::default()
    };
    let job = options.screenshot.clone().map(ScreenshotJob::new);
    let outcome = job.as_ref().map(ScreenshotJob::outcome);
    let view = options.view;
    let preset = options.preset.clone();
    let (train, runs_dir) = (options.train, options.runs_dir.clone());
    let size_given = options.size_given;
    let lesson_step = options.lesson_step;
    if let Some(name) = &preset
        && !SHIPPED_PRESETS.iter().any(|(n, _)| n == name)
    {
        let names: Vec<&str> = SHIPPED_PRESETS.iter().map(|(n, _)| *n).collect();
        anyhow::bail!(
            "no shipped preset '{name}' (there are: {})",
            names.join(", ")
        );
    }
    if let (Some(name), Some(n)) = (&preset, lesson_step) {
        let steps = presenter::shipped_lessons()
            .into_iter()
            .find(|l| l.name == *name)
            .map_or(0, |l| l.steps.len());
        if steps == 0 {
            anyhow::bail!("the preset '{name}' has no lesson (--lesson-step needs one)");
        }
        if n == 0 || n > steps {
            anyhow::bail!("--lesson-step must be 1..={steps} for '{name}', got {n}");
        }
    }
    eframe::run_native(
        "Diffusion Lab",
        native,
        Box::new(move |cc| {
            let mut app = DiffusionApp::new(view.unwrap_or(View::Schedule));
            let saved = cc
                .storage
                .and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY));
            if !screenshot_mode && let Some(settings) = &saved {
                app.apply_settings(settings, view.is_some());
                cc.egui_ctx.set_zoom_factor(app.ui_scale);
            }
            // First start (nothing saved yet) without --size: fit the window to the screen.
            app.size_to_screen = !screenshot_mode && saved.is_none() && !size_given;
            if let Some(rs) = cc.wgpu_render_state.as_ref() {
                app.forward.attach_gpu(rs);
            }
            if let Some(name) = &preset {
                app.open_preset(name);
                if let Some(v) = view {
                    app.view = v;
                }
            }
            if let Some(dir) = runs_dir {
                app.set_runs_dir(dir);
            }
            if let (Some(name), Some(n)) = (&preset, lesson_step)
                && app.presenter.select(name)
            {
                app.set_presenter(true);
                app.apply_lesson_setup();
                app.jump_to_step(n - 1);
            }
            if train {
                app.start_training = true;
                app.view = View::Training;
            }
            app.signal_watch = SignalWatch::spawn(cc.egui_ctx.clone());
            if job.is_some() && lesson_step.is_none() {
                // (A lesson step sets its own t.)
                app.player.settle_at = Some(0.6);
            }
            app.screenshot = job;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))?;
    if let Some(path) = scratch_state {
        let _ = std::fs::remove_file(path);
    }
    if let Some(outcome) = outcome {
        return ScreenshotJob::finish(&outcome);
    }
    Ok(())
}

/// A plot for the app's panels: the mouse wheel scrolls the panel around it instead of panning
/// the plot (a lecture tripped over plots that jumped while the side panel was scrolled);
/// Ctrl + wheel zooms, dragging pans, and a double-click restores the automatic view.
pub fn plot(id: &str) -> egui_plot::Plot<'static> {
    egui_plot::Plot::new(id.to_owned()).allow_scroll(false)
}

/// `ui.columns(n, f)` that never asks egui for a negative column width. egui asserts on one
/// when the space left is narrower than the gaps between the columns, as after a side panel was
/// dragged nearly across the window (found by the UI soak); the columns then keep a minimum
/// width and are clipped.
pub(crate) fn columns<R>(ui: &mut egui::Ui, n: usize, f: impl FnOnce(&mut [egui::Ui]) -> R) -> R {
    let need = n as f32 * (ui.spacing().item_spacing.x + 16.0);
    if ui.available_width() >= need {
        return ui.columns(n, f);
    }
    let size = egui::vec2(need, ui.available_height().max(0.0));
    ui.allocate_ui(size, |ui| ui.columns(n, f)).inner
}

/// The window size on first start: 80 % of the screen, at least the default 1280×800 where the
/// screen allows it, never more than the screen.
pub fn first_window_size(monitor: egui::Vec2) -> egui::Vec2 {
    let default = egui::vec2(1280.0, 800.0);
    (monitor * 0.8).max(default).min(monitor)
}
