//! The player's side tools: noise-then-denoise, scoring the samples, and exports (with the
//! run card). Split out of `player_view.rs`, which keeps the chain, the panes and the transport.

use super::*;
use crate::app::dialog::{Picked, default_export_path};

impl PlayerView {
    /// Starts the noise-then-denoise sweep on dataset image `ntd.index` with pane A's sampler.
    pub fn run_noise_then_denoise(&mut self) {
        let Some(model) = self.job_model() else {
            self.ntd.error = Some("no model loaded".into());
            return;
        };
        let kind = self.a.settings.kind();
        let weights = self.a.settings.weights;
        let (index, points, seed, clip) = (
            self.ntd.index,
            self.ntd.points.clamp(2, 20),
            self.seed,
            self.clip,
        );
        let big_t = model.table.steps();
        let t0s: Vec<usize> = (1..=points).map(|k| (k * big_t / points).max(1)).collect();
        self.ntd.error = None;
        self.ntd.tex = None;
        let job = BgJob::spawn("noise-then-denoise", self.wake(), move |ctx| {
            let data = model.config.data.load()?;
            let image = data
                .get(index)
                .ok_or_else(|| {
                    format!(
                        "the dataset has {} images; index {index} is past the end",
                        data.len()
                    )
                })?
                .to_vec();
            let [_, c, h, w] = data.shape();
            if [c, h, w] != model.shape {
                return Err(format!(
                    "the dataset's images are {:?}, the model expects {:?}",
                    [c, h, w],
                    model.shape
                ));
            }
            ctx.set_total(noise_then_denoise_steps(&model.table, kind, &t0s));
            let den = model.denoiser(weights);
            noise_then_denoise(&den, kind, &image, &t0s, seed, clip, ctx.cancel_flag())
                .map(|r| {
                    r.map(|v| {
                        ctx.set_done(usize::MAX);
                        let mut v = v;
                        v.insert(
                            0,
                            Reconstruction {
                                t0: 0,
                                psnr: f64::INFINITY,
                                ssim: 1.0,
                                noised: image.clone(),
                                recon: image.clone(),
                            },
                        );
                        v
                    })
                })
                .map_err(|e| e.to_string())
        });
        match job {
            Ok(j) => self.ntd.job = Some(j),
            Err(e) => self.ntd.error = Some(format!("cannot start: {e}")),
        }
    }

    /// Scores pane A's finished samples (FID, IS, KID, precision/recall, classes) against the
    /// held-out images of the model's data set, in the background.
    pub fn score_samples(&mut self) {
        let Some(model) = self.job_model() else {
            self.score.error = Some("no model loaded".into());
            return;
        };
        let Some(x0) = self.a.x0.clone() else {
            self.score.error = Some("sample first: the chain has not reached x₀".into());
            return;
        };
        self.score.error = None;
        let label = format!("{} · {}", model.label, self.a.label);
        let job = BgJob::spawn("score", self.wake(), move |ctx| {
            let net =
                crate::metrics::classifier_for(&model.config.data).map_err(|e| e.to_string())?;
            let pixels: usize = model.shape.iter().product();
            let (kept, non_finite) = crate::metrics::finite_images(&x0, pixels);
            ctx.set_total(kept.len() / pixels.max(1));
            crate::metrics::score_sets(
                &net,
                &[kept],
                model.shape,
                non_finite,
                0,
                label,
                &mut |d, _| ctx.set_done(d),
            )
            .map_err(|e| e.to_string())
        });
        match job {
            Ok(j) => self.score.job = Some(j),
            Err(e) => self.score.error = Some(format!("cannot start: {e}")),
        }
    }

    pub(super) fn score_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let ready = self.a.x0.is_some() && self.score.job.is_none();
            if ui
                .add_enabled(ready, egui::Button::new("Score these samples"))
                .on_hover_text(
                    "FID, IS, KID, precision and recall of pane A's samples against held-out \
                     images, next to real images at the same n (use hundreds of samples for \
                     a steady FID)",
                )
                .clicked()
            {
                self.score_samples();
            }
            if let Some(j) = &self.score.job {
                ui.spinner();
                if ui.button("Cancel").clicked() {
                    j.cancel();
                }
            }
        });
        if let Some(e) = &self.score.error {
            ui.colored_label(Color32::LIGHT_RED, e);
        }
        if let Some(r) = &self.score.report {
            score_table(ui, r);
        }
    }

    pub(super) fn ntd_ui(&mut self, ui: &mut egui::Ui) {
        ui.label("Take a dataset image to x_t, run the reverse chain (sampler A) back, and compare with the original.");
        ui.horizontal(|ui| {
            let l = ui.label("image #");
            ui.add(egui::DragValue::new(&mut self.ntd.index).range(0..=59_999))
                .labelled_by(l.id);
            let l = ui.label("t values");
            ui.add(egui::DragValue::new(&mut self.ntd.points).range(2..=20))
                .labelled_by(l.id);
            let busy = self.ntd.job.is_some();
            if ui.add_enabled(!busy, egui::Button::new("Run")).clicked() {
                self.run_noise_then_denoise();
            }
            if let Some(j) = &self.ntd.job {
                ui.spinner();
                if ui.button("Cancel").clicked() {
                    j.cancel();
                }
            }
        });
        if let Some(e) = &self.ntd.error {
            ui.colored_label(Color32::LIGHT_RED, e);
        }
        let res = &self.ntd.results;
        if res.len() > 1 {
            let shape = self.model().map_or([1, 28, 28], |m| m.shape);
            if self.ntd.tex.is_none() {
                let row = |f: &dyn Fn(&Reconstruction) -> &Vec<f32>| {
                    let flat: Vec<f32> = res.iter().flat_map(|r| f(r).iter().copied()).collect();
                    let q = QFrame::encode(&flat);
                    strip_color(&q, res.len(), shape)
                };
                let ctx = ui.ctx().clone();
                self.ntd.tex = Some((
                    ctx.load_texture(
                        "ntd_noised",
                        row(&|r| &r.noised),
                        egui::TextureOptions::NEAREST,
                    ),
                    ctx.load_texture(
                        "ntd_recon",
                        row(&|r| &r.recon),
                        egui::TextureOptions::NEAREST,
                    ),
                ));
            }
            if let Some((a, b)) = &self.ntd.tex {
                let w = ui.available_width();
                for (label, t) in [("x_t", a), ("denoised", b)] {
                    ui.label(label);
                    let s = t.size_vec2();
                    ui.image((t.id(), s * (w / s.x)));
                }
                ui.label(format!(
                    "t = {}",
                    res.iter()
                        .map(|r| r.t0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            // PSNR is infinite for a perfect reconstruction (t = 0): such points are left out
            // so the axis never breaks.
            let psnr: PlotPoints = res
                .iter()
                .filter(|r| r.psnr.is_finite())
                .map(|r| [r.t0 as f64, r.psnr])
                .collect();
            let ssim: PlotPoints = res.iter().skip(1).map(|r| [r.t0 as f64, r.ssim]).collect();
            crate::app::plot("ntd_psnr")
                .height(120.0)
                .x_axis_label("t")
                .y_axis_label("PSNR (dB)")
                .show(ui, |p| {
                    p.line(Line::new("PSNR", psnr));
                });
            crate::app::plot("ntd_ssim")
                .height(120.0)
                .x_axis_label("t")
                .y_axis_label("SSIM")
                .show(ui, |p| {
                    p.line(Line::new("SSIM", ssim));
                });
        }
    }

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
                && let Err(e) = crate::app::dialog::open_folder(&folder)
            {
                self.export_message = Some(e);
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
        match pick_export_path(kind) {
            Picked::Path(path) => self.export_to(kind, path),
            Picked::Cancelled => {}
            Picked::Unavailable => {
                let path = default_export_path(kind.default_name());
                self.export_fallback = Some((kind, path.display().to_string()));
            }
        }
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
        let job = BgJob::spawn("export", self.wake(), move |ctx| {
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
        match job {
            Ok(job) => self.export = Some(ExportState { what, job }),
            Err(e) => self.export_message = Some(format!("cannot start the export: {e}")),
        }
    }

    /// Whether an export is running.
    pub fn is_exporting(&self) -> bool {
        self.export.is_some()
    }
}

/// Asks where to save an export (rfd, on the UI thread).
/// A quality table: one row per set (the samples, then the reference rows), with the label
/// that says what the numbers are.
pub fn score_table(ui: &mut egui::Ui, r: &crate::metrics::ScoreReport) {
    ui.label(RichText::new(&r.features).small().italics());
    egui::Grid::new(("score_table", &r.source))
        .striped(true)
        .show(ui, |ui| {
            for h in ["", "n", "FID", "IS", "precision", "recall"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for row in &r.rows {
                ui.label(&row.label);
                ui.label(row.n.to_string());
                ui.label(format!("{:.1}", row.fid.mean));
                ui.label(format!("{:.2}", row.is.mean));
                ui.label(format!("{:.2}", row.precision.mean));
                ui.label(format!("{:.2}", row.recall.mean));
                ui.end_row();
            }
        });
    if let Some(first) = r.rows.first() {
        ui.label(format!("classes of the samples: {:?}", first.histogram));
        if first.non_finite > 0 {
            ui.colored_label(
                Color32::LIGHT_RED,
                format!("{} non-finite samples left out", first.non_finite),
            );
        }
    }
}

pub(super) fn pick_export_path(kind: ExportKind) -> Picked {
    let dialog = crate::app::dialog::FileDialog::new().set_file_name(kind.default_name());
    match kind.extension() {
        Some((name, ext)) => dialog.add_filter(name, &[ext]).save_file_or_unavailable(),
        None => dialog
            .set_title("Pick a folder for the frames")
            .pick_folder_or_unavailable(),
    }
}
