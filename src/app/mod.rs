//! The desktop app: the window, its views, and the screenshot mode.

mod forward_view;
mod player_view;
mod runs_view;
mod schedule_lab;
mod screenshot;
mod toy_view;
mod training_view;
mod window_bench;

pub use forward_view::{ForwardSchedule, ForwardView, NoiseMode, TileKind};
pub use player_view::{ComparePair, ExportKind, ModelSource, Pane, PaneSettings, PlayerView};
pub use runs_view::RunsView;
pub use schedule_lab::{ScheduleEntry, ScheduleLab, XAxis};
pub use screenshot::ScreenshotJob;
pub use toy_view::ToyView;
pub use training_view::{RunStatus, TrainingView, bundled_model_dir, grid_image};
pub use window_bench::{WindowBench, run_window_bench};

use crate::cli::ViewName;
use std::path::PathBuf;

/// How the app was asked to start.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// The view shown first.
    pub view: ViewName,
    /// The inner window size in logical pixels.
    pub size: [u32; 2],
    /// Render one frame of `view` to this PNG and exit.
    pub screenshot: Option<PathBuf>,
    /// The window renderer.
    pub renderer: crate::cli::RendererArg,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            view: ViewName::Schedule,
            size: [1280, 800],
            screenshot: None,
            renderer: crate::cli::RendererArg::default(),
        }
    }
}

/// The app state: one struct per view, plus the shell around them.
pub struct DiffusionApp {
    /// The view on screen.
    pub view: ViewName,
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
    screenshot: Option<ScreenshotJob>,
}

impl DiffusionApp {
    /// A fresh app showing `view`.
    pub fn new(view: ViewName) -> Self {
        Self {
            view,
            schedule_lab: ScheduleLab::default(),
            training: TrainingView::default(),
            forward: ForwardView::default(),
            player: PlayerView::default(),
            toy: ToyView::default(),
            runs: RunsView::default(),
            screenshot: None,
        }
    }

    /// Draws the whole window into `ui` (also used by UI tests).
    pub fn shell_ui(&mut self, ui: &mut egui::Ui) {
        self.schedule_lab.refresh();
        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Diffusion Lab");
                ui.separator();
                ui.selectable_value(&mut self.view, ViewName::Schedule, "Schedules");
                ui.selectable_value(&mut self.view, ViewName::Training, "Training");
                ui.selectable_value(&mut self.view, ViewName::Forward, "Forward process");
                ui.selectable_value(&mut self.view, ViewName::Player, "Reverse chain");
                ui.selectable_value(&mut self.view, ViewName::Toy2d, "2-D lab");
                ui.selectable_value(&mut self.view, ViewName::Runs, "Runs");
            });
        });
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(self.status_text());
                ui.separator();
                ui.label(self.training.status_line());
            });
        });
        match self.view {
            ViewName::Schedule => self.schedule_lab.ui(ui),
            ViewName::Training => {
                // The central picture: the reverse chain beside the live loss plots.
                egui::Panel::right("training_player")
                    .default_size(380.0)
                    .resizable(true)
                    .show(ui, |ui| self.player.compact_ui(ui));
                self.training.ui(ui);
            }
            ViewName::Forward => self.forward.ui(ui),
            ViewName::Player => self.player.ui(ui),
            ViewName::Toy2d => self.toy.ui(ui),
            ViewName::Runs => self.runs.ui(ui),
            // The presenter layout (issue 7) shows the lesson's view full-screen.
            ViewName::Presenter => self.player.ui(ui),
        }
    }

    fn status_text(&self) -> String {
        match self.view {
            ViewName::Training => format!("Run: {}", self.training.config.name),
            ViewName::Forward => self.forward.status_text(),
            ViewName::Player | ViewName::Presenter => "Reverse chain".to_owned(),
            ViewName::Toy2d => "2-D lab".to_owned(),
            ViewName::Runs => "Runs".to_owned(),
            ViewName::Schedule => {
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
        self.training.logic(ctx);
        if let Some(weights) = self.training.take_live_weights() {
            self.player.set_live(weights);
        }
        if matches!(
            self.view,
            ViewName::Player | ViewName::Training | ViewName::Presenter
        ) {
            self.player.logic(ctx);
        }
        if let Some(job) = &mut self.screenshot {
            // Wait for the views' background work (tiles, chains, samples) before settling.
            let busy = match self.view {
                ViewName::Forward => self.forward.busy(),
                ViewName::Player | ViewName::Presenter | ViewName::Training => {
                    self.player.is_busy()
                }
                ViewName::Runs => self.runs.busy(),
                _ => false,
            };
            if busy {
                ctx.request_repaint();
            } else {
                job.logic(ctx);
            }
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.shell_ui(ui);
    }

    /// Closing the window stops training cleanly: the worker saves a checkpoint and is joined.
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.training.shutdown();
    }
}

/// Opens the window and runs until it closes. In screenshot mode, returns an error if the PNG
/// could not be written.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let [w, h] = options.size;
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Diffusion Lab")
            .with_inner_size([w as f32, h as f32])
            .with_min_inner_size([480.0, 360.0]),
        renderer: options.renderer.into(),
        ..Default::default()
    };
    let job = options.screenshot.clone().map(ScreenshotJob::new);
    let outcome = job.as_ref().map(ScreenshotJob::outcome);
    let view = options.view;
    eframe::run_native(
        "Diffusion Lab",
        native,
        Box::new(move |cc| {
            let mut app = DiffusionApp::new(view);
            if let Some(rs) = cc.wgpu_render_state.as_ref() {
                app.forward.attach_gpu(rs);
            }
            if job.is_some() {
                app.player.settle_at = Some(0.6);
            }
            app.screenshot = job;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))?;
    if let Some(outcome) = outcome {
        return ScreenshotJob::finish(&outcome);
    }
    Ok(())
}
