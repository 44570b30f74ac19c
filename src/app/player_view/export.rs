//! Exports of pane A's chain (PNG, GIF, frames, .npy, the run card) on a background job,
//! and the Export section of the side panel.

use super::*;
use crate::app::dialog::{Picked, default_export_path};
// `export` here is the sampling module that writes the files, not this one.
use crate::sampling::export::{self, RunCard, upscale, with_label, write_png};

/// What an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// The selected sample at the frame on screen (x_t beside x̂₀), scaled up, as PNG.
    SamplePng,
    /// The x_t grid of the frame on screen as PNG (optionally labelled).
    GridPng,
    /// The chain as an animated GIF: an x_t row over an x̂₀ row.
    Gif,
    /// The chain as numbered PNG frames in a folder.
    Frames,
    /// x₀ as .npy (N×C×H×W float32).
    Npy,
    /// The run card (JSON) that regenerates these exports with `sample --from-card`.
    Card,
}

impl ExportKind {
    /// Every export, in menu order.
    pub const ALL: [ExportKind; 6] = [
        ExportKind::SamplePng,
        ExportKind::GridPng,
        ExportKind::Gif,
        ExportKind::Frames,
        ExportKind::Npy,
        ExportKind::Card,
    ];

    /// The button label.
    pub fn label(self) -> &'static str {
        match self {
            ExportKind::SamplePng => "Selected sample (PNG)…",
            ExportKind::GridPng => "Grid of this frame (PNG)…",
            ExportKind::Gif => "Chain animation (GIF)…",
            ExportKind::Frames => "Chain frames (PNG folder)…",
            ExportKind::Npy => "x₀ (.npy)…",
            ExportKind::Card => "Run card (JSON)…",
        }
    }

    fn default_name(self) -> &'static str {
        match self {
            ExportKind::SamplePng => "sample.png",
            ExportKind::GridPng => "grid.png",
            ExportKind::Gif => "chain.gif",
            ExportKind::Frames => "frames",
            ExportKind::Npy => "x0.npy",
            ExportKind::Card => "run-card.json",
        }
    }

    fn extension(self) -> Option<(&'static str, &'static str)> {
        match self {
            ExportKind::SamplePng | ExportKind::GridPng => Some(("PNG image", "png")),
            ExportKind::Gif => Some(("GIF animation", "gif")),
            ExportKind::Npy => Some(("NumPy array", "npy")),
            ExportKind::Card => Some(("JSON", "json")),
            ExportKind::Frames => None,
        }
    }
}

impl PlayerView {
    pub(super) fn export_ui(&mut self, ui: &mut egui::Ui) {
        ui.checkbox(
            &mut self.label_exports,
            "Label grids and frames with t and the sampler",
        );
        if let Some(ex) = &self.export {
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(ex.job.fraction())
                        .desired_width(160.0)
                        .text(ex.what.clone()),
                );
                if ui.button("Cancel").clicked() {
                    ex.job.cancel();
                }
            });
        } else {
            for kind in ExportKind::ALL {
                if ui.button(kind.label()).clicked() {
                    self.ask_and_export(kind);
                }
            }
        }
        // No dialog could open: an in-app path field instead (#20 item 2).
        if let Some((_, text)) = &mut self.export_fallback {
            ui.label("No file dialog could open here. Save to:");
            ui.add(egui::TextEdit::singleline(text).desired_width(f32::INFINITY))
                .on_hover_text("The file (or, for frames, the folder) to write");
            let mut done = None;
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    done = Some(true);
                }
                if ui.button("Cancel").clicked() {
                    done = Some(false);
                }
            });
            match done {
                Some(true) => self.save_fallback_export(),
                Some(false) => self.export_fallback = None,
                None => {}
            }
        }
        if let Some(m) = &self.export_message {
            ui.label(m);
            if let Some(folder) = self.export_folder.clone()
                && ui
                    .button("Open folder")
                    .on_hover_text(format!("Show {} in the file manager", folder.display()))
                    .clicked()
            {
                self.out
                    .open_folder(folder, |v: &mut Self, e| v.export_message = Some(e));
            }
        }
    }

    /// The run card of pane A's chain.
    pub fn run_card(&self) -> Option<RunCard> {
        let m = self.model()?;
        Some(RunCard {
            generator: format!("diffusion-lab {}", env!("CARGO_PKG_VERSION")),
            checkpoint: m.dir.clone().unwrap_or_default(),
            checkpoint_step: m.step,
            weights: self.a.settings.weights,
            schedule: m.config.schedule.clone(),
            sampler: self.a.settings.kind(),
            n: self.n,
            seed: self.seed,
            clip: self.clip,
            stride: self.a.lock().frames.get(1).map_or(1, |f| f.index.max(1)),
            guidance: self.guidance_for(self.model_classes(), self.a.settings.cfg_w, self.n),
            classifier: self.guidance.classifier_dir.clone(),
        })
    }

    /// Exports pane A's chain to `path` on a background thread (progress and cancel in the
    /// Export section; the outcome in `export_message`).
    /// What an export button does: asks for a path with the system's dialog and exports
    /// there; where no dialog can open, shows an in-app path field prefilled in the pictures
    /// folder instead (#20 item 2).
    pub fn ask_and_export(&mut self, kind: ExportKind) {
        let (dialog, mode) = export_dialog(kind);
        self.out
            .pick_answer(dialog, mode, move |v: &mut Self, picked| match picked {
                Picked::Path(path) => v.export_to(kind, path),
                Picked::Cancelled => {}
                Picked::Unavailable => {
                    let path = default_export_path(kind.default_name());
                    v.export_fallback = Some((kind, path.display().to_string()));
                }
            });
    }

    /// "Save" of the in-app path field: exports to the typed path, creating its folder.
    pub fn save_fallback_export(&mut self) {
        let Some((kind, text)) = self.export_fallback.take() else {
            return;
        };
        let path = PathBuf::from(text.trim());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            self.export_message = Some(format!("cannot create {}: {e}", parent.display()));
            return;
        }
        self.export_to(kind, path);
    }

    /// Exports `kind` to `path` in the background; the outcome lands in `export_message`.
    pub fn export_to(&mut self, kind: ExportKind, path: PathBuf) {
        let record = self.a.lock().clone();
        if record.frames.is_empty() {
            self.export_message = Some("There is no chain to export yet: sample first.".into());
            return;
        }
        let frame = self.frame.min(record.frames.len() - 1);
        let label = self
            .label_exports
            .then(|| sampler_label(&self.a.settings.kind()));
        let card = self.run_card();
        let x0 = self.a.x0.clone();
        let sel = self.selected.min(record.n - 1);
        let what = kind.label().trim_end_matches('…').to_owned();
        let shown = path.display().to_string();
        // "Open folder" after the export: the folder itself for frames, else the file's folder.
        self.export_folder = if kind.extension().is_none() {
            Some(path.clone())
        } else {
            path.parent().map(std::path::Path::to_path_buf)
        };
        let (job, launch) = BgJob::prepare("export", self.wake(), move |ctx| {
            ctx.set_total(record.frames.len());
            let mut progress = |d: usize, _t: usize| ctx.set_done(d);
            let err = |e: export::ExportError| e.to_string();
            let f = &record.frames[frame];
            let (n, shape) = (record.n, record.shape);
            match kind {
                ExportKind::SamplePng => {
                    let px = record.pixels();
                    let one = |q: &QFrame| q.display_u8()[sel * px..(sel + 1) * px].to_vec();
                    let pair = [one(&f.xt), one(&f.x0)].concat();
                    let img = upscale(&export::grid_rgb(&pair, 2, shape), 8);
                    let img = match &label {
                        Some(l) => with_label(&img, &format!("t={} {l}", f.t)),
                        None => img,
                    };
                    write_png(&path, &img).map_err(err)?;
                }
                ExportKind::GridPng => {
                    let img = upscale(&export::grid_rgb(&f.xt.display_u8(), n, shape), 2);
                    let img = match &label {
                        Some(l) => with_label(&img, &export::frame_label(f, l)),
                        None => img,
                    };
                    write_png(&path, &img).map_err(err)?;
                }
                ExportKind::Gif => {
                    export::write_chain_gif(&path, &record, label.as_deref(), 80, &mut progress)
                        .map_err(err)?;
                }
                ExportKind::Frames => {
                    export::write_chain_frames(&path, &record, label.as_deref(), &mut progress)
                        .map_err(err)?;
                }
                ExportKind::Npy => {
                    let x0 = x0.ok_or("the chain has not finished; x₀ is not available yet")?;
                    let [c, h, w] = shape;
                    crate::data::write_npy(&path, &[n, c, h, w], &x0).map_err(|e| e.to_string())?;
                }
                ExportKind::Card => {
                    card.ok_or("no model loaded")?.write(&path).map_err(err)?;
                }
            }
            Ok(format!("Saved {shown}"))
        });
        self.out.start(launch);
        self.export = Some(ExportState { what, job });
    }

    /// Whether an export is running.
    pub fn is_exporting(&self) -> bool {
        self.export.is_some()
    }
}

/// The dialog that asks where to save an export (the app shows it, on the UI thread).
fn export_dialog(kind: ExportKind) -> (crate::app::dialog::FileDialog, PickMode) {
    let dialog = crate::app::dialog::FileDialog::new().set_file_name(kind.default_name());
    match kind.extension() {
        Some((name, ext)) => (dialog.add_filter(name, &[ext]), PickMode::SaveOrUnavailable),
        None => (
            dialog.set_title("Pick a folder for the frames"),
            PickMode::FolderOrUnavailable,
        ),
    }
}
