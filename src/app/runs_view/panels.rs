//! The runs view's layout: the runs table and the controls on top, the comparison, the study
//! and the grid below.

use super::*;
use egui::RichText;

impl RunsView {
    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Commands<Self> {
        let ctx = ui.ctx().clone();
        // Read the folder on the first frame, and again whenever the view comes back on screen
        // (a run may have finished in the Training view meanwhile).
        let pass = ctx.cumulative_pass_nr();
        if !self.requested || pass > self.last_pass + 2 {
            self.refresh(&ctx);
        }
        self.last_pass = pass;
        if std::mem::take(&mut self.pending_compare) {
            self.compare_samples(&ctx);
        }
        self.logic(&ctx);
        if self.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        self.load_strips(&ctx);
        egui::Panel::top("runs_top")
            .frame(crate::app::panel_frame(ui))
            .resizable(true)
            .default_size(260.0)
            .show(ui, |ui| {
                let (w, h) = (ui.available_width(), ui.available_height());
                ui.horizontal_top(|ui| {
                    ui.allocate_ui(egui::vec2((w - 430.0).max(360.0), h), |ui| {
                        ui.vertical(|ui| self.table_ui(ui));
                    });
                    ui.separator();
                    ui.vertical(|ui| {
                        egui::ScrollArea::vertical()
                            .id_salt("runs_controls")
                            .show(ui, |ui| self.controls_ui(ui, &ctx));
                    });
                });
            });
        egui::CentralPanel::default()
            .frame(crate::app::central_frame(ui))
            .show(ui, |ui| self.central_ui(ui, &ctx));
        self.out.take()
    }

    fn table_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Runs");
            if ui.button("Refresh").clicked() {
                self.refresh(&ui.ctx().clone());
            }
            if self.list_job.is_some() {
                ui.spinner();
            }
            ui.label(
                RichText::new(format!(
                    "{} runs in {} · tick runs to overlay and compare them",
                    self.list.runs.len(),
                    self.runs_dir.display()
                ))
                .small(),
            );
        });
        if let Some(e) = self.error.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, e);
                if ui.small_button("✕").on_hover_text("dismiss").clicked() {
                    self.error = None;
                }
            });
        }
        ui.separator();
        if self.list.runs.is_empty() {
            ui.label(if self.loaded {
                "No runs yet: start one in the Training view, or run `diffusion-lab train`."
            } else {
                "Reading the runs folder…"
            });
        }
        let mut toggled: Option<PathBuf> = None;
        egui::ScrollArea::vertical()
            .id_salt("runs_table")
            .max_height((ui.available_height() - 30.0).max(80.0))
            .show(ui, |ui| {
                egui::Grid::new("runs_grid")
                    .striped(true)
                    .num_columns(5)
                    .show(ui, |ui| {
                        ui.label(RichText::new("run").strong());
                        ui.label(RichText::new("schedule · data").strong());
                        ui.label(RichText::new("steps").strong());
                        ui.label(RichText::new("loss").strong());
                        ui.label(RichText::new("date (UTC)").strong());
                        ui.end_row();
                        for r in &self.list.runs {
                            let mut on = self.picked.contains(&r.dir);
                            if ui
                                .checkbox(&mut on, r.label())
                                .on_hover_text(r.dir.display().to_string())
                                .changed()
                            {
                                toggled = Some(r.dir.clone());
                            }
                            ui.label(
                                RichText::new(format!(
                                    "{} · {}",
                                    r.schedule_label(),
                                    r.data_label()
                                ))
                                .small(),
                            );
                            ui.label(r.steps().to_string());
                            ui.label(format!("{:.4}", r.final_loss()));
                            ui.label(RichText::new(r.date()).small());
                            ui.end_row();
                        }
                    });
            });
        if let Some(d) = toggled
            && !self.picked.remove(&d)
        {
            self.picked.insert(d);
        }
        if !self.list.skipped.is_empty() {
            egui::CollapsingHeader::new(format!("{} folders skipped", self.list.skipped.len()))
                .id_salt("skipped")
                .show(ui, |ui| {
                    for s in &self.list.skipped {
                        ui.label(
                            RichText::new(format!("{}: {}", s.dir.display(), s.reason))
                                .small()
                                .color(ui.visuals().warn_fg_color),
                        );
                    }
                });
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.log_axis, "log axis");
            let l = ui.label("smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.999))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let l = ui.label("samples");
            ui.add(egui::DragValue::new(&mut self.compare_n).range(1..=64))
                .labelled_by(l.id);
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.compare_seed))
                .labelled_by(l.id);
            let l = ui.label("DDIM steps");
            ui.add(egui::DragValue::new(&mut self.compare_steps).range(1..=1000))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let running = self.compare_job.is_some();
            if ui
                .add_enabled(
                    !running && !self.picked.is_empty(),
                    egui::Button::new("Compare samples"),
                )
                .on_hover_text("draw samples of every picked run's EMA weights from the same x_T")
                .clicked()
            {
                self.compare_samples(ctx);
            }
            if ui
                .add_enabled(
                    !running && !self.picked.is_empty(),
                    egui::Button::new("NLL (bits/dim)"),
                )
                .on_hover_text(
                    "the variational bound of every picked run on 64 of its held-out images, \
                     estimated from every t ≤ 50 and 100 stratified t above (diffusion-lab nll gives the full sum)",
                )
                .clicked()
            {
                self.compute_nll(ctx);
            }
            if let Some(j) = &self.compare_job {
                if j.progress.1 > 0 {
                    ui.add(
                        egui::ProgressBar::new(j.progress.0 as f32 / j.progress.1 as f32)
                            .text(j.progress.2.clone())
                            .desired_width(200.0),
                    );
                } else {
                    ui.spinner();
                }
            }
        });
        ui.separator();
        self.study_controls_ui(ui, ctx);
    }

    fn central_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        let h = ((ui.available_height() - 50.0) / 2.0).max(120.0);
        crate::app::columns(ui, 2, |cols| {
            cols[0].label(
                RichText::new(
                    "Loss of the picked runs: train solid, held-out dashed (min–max band)",
                )
                .strong(),
            );
            self.curves_ui(&mut cols[0], h - 4.0);
            cols[1].label(
                RichText::new("Samples from the same x_T (EMA weights, DDIM η = 0)").strong(),
            );
            self.samples_ui(&mut cols[1], h - 4.0);
            self.nll_ui(&mut cols[1]);
        });
        ui.separator();
        crate::app::columns(ui, 2, |cols| {
            self.study_ui(&mut cols[0], h);
            self.grid_ui(&mut cols[1], ctx);
        });
    }
}
