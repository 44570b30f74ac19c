//! Studies: the preset picker, start and cancel, the per-epoch curves and the strips of the
//! study shown, and the study presets found in `presets/`.

use super::grid::preset_texts;
use super::*;
use crate::app::widgets::PlotMenu;
use crate::store::runs::new_run_dir;
use crate::train::study_runner::{StudyPlan, run_study, study_from_preset};
use egui::RichText;
use egui_plot::{ColorConflictHandling, FilledArea, Legend, LineStyle, PlotPoints};

/// The epochs of a quick class run of a study.
pub const QUICK_EPOCHS: usize = 10;

impl RunsView {
    /// Takes the epochs and steps per epoch of the picked study preset into the controls.
    pub(super) fn preset_settings(&mut self) {
        let Some(text) = self.picked_study_text() else {
            return;
        };
        if let Ok(plan) = study_from_preset(text, None, None) {
            self.study_epochs = plan.epochs;
            self.study_steps_per_epoch = plan.steps_per_epoch.unwrap_or(0);
        }
    }

    /// Starts the study preset `study_preset` in the background, into a new study folder.
    pub fn start_study(&mut self, ctx: &egui::Context) {
        let (Some(name), Some(text)) = (self.study_preset.clone(), self.picked_study_text()) else {
            self.error = Some("no study preset picked".into());
            return;
        };
        if let Some(plan) = super::seed000::seed000_plan(text) {
            self.start_seed000(&name, plan, ctx);
            return;
        }
        let plan = study_from_preset(
            text,
            Some(self.study_epochs.max(1)),
            (self.study_steps_per_epoch > 0).then_some(self.study_steps_per_epoch),
        )
        .map_err(|e| format!("preset {name}: {e}"));
        match plan {
            Ok(plan) => self.start_study_plan(plan, ctx),
            Err(e) => self.error = Some(e),
        }
    }

    /// Picks the study preset `name` (opening a study preset in the app), and shows seed 000's
    /// bundled table when it is that one and the runs folder has none.
    pub fn pick_study_preset(&mut self, name: &str) {
        if self.study_presets.is_empty() {
            self.study_presets = find_study_presets();
        }
        if self.study_presets.iter().any(|(n, _)| n == name) {
            self.study_preset = Some(name.to_owned());
            self.preset_settings();
            self.show_bundled_seed000_if_picked();
        }
    }

    /// The text of the picked study preset.
    fn picked_study_text(&self) -> Option<&str> {
        let name = self.study_preset.as_ref()?;
        self.study_presets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }

    /// Starts `plan` in the background, into a new study folder in the runs folder.
    pub fn start_study_plan(&mut self, plan: StudyPlan, ctx: &egui::Context) {
        if self.study_job.is_some() {
            return;
        }
        let dir = new_run_dir(&self.runs_dir, &format!("study-{}", plan.name));
        self.study = Some(StudyResult::empty(dir.clone()));
        self.error = None;
        let (job, launch) = Job::prepare("study", ctx, move |send, cancel| {
            let result = run_study(&plan, &dir, None, cancel, &mut |ev| send(Msg::Study(ev)));
            if let Ok(o) = &result {
                for w in &o.warnings {
                    send(Msg::Error(w.clone()));
                }
            }
            send(Msg::StudyDone(result.map(|o| o.dir)));
        });
        self.out.start(launch);
        self.study_job = Some(job);
    }

    /// Asks the running study to stop (what is done is kept).
    pub fn cancel_study(&mut self) {
        if let Some(j) = &mut self.study_job {
            j.cancel();
        }
    }

    pub(super) fn study_controls_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.label(RichText::new("Studies").strong());
        let running = self.study_job.is_some();
        let mut changed = false;
        ui.add_enabled_ui(!running, |ui| {
            let selected = self
                .study_presets
                .iter()
                .find(|p| Some(&p.0) == self.study_preset.as_ref())
                .map_or_else(|| "(none)".to_owned(), |p| p.0.clone());
            ui.horizontal(|ui| {
                let l = ui.label("preset");
                egui::ComboBox::from_id_salt("study_preset")
                    .selected_text(selected)
                    .show_ui(ui, |ui| {
                        for (name, _) in &self.study_presets {
                            if ui
                                .selectable_value(&mut self.study_preset, Some(name.clone()), name)
                                .clicked()
                            {
                                changed = true;
                            }
                        }
                    })
                    .response
                    .labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                let l = ui.label("epochs");
                ui.add(egui::DragValue::new(&mut self.study_epochs).range(1..=1000))
                    .labelled_by(l.id);
                let l = ui.label("steps/epoch (0: one pass)");
                ui.add(egui::DragValue::new(&mut self.study_steps_per_epoch).range(0..=100_000))
                    .labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                if ui
                    .button("Quick (class)")
                    .on_hover_text(format!(
                        "{QUICK_EPOCHS} epochs of one pass each: minutes, not hours \
                         (linear runs keep the preset's proportion)"
                    ))
                    .clicked()
                {
                    self.study_epochs = QUICK_EPOCHS;
                    self.study_steps_per_epoch = 0;
                }
                if ui
                    .button("Preset's length")
                    .on_hover_text(
                        "The epochs the preset asks for (the schedule study: seed 003's \
                         100 epochs, 190 for linear)",
                    )
                    .clicked()
                {
                    self.preset_settings();
                }
            });
        });
        if changed {
            self.preset_settings();
            self.show_bundled_seed000_if_picked();
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !running && self.study_preset.is_some(),
                    egui::Button::new("Start study"),
                )
                .clicked()
            {
                self.start_study(ctx);
            }
            if ui
                .add_enabled(running, egui::Button::new("Cancel study"))
                .clicked()
            {
                self.cancel_study();
            }
        });
        if let Some(j) = &self.study_job {
            ui.label(j.progress.2.clone());
            if j.progress.1 > 0 {
                ui.add(
                    egui::ProgressBar::new(j.progress.0 as f32 / j.progress.1 as f32)
                        .text(format!("step {} / {}", j.progress.0, j.progress.1)),
                );
            }
            if j.cancelling {
                ui.label("cancelling…");
            }
        }
        if !self.studies.is_empty() {
            let current = self.study.as_ref().map(|s| s.dir.clone());
            let name = |p: &Path| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let mut chosen = None;
            ui.add_enabled_ui(!running, |ui| {
                ui.horizontal(|ui| {
                    let l = ui.label("show");
                    egui::ComboBox::from_id_salt("study_shown")
                        .selected_text(current.as_deref().map(name).unwrap_or_default())
                        .show_ui(ui, |ui| {
                            for d in &self.studies {
                                if ui
                                    .selectable_label(current.as_ref() == Some(d), name(d))
                                    .clicked()
                                {
                                    chosen = Some(d.clone());
                                }
                            }
                        })
                        .response
                        .labelled_by(l.id);
                });
            });
            if let Some(d) = chosen {
                self.show_study(&d);
            }
        }
    }

    pub(super) fn load_strips(&mut self, ctx: &egui::Context) {
        let dir = self.study.as_ref().map(|s| s.dir.clone());
        if dir == self.strips_of {
            return;
        }
        self.strips.clear();
        self.strips_of.clone_from(&dir);
        let Some(dir) = dir else { return };
        for p in super::files_with_extension(&dir.join("strips"), "png") {
            let Ok(img) = image::open(&p) else { continue };
            let img = img.to_rgb8();
            let ci = egui::ColorImage::from_rgb(
                [img.width() as usize, img.height() as usize],
                img.as_raw(),
            );
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().replace("__", " · "))
                .unwrap_or_default();
            let tex = crate::app::widgets::load_picture(
                ctx,
                format!("strip_{name}"),
                ci,
                egui::TextureOptions::NEAREST,
            );
            self.strips.push((name, tex));
        }
    }

    pub(super) fn study_ui(&mut self, ui: &mut egui::Ui, height: f32) {
        let title = match &self.study {
            Some(s) => format!(
                "Study {}",
                s.dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            None => {
                "Studies: start one above (seed 003's schedule and data studies, seed 000's table)"
                    .into()
            }
        };
        ui.add(egui::Label::new(RichText::new(title).strong()).truncate());
        let seed000 = self
            .study
            .as_ref()
            .map(|s| s.seed000.clone())
            .unwrap_or_default();
        if !seed000.is_empty() {
            ui.add(
                egui::Label::new(
                    RichText::new(
                        "seed 000: IS and seconds against steps for the picked N (one line per \
                         column), then the table, IS ± std · seconds per cell",
                    )
                    .small(),
                )
                .truncate(),
            );
            self.seed000_ui(ui, &seed000, height - 20.0);
            return;
        }
        ui.add(
            egui::Label::new(
                RichText::new(
                    "loss per epoch: train solid, held-out dashed, bands min–max over seeds \
                     and batches; strips: five x_T through one model (…__seeds: one row per \
                     training seed), x_T at the left, x₀ at the right",
                )
                .small(),
            )
            .truncate(),
        );
        let rows = self
            .study
            .as_ref()
            .map(|s| s.rows.clone())
            .unwrap_or_default();
        let report = self
            .study
            .as_ref()
            .map(|s| s.report.clone())
            .unwrap_or_default();
        let log = self.log_axis;
        let f = move |v: f64| if log { v.max(1e-12).log10() } else { v };
        let width = ui.available_width();
        let plot_w = if self.strips.is_empty() && report.is_empty() {
            width
        } else {
            (width * 0.56).max(200.0)
        };
        let height = (height - 30.0).max(120.0);
        let strip_w = (width - plot_w - 16.0).max(60.0);
        ui.horizontal_top(|ui| {
            self.study_plot_ui(ui, &rows, plot_w, height, f);
            if !self.strips.is_empty() || !report.is_empty() {
                egui::ScrollArea::vertical()
                    .id_salt("strips_scroll")
                    .max_height(height)
                    .max_width(strip_w)
                    .show(ui, |ui| {
                        ui.vertical(|ui| {
                            ui.set_max_width(strip_w);
                            let w = strip_w - 12.0;
                            if !report.is_empty() {
                                // Seed 003's numbers per schedule × preparation (#15 §3).
                                ui.add(
                                    egui::Label::new(RichText::new(&report).monospace().small())
                                        .extend(),
                                );
                            }
                            for (name, tex) in &self.strips {
                                ui.label(RichText::new(name).small());
                                let size = tex.size_vec2();
                                let scale = (w / size.x).min(2.0);
                                crate::app::widgets::picture(ui, tex.id(), size * scale, name);
                            }
                        });
                    });
            }
        });
    }

    fn study_plot_ui(
        &self,
        ui: &mut egui::Ui,
        rows: &[SummaryRow],
        width: f32,
        height: f32,
        f: impl Fn(f64) -> f64,
    ) {
        crate::app::plot("study_curves")
            .width(width)
            .height(height)
            .legend(Legend::default().color_conflict_handling(ColorConflictHandling::PickFirst))
            .x_axis_label("epoch")
            .y_axis_label(if self.log_axis {
                "loss (log₁₀)"
            } else {
                "loss"
            })
            .show_menu("study_curves", ui, |p| {
                let mut groups: Vec<(String, String)> = Vec::new();
                for r in rows {
                    let g = (r.schedule.clone(), r.prep.clone());
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
                for (i, (s, pr)) in groups.iter().enumerate() {
                    let c = colour(i);
                    let g: Vec<&SummaryRow> = rows
                        .iter()
                        .filter(|r| &r.schedule == s && &r.prep == pr)
                        .collect();
                    let name = format!("{s} · {pr}");
                    let xs: Vec<f64> = g.iter().map(|r| r.epoch as f64).collect();
                    for (k, dashed) in [(0usize, false), (1, true)] {
                        let v = |r: &SummaryRow, j: usize| {
                            f(if k == 0 { r.train[j] } else { r.val[j] })
                        };
                        let lo: Vec<f64> = g.iter().map(|r| v(r, 1)).collect();
                        let hi: Vec<f64> = g.iter().map(|r| v(r, 2)).collect();
                        let mean: Vec<[f64; 2]> =
                            g.iter().map(|r| [r.epoch as f64, v(r, 0)]).collect();
                        let mut line =
                            crate::app::widgets::line(name.clone(), PlotPoints::from(mean))
                                .color(c)
                                .width(2.0);
                        if dashed {
                            line = line.style(LineStyle::dashed_loose());
                        }
                        p.line(line);
                        p.add(
                            FilledArea::new(name.clone(), &xs, &lo, &hi)
                                .fill_color(c.gamma_multiply(if dashed { 0.12 } else { 0.2 })),
                        );
                    }
                }
            });
    }
}

/// The study presets (see [`preset_texts`]): every preset with a `[study]` table that parses.
pub(super) fn find_study_presets() -> Vec<(String, String)> {
    preset_texts()
        .into_iter()
        .filter(|(_, t)| {
            (t.contains("[study]") && study_from_preset(t, None, None).is_ok())
                || (t.contains("[seed000]") && super::seed000::seed000_plan(t).is_some())
        })
        .collect()
}
