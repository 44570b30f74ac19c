//! What the views ask of the app itself: their [`AppCommand`]s (switching views, moving
//! schedules between views, reports), the commands queued outside a view's frame, and the
//! saves that the picture and plot menus ([`super::widgets`]) asked for.

use super::command::{AppCommand, HasOutbox};
use super::{DiffusionApp, View, dialog, screenshot, widgets};
use std::path::PathBuf;
use std::sync::Arc;

/// A plot's "Save plot as PNG…" in progress.
pub(super) struct PendingPlot {
    path: PathBuf,
    rect: egui::Rect,
    /// Frames to wait before the screenshot (0: requested).
    frames: u32,
    /// The outcome, filled in by the screenshot callback.
    result: Arc<std::sync::Mutex<Option<Result<(), String>>>>,
}

impl DiffusionApp {
    /// Runs a picture's or plot's "Save … as PNG…": asks where (on the UI thread), then writes
    /// the picture, or grabs the plot from a screenshot a few frames later (once the menu
    /// has closed).
    pub(super) fn run_save_request(&mut self, r: widgets::SaveRequest) {
        let (name, picture) = match &r {
            widgets::SaveRequest::Picture { name, image } => (name.clone(), Some(image.clone())),
            widgets::SaveRequest::Region { name, .. } => (name.clone(), None),
        };
        let Some(path) = dialog::FileDialog::new()
            .add_filter("PNG image", &["png"])
            .set_file_name(name)
            .save_file()
        else {
            return;
        };
        match (picture, r) {
            (Some(image), _) => {
                self.drop_note = Some(match screenshot::save_color_image(&image, &path) {
                    Ok(()) => (format!("saved {}", path.display()), false),
                    Err(e) => (format!("could not save {}: {e}", path.display()), true),
                });
            }
            (None, widgets::SaveRequest::Region { rect, .. }) => {
                self.pending_plot = Some(PendingPlot {
                    path,
                    rect,
                    frames: 2,
                    result: Arc::default(),
                });
            }
            (None, widgets::SaveRequest::Picture { .. }) => {}
        }
    }

    /// Takes the screenshot of a plot being saved, and reports the outcome once written.
    pub(super) fn grab_pending_plot(&mut self, ctx: &egui::Context) {
        let Some(p) = &mut self.pending_plot else {
            return;
        };
        if let Some(outcome) = p.result.lock().ok().and_then(|mut g| g.take()) {
            self.drop_note = Some(match outcome {
                Ok(()) => (format!("saved {}", p.path.display()), false),
                Err(e) => (format!("could not save {}: {e}", p.path.display()), true),
            });
            self.pending_plot = None;
            return;
        }
        match p.frames {
            0 => {}
            1 => {
                p.frames = 0;
                let (path, rect, result) = (p.path.clone(), p.rect, p.result.clone());
                let ppp = ctx.pixels_per_point();
                let repaint = ctx.clone();
                ctx.request_screenshot(move |image| {
                    let outcome = widgets::crop(&image, rect, ppp)
                        .ok_or_else(|| "the plot is not on screen".to_owned())
                        .and_then(|img| screenshot::save_color_image(&img, &path));
                    if let Ok(mut g) = result.lock() {
                        *g = Some(outcome);
                    }
                    repaint.request_repaint();
                });
            }
            _ => {
                p.frames -= 1;
                ctx.request_repaint();
            }
        }
    }

    /// Runs what the views asked of the app ([`AppCommand`]).
    pub(super) fn run_app_commands(&mut self, commands: Vec<AppCommand>) {
        for c in commands {
            match c {
                AppCommand::Switch(view) => self.view = view,
                // One list of schedules between the lab and the forward view (#20 item 8).
                AppCommand::SchedulesToForward(specs) => {
                    self.forward.set_schedules(&specs);
                    self.view = View::Forward;
                }
                AppCommand::SchedulesToLab(specs) => {
                    self.schedule_lab.set_schedules(&specs);
                    self.view = View::Schedule;
                }
                AppCommand::Report(text) => self.drop_note = Some((text, true)),
            }
        }
    }

    /// Runs the commands every view has queued since its last frame (a view's `logic` runs
    /// even when another view is shown, and may start work).
    pub(super) fn drain_outboxes(&mut self) -> Vec<AppCommand> {
        let mut out = Vec::new();
        let c = self.schedule_lab.outbox().take();
        out.extend(c.run(&mut self.schedule_lab));
        let c = self.forward.outbox().take();
        out.extend(c.run(&mut self.forward));
        let c = self.player.outbox().take();
        out.extend(c.run(&mut self.player));
        let c = self.training.outbox().take();
        out.extend(c.run(&mut self.training));
        let c = self.toy.outbox().take();
        out.extend(c.run(&mut self.toy));
        let c = self.runs.outbox().take();
        out.extend(c.run(&mut self.runs));
        out
    }
}
