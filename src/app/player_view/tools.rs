//! The player's side tools: noise-then-denoise and scoring the samples.

use super::*;
use crate::app::widgets::PlotMenu;
use crate::sampling::{noise_then_denoise, noise_then_denoise_steps};

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
        let (job, launch) = BgJob::prepare("noise-then-denoise", self.wake(), move |ctx| {
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
        self.out.start(launch);
        self.ntd.job = Some(job);
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
        let (job, launch) = BgJob::prepare("score", self.wake(), move |ctx| {
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
        self.out.start(launch);
        self.score.job = Some(job);
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
                    crate::app::widgets::load_picture(
                        &ctx,
                        "ntd_noised",
                        row(&|r| &r.noised),
                        egui::TextureOptions::NEAREST,
                    ),
                    crate::app::widgets::load_picture(
                        &ctx,
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
                    crate::app::widgets::picture(ui, t.id(), s * (w / s.x), label);
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
                .show_menu("ntd_psnr", ui, |p| {
                    p.line(crate::app::widgets::line("PSNR", psnr));
                });
            crate::app::plot("ntd_ssim")
                .height(120.0)
                .x_axis_label("t")
                .y_axis_label("SSIM")
                .show_menu("ntd_ssim", ui, |p| {
                    p.line(crate::app::widgets::line("SSIM", ssim));
                });
        }
    }
}

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

/// One row of images (e.g. x_t at several t) from a [k, C, H, W] frame.
fn strip_color(q: &QFrame, k: usize, shape: [usize; 3]) -> egui::ColorImage {
    let [c, h, w] = shape;
    let gw = k * (w + 1) + 1;
    let mut px = vec![Color32::from_gray(45); gw * (h + 2)];
    let plane = h * w;
    for i in 0..k {
        for y in 0..h {
            for x in 0..w {
                let v = |ch: usize| {
                    crate::data::unit_to_u8(q.value(i * c * plane + ch * plane + y * w + x))
                };
                px[(y + 1) * gw + 1 + i * (w + 1) + x] = if c == 3 {
                    Color32::from_rgb(v(0), v(1), v(2))
                } else {
                    Color32::from_gray(v(0))
                };
            }
        }
    }
    egui::ColorImage::new([gw, h + 2], px)
}
