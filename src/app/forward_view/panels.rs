//! The forward explorer's layout: the side panel of controls, the time row and the main area.

use super::*;

impl ForwardView {
    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Commands<Self> {
        let ctx = ui.ctx().clone();
        self.poll_loader();
        self.poll_export();
        if self.dataset.is_none() && self.loader.is_none() && !self.load_started {
            let label = self.source.label();
            self.start_load(&ctx, self.source.clone(), label);
        }
        if self.loader.is_some() || self.export.is_some() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        let mut action = None;
        if self.show_controls {
            egui::Panel::left("forward_side")
                .frame(super::super::panel_frame(ui))
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        action = self.side_ui(ui);
                    });
                });
        }
        if let Some(a) = action {
            self.apply(&ctx, a);
        }
        egui::CentralPanel::default()
            .frame(super::super::central_frame(ui))
            .show(ui, |ui| {
                self.time_row_ui(ui);
                self.advance_play(ui);
                self.update_scene(&ctx);
                let view_h = ui.available_height();
                if self.show_controls {
                    egui::ScrollArea::vertical()
                        .auto_shrink([false, false])
                        .show(ui, |ui| self.main_ui(ui, view_h));
                } else {
                    // The pictures may push the plots below the fold on a small projector.
                    egui::ScrollArea::vertical()
                        .auto_shrink([false, false])
                        .show(ui, |ui| self.presenter_main_ui(ui, view_h));
                }
            });
        self.out.take()
    }

    pub(super) fn apply(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::Load(source, label) => self.start_load(ctx, source, label),
            Action::OpenImage => {
                let dialog = crate::app::dialog::FileDialog::new().add_filter(
                    "Images",
                    &[
                        "png", "jpg", "jpeg", "bmp", "webp", "gif", "PNG", "JPG", "JPEG",
                    ],
                );
                let ctx = ctx.clone();
                self.out
                    .pick(dialog, PickMode::File, move |v: &mut Self, p| {
                        v.load_user(&ctx, p)
                    });
            }
            Action::OpenFolder => {
                let ctx = ctx.clone();
                let dialog = crate::app::dialog::FileDialog::new();
                self.out
                    .pick(dialog, PickMode::Folder, move |v: &mut Self, p| {
                        v.load_user(&ctx, p)
                    });
            }
            Action::OpenNpy => {
                let dialog =
                    crate::app::dialog::FileDialog::new().add_filter("NumPy array", &["npy"]);
                let ctx = ctx.clone();
                self.out
                    .pick(dialog, PickMode::File, move |v: &mut Self, p| {
                        let label = file_label(&p);
                        v.start_load(&ctx, Source::Npy(p), label);
                    });
            }
            Action::Add(kind) => {
                let steps = self.schedules.last().map_or(1000, |s| s.spec.steps);
                self.add_schedule(ScheduleSpec::new(kind, steps));
            }
            Action::Remove(i) => {
                if self.schedules.len() > 1 && i < self.schedules.len() {
                    self.schedules.remove(i);
                    self.sched_gen += 1;
                }
            }
            Action::Reseed => self.reseed(),
            Action::ExportStrip => self.export_png(self.strip_sheet(), "forward-strip.png"),
            Action::ExportComparison => {
                let name = format!("forward-t{}.png", self.t);
                self.export_png(self.comparison_sheet(), &name);
            }
            Action::ExportNpy => self.export_npy(),
        }
    }

    pub(super) fn load_user(&mut self, ctx: &egui::Context, path: PathBuf) {
        let label = file_label(&path);
        let source = Source::Images {
            paths: vec![path],
            size: self.image_size,
            color: self.image_color,
        };
        self.start_load(ctx, source, label);
    }

    pub(super) fn advance_play(&mut self, ui: &egui::Ui) {
        if !self.playing {
            self.play_carry = 0.0;
            return;
        }
        let dt = f64::from(ui.input(|i| i.stable_dt).clamp(0.0, 0.1));
        self.play_carry += f64::from(self.speed) * dt;
        let steps = self.play_carry.floor();
        self.play_carry -= steps;
        let t_max = self.t_max();
        self.t += steps as usize;
        if self.t > t_max {
            self.t = 0;
        }
        ui.ctx().request_repaint();
    }

    pub(super) fn time_row_ui(&mut self, ui: &mut egui::Ui) {
        let t_max = self.t_max();
        ui.horizontal(|ui| {
            let label = ui.label("Time step t");
            // Room for the value, Play, "speed" and its value at this text size (the
            // presenter's type is larger), so nothing is pushed off the right edge.
            let em = ui.text_style_height(&egui::TextStyle::Body);
            let width = (ui.available_width() - 18.5 * em).max(120.0);
            ui.spacing_mut().slider_width = width;
            ui.add(egui::Slider::new(&mut self.t, 0..=t_max))
                .labelled_by(label.id);
            let play = if self.playing { "Pause" } else { "Play" };
            if ui
                .button(play)
                .on_hover_text("Advance t by itself (loops at T)")
                .clicked()
            {
                self.playing = !self.playing;
            }
            let sl = ui.label("speed");
            ui.add(
                egui::DragValue::new(&mut self.speed)
                    .range(1.0..=5000.0)
                    .speed(5.0)
                    .suffix(" steps/s"),
            )
            .labelled_by(sl.id);
        });
    }

    pub(super) fn side_ui(&mut self, ui: &mut egui::Ui) -> Option<Action> {
        let mut action = None;
        ui.heading("Data");
        let loading = self.loader.as_ref().map(|l| l.label.clone());
        let shown = loading
            .clone()
            .unwrap_or_else(|| self.dataset_label.clone());
        ui.horizontal(|ui| {
            let l = ui.label("Data set");
            egui::ComboBox::from_id_salt("forward_data")
                .selected_text(&shown)
                .width(170.0)
                .show_ui(ui, |ui| {
                    for (label, source) in menu_sources() {
                        if ui.selectable_label(shown == label, label).clicked() {
                            action = Some(Action::Load(source, label.to_owned()));
                        }
                    }
                })
                .response
                .labelled_by(l.id);
        });
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("Open image…")
                .on_hover_text("One image file: centre-cropped and resized")
                .clicked()
            {
                action = Some(Action::OpenImage);
            }
            if ui
                .button("Open folder…")
                .on_hover_text("Every image directly inside a folder")
                .clicked()
            {
                action = Some(Action::OpenFolder);
            }
            if ui
                .button("Open .npy…")
                .on_hover_text("N×H×W or N×C×H×W, values in [0, 1] or [−1, 1], or uint8")
                .clicked()
            {
                action = Some(Action::OpenNpy);
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Your images: side");
            ui.add(egui::DragValue::new(&mut self.image_size).range(4..=256))
                .labelled_by(l.id);
            ui.radio_value(&mut self.image_color, ColorMode::Gray, "gray");
            ui.radio_value(&mut self.image_color, ColorMode::Rgb, "RGB");
        });
        if let Some(label) = &loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Loading {label}…"));
            });
        }
        if let Some(e) = &self.load_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let len = self.dataset.as_ref().map_or(1, |d| d.len());
        ui.horizontal(|ui| {
            let l = ui.label("Image");
            ui.add(
                egui::DragValue::new(&mut self.index)
                    .range(0..=len.saturating_sub(1))
                    .speed(0.2),
            )
            .labelled_by(l.id);
            ui.label(format!("of {len}"));
            let gl = ui.label("grid");
            egui::ComboBox::from_id_salt("forward_grid")
                .selected_text(format!("{0}×{0}", self.grid))
                .width(56.0)
                .show_ui(ui, |ui| {
                    for g in 1..=MAX_GRID {
                        ui.selectable_value(&mut self.grid, g, format!("{g}×{g}"));
                    }
                })
                .response
                .labelled_by(gl.id);
        });
        if let (Some(ds), Some(label)) = (
            self.dataset.as_ref(),
            self.dataset
                .as_ref()
                .and_then(|d| d.class_name(self.index.min(d.len().saturating_sub(1)))),
        ) {
            ui.label(
                RichText::new(format!(
                    "{}×{}×{}, class \"{label}\"",
                    ds.channels(),
                    ds.height(),
                    ds.width()
                ))
                .small(),
            );
        }

        ui.separator();
        ui.heading("Schedules");
        let can_remove = self.schedules.len() > 1;
        for i in 0..self.schedules.len() {
            ui.push_id(("forward_schedule", i), |ui| {
                if schedule_editor_ui(ui, &mut self.schedules[i], can_remove) {
                    action = Some(Action::Remove(i));
                }
            });
        }
        ui.horizontal(|ui| {
            if self.schedules.len() < MAX_SCHEDULES
                && let Some(kind) = super::super::schedule_lab::add_schedule_menu(ui)
            {
                action = Some(Action::Add(kind));
            }
            if ui
                .button("Use in the schedule lab")
                .on_hover_text("Plot β, ᾱ and SNR of these schedules in the schedule lab")
                .clicked()
            {
                let specs = self.schedules.iter().map(|s| s.spec.clone()).collect();
                self.out.app(AppCommand::SchedulesToLab(specs));
            }
        });

        ui.separator();
        ui.heading("Noise");
        ui.checkbox(&mut self.same_noise, "Same ε for every schedule")
            .on_hover_text("Lock: every schedule noises with one ε, so only the schedule differs");
        ui.horizontal(|ui| {
            if ui
                .button("Reseed")
                .on_hover_text("Draw a new ε (the next seed)")
                .clicked()
            {
                action = Some(Action::Reseed);
            }
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.seed).speed(0.2))
                .labelled_by(l.id);
        });
        ui.radio_value(
            &mut self.mode,
            NoiseMode::ClosedForm,
            "Closed form q(x_t | x₀)",
        );
        ui.radio_value(
            &mut self.mode,
            NoiseMode::Chain,
            "Step by step: x_t = √α_t·x_(t−1) + √β_t·z",
        );
        ui.label(
            RichText::new(
                "Both give x_t the same distribution N(√ᾱ_t·x₀, (1 − ᾱ_t)·I). The chain draws t \
                 fresh noises z, so its pixels differ from the closed form's single ε; the \
                 strips always use the closed form.",
            )
            .small(),
        );
        let gpu_ok = self.gpu.is_some();
        ui.add_enabled(
            gpu_ok,
            egui::Checkbox::new(&mut self.use_gpu, "Tiles on the GPU (wgpu compute)"),
        )
        .on_disabled_hover_text(self.gpu_note.clone());

        ui.separator();
        ui.heading("Strips");
        ui.horizontal(|ui| {
            let l = ui.label("columns");
            ui.add(egui::DragValue::new(&mut self.strip_columns).range(2..=16))
                .labelled_by(l.id);
            ui.radio_value(&mut self.strip_spacing, StripSpacing::EqualT, "equal t");
            ui.radio_value(
                &mut self.strip_spacing,
                StripSpacing::EqualLogSnr,
                "equal log-SNR",
            );
        });

        ui.separator();
        ui.heading("Export");
        ui.horizontal_wrapped(|ui| {
            if ui.button("Strip PNG…").clicked() {
                action = Some(Action::ExportStrip);
            }
            if ui
                .button("Comparison PNG…")
                .on_hover_text("x₀, ε, x_t and the noise part of each schedule at this t")
                .clicked()
            {
                action = Some(Action::ExportComparison);
            }
            if ui
                .button("x_t as .npy…")
                .on_hover_text("(schedules · grid cells) × C × H × W, float32")
                .clicked()
            {
                action = Some(Action::ExportNpy);
            }
        });
        if let Some((msg, is_err)) = &self.message {
            if *is_err {
                ui.colored_label(ui.visuals().error_fg_color, msg);
            } else {
                ui.label(msg);
            }
        }
        action
    }

    /// The presenter's layout (#17): the picture first. x₀ and each schedule's x_t side by side
    /// and centred, with whole captions, at least large enough to cover 42 % of the window
    /// together (as far as its width allows), larger when the plots still fit under them; the
    /// histogram and the schedule curves under them at readable sizes (on a 1280×720 projector
    /// they start just above the fold and scroll into view); no ε, noise parts or strips.
    pub(super) fn presenter_main_ui(&mut self, ui: &mut egui::Ui, view_h: f32) {
        let Some(x0) = self.scene.x0.clone() else {
            ui.centered_and_justified(|ui| match &self.load_error {
                Some(e) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                None => {
                    ui.spinner();
                }
            });
            return;
        };
        let full = ui.available_width();
        let sp = ui.spacing().item_spacing;
        let aspect = x0.height as f32 / x0.width as f32;
        let n = (1 + self.schedules.len()) as f32;
        let row_h = ui.text_style_height(&egui::TextStyle::Body);
        let captions_h = 2.0 * row_h + 3.0 * sp.y;
        let plots_h = (view_h * 0.26).clamp(110.0, 360.0);
        let tiles_h = view_h - plots_h - captions_h - row_h - 4.0 * sp.y;
        let window = ui.ctx().content_rect().size();
        let widest = (full - sp.x * (n - 1.0)) / n;
        let tallest = (view_h - captions_h - row_h - 2.0 * sp.y) / aspect;
        let least = (0.42 * window.x * window.y / (n * aspect)).sqrt();
        let tile = (tiles_h / aspect)
            .max(least)
            .min(widest)
            .min(tallest)
            .max(48.0);
        let row_w = n * tile + (n - 1.0) * sp.x;
        let hover = ui
            .horizontal_top(|ui| {
                ui.add_space(((full - row_w) / 2.0).max(0.0));
                self.tiles_ui(ui, &x0, tile, true)
            })
            .inner;
        self.hover = hover;
        ui.horizontal_top(|ui| {
            let hist_w = full * 0.34;
            ui.vertical(|ui| {
                ui.set_width(hist_w);
                self.histogram_ui(ui, plots_h);
            });
            let rest = (ui.available_width() - sp.x).max(120.0);
            ui.allocate_ui(egui::vec2(rest, plots_h), |ui| {
                ui.set_max_width(rest);
                self.curves_ui(ui, plots_h - row_h - 2.0 * sp.y);
            });
        });
    }

    pub(super) fn main_ui(&mut self, ui: &mut egui::Ui, view_h: f32) {
        let Some(x0) = self.scene.x0.clone() else {
            ui.centered_and_justified(|ui| {
                if let Some(e) = &self.load_error {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                } else {
                    ui.spinner();
                }
            });
            return;
        };
        // Sizes: fit the tiles, the readout, the curves and the strips into the window (four
        // schedules may scroll a little).
        let full = ui.available_width();
        let spacing = ui.spacing().item_spacing;
        let n_s = self.schedules.len();
        let aspect = x0.height as f32 / x0.width as f32;
        let cols = self.strip_columns.max(2) as f32;
        let rows = self.scene.strips.len().clamp(1, MAX_SCHEDULES) as f32;
        let readout_h = 15.0 * (1 + n_s) as f32;
        let curves_h = (view_h * 0.19).clamp(120.0, 220.0);
        let fixed = curves_h + 20.0 + readout_h + 40.0 + 20.0 + 6.0 * spacing.y;
        let strip_row = |cell: f32| cell * aspect + 18.0 + spacing.y;
        let cell_w =
            ((full - STRIP_CAPTION_W - spacing.x * (cols + 1.0)) / cols).clamp(24.0, 128.0);
        // The tiles get what is left after small strips (64 points for two rows, 40 for more);
        // the strips then take what the tiles leave.
        let reserved = rows.min(2.0) * strip_row(cell_w.min(64.0))
            + (rows - 2.0).max(0.0) * strip_row(cell_w.min(40.0));
        let tiles_h = view_h - fixed - reserved;
        let tiles_w = (full * 0.56).max(260.0);
        let tile_px = ((tiles_w - spacing.x * n_s as f32) / (n_s + 1) as f32)
            .min(tiles_h / (2.0 * aspect))
            .clamp(48.0, 220.0);
        let strips_h = view_h - fixed - 2.0 * tile_px * aspect;
        let cell = ((strips_h / rows - 18.0 - spacing.y) / aspect).clamp(32.0, cell_w.max(32.0));
        let mut hover = None;
        ui.horizontal_top(|ui| {
            let r = ui.vertical(|ui| {
                ui.horizontal_top(|ui| {
                    hover = self.tiles_ui(ui, &x0, tile_px, false);
                });
                ui.vertical(|ui| {
                    ui.set_min_height(readout_h);
                    self.readout_ui(ui, &x0);
                });
            });
            let h = r.response.rect.height();
            self.histogram_ui(ui, h.max(160.0));
        });
        self.hover = hover;
        self.curves_ui(ui, curves_h);
        self.strips_ui(ui, &x0, cell);
    }
}

/// Draws one schedule's compact editor; returns true if "Remove" was clicked.
pub(super) fn schedule_editor_ui(
    ui: &mut egui::Ui,
    s: &mut ForwardSchedule,
    can_remove: bool,
) -> bool {
    let mut remove = false;
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), Sense::hover());
        ui.painter().rect_filled(rect, 2.0, s.color);
        let kl = ui.label("kind");
        egui::ComboBox::from_id_salt("kind")
            .selected_text(s.spec.kind.name())
            .width(100.0)
            .show_ui(ui, |ui| {
                for kind in ScheduleKind::ALL {
                    ui.selectable_value(&mut s.spec.kind, kind, kind.name());
                }
            })
            .response
            .labelled_by(kl.id);
        let tl = ui.label("T");
        ui.add(
            egui::DragValue::new(&mut s.spec.steps)
                .range(1..=MAX_STEPS)
                .speed(5.0),
        )
        .labelled_by(tl.id);
        if can_remove && ui.button("Remove").clicked() {
            remove = true;
        }
    });
    let spec = &mut s.spec;
    let kind = spec.kind;
    ui.horizontal_wrapped(|ui| {
        let drag = |ui: &mut egui::Ui, text: &str, v: &mut f64, speed: f64| {
            let l = ui.label(text);
            ui.add(egui::DragValue::new(v).speed(speed).max_decimals(6))
                .labelled_by(l.id);
        };
        if kind.uses(Param::BetaStart) {
            drag(ui, "β₁", &mut spec.beta_start, 1e-5);
            drag(ui, "β_T", &mut spec.beta_end, 1e-4);
        }
        if kind.uses(Param::CosineS) {
            drag(ui, "s", &mut spec.cosine_s, 1e-4);
            drag(ui, "max β", &mut spec.max_beta, 1e-3);
        }
        if kind.uses(Param::Power) {
            drag(ui, "p", &mut spec.power, 0.05);
        }
        if kind.uses(Param::Waves) {
            let l = ui.label("k");
            ui.add(egui::DragValue::new(&mut spec.waves).range(1..=1000))
                .labelled_by(l.id);
        }
        if kind.uses(Param::Expr) {
            let l = ui.label("β(u) =");
            ui.add(egui::TextEdit::singleline(&mut spec.expr).desired_width(170.0))
                .labelled_by(l.id);
        }
    });
    s.refresh();
    if let Some(e) = s.error() {
        ui.colored_label(ui.visuals().error_fg_color, e.to_string());
    }
    remove
}
