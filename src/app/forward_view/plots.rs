//! The forward explorer's pictures and plots: the tiles, the pixel readout, the histogram,
//! the schedule curves and the strips.

use super::*;
use crate::app::widgets::PlotMenu;

impl ForwardView {
    /// The tile grid; returns the hovered pixel.
    /// The tiles: x₀ and x_t of each schedule, `tile_px` wide. `big` is the presenter's form:
    /// no ε or noise-part tiles, and captions at full length (wrapped, never cut off).
    pub(super) fn tiles_ui(
        &mut self,
        ui: &mut egui::Ui,
        x0: &Planar,
        tile_px: f32,
        big: bool,
    ) -> Option<(usize, usize)> {
        let aspect = x0.height as f32 / x0.width as f32;
        let size = egui::vec2(tile_px, tile_px * aspect);
        let mut hover = None;
        let prev = self.hover.filter(|&(x, y)| x < x0.width && y < x0.height);
        let mut image = |ui: &mut egui::Ui, key: (TileKind, usize), alt: String| {
            let slot = self.scene.tiles.get(&key).and_then(Option::as_ref);
            let Some(slot) = slot else {
                ui.allocate_exact_size(size, Sense::hover());
                return;
            };
            let resp = ui.add(
                egui::Image::from_texture((slot.texture.id(), size))
                    .sense(Sense::click())
                    .alt_text(alt.clone()),
            );
            crate::app::widgets::picture_menu(&resp, slot.texture.id(), &alt);
            if let Some(pos) = resp.hover_pos() {
                let rel = (pos - resp.rect.min) / resp.rect.size();
                let px = ((rel.x * slot.width as f32) as usize).min(slot.width - 1);
                let py = ((rel.y * slot.height as f32) as usize).min(slot.height - 1);
                hover = Some((px, py));
            }
            if let Some((px, py)) = prev {
                let cell = resp.rect.size() / egui::vec2(slot.width as f32, slot.height as f32);
                let min = resp.rect.min + egui::vec2(px as f32, py as f32) * cell;
                ui.painter().rect_stroke(
                    egui::Rect::from_min_size(min, cell).expand(1.0),
                    0.0,
                    egui::Stroke::new(1.5, Color32::from_rgb(255, 200, 0)),
                    egui::StrokeKind::Outside,
                );
            }
        };
        let small = |s: String| {
            if big {
                RichText::new(s)
            } else {
                RichText::new(s).small()
            }
        };
        // Captions: cut to the tile in the compact layout, wrapped (whole) in the presenter.
        let caption = |ui: &mut egui::Ui, text: RichText| {
            let label = egui::Label::new(text);
            ui.add(if big { label.wrap() } else { label.truncate() });
        };
        ui.vertical(|ui| {
            ui.set_width(tile_px);
            ui.label(RichText::new("data x₀").strong());
            ui.label(small(format!("image #{}", self.index)));
            image(ui, (TileKind::X0, 0), "x₀".into());
            if big {
                return;
            }
            ui.label(small(if self.same_noise {
                "ε (shared)".into()
            } else {
                "ε of schedule 1".into()
            }));
            image(ui, (TileKind::Eps, 0), "ε".into());
        });
        for (i, s) in self.schedules.iter().enumerate() {
            ui.vertical(|ui| {
                ui.set_width(tile_px);
                caption(
                    ui,
                    RichText::new(s.spec.kind.name()).strong().color(s.color),
                );
                let Some(table) = s.table() else {
                    ui.colored_label(ui.visuals().error_fg_color, "invalid");
                    return;
                };
                let t = self.scene.shown_t.get(i).copied().unwrap_or(0);
                let ab = table.alpha_bar_at(t);
                caption(ui, small(format!("t = {t} · ᾱ = {ab:.3}")));
                image(ui, (TileKind::Xt, i), format!("x_t, schedule {}", i + 1));
                if big {
                    return;
                }
                ui.label(small("noise part".into()));
                image(
                    ui,
                    (TileKind::Noise, i),
                    format!("noise part, schedule {}", i + 1),
                );
            });
        }
        hover
    }

    pub(super) fn readout_ui(&self, ui: &mut egui::Ui, x0: &Planar) {
        let mono = |s: String| RichText::new(s).monospace().small();
        let Some((px, py)) = self.hover.filter(|&(x, y)| x < x0.width && y < x0.height) else {
            ui.label(
                RichText::new(
                    "Hover a pixel to read x₀, x_t, √ᾱ·x₀ and the noise part x_t − √ᾱ·x₀",
                )
                .small(),
            );
            return;
        };
        let fmt = |vals: &[f32]| -> String {
            match vals {
                [v] => format!("{v:+.3}"),
                _ => format!(
                    "({})",
                    vals.iter()
                        .map(|v| format!("{v:+.2}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        };
        let chans: Vec<usize> = (0..x0.channels).map(|c| x0.index(px, py, c)).collect();
        let x0v: Vec<f32> = chans.iter().map(|&i| x0.data[i]).collect();
        ui.label(mono(format!("pixel ({px}, {py}): x₀ = {}", fmt(&x0v))));
        for (i, s) in self.schedules.iter().enumerate() {
            let (Some(table), Some(xt)) = (s.table(), self.xt(i)) else {
                continue;
            };
            let t = self.scene.shown_t.get(i).copied().unwrap_or(0);
            let parts: Vec<_> = chans
                .iter()
                .filter_map(|&k| pixel_parts(table, t, &x0.data, xt, k))
                .collect();
            let pick = |f: &dyn Fn(&crate::explore::noising::PixelParts) -> f32| -> Vec<f32> {
                parts.iter().map(f).collect()
            };
            ui.label(
                mono(format!(
                    "{}: x_t = {}, √ᾱ·x₀ = {}, noise = {}",
                    s.spec.kind.name(),
                    fmt(&pick(&|p| p.xt)),
                    fmt(&pick(&|p| p.signal)),
                    fmt(&pick(&|p| p.noise)),
                ))
                .color(s.color),
            );
        }
    }

    pub(super) fn histogram_ui(&self, ui: &mut egui::Ui, height: f32) {
        let width = ui.available_width().max(160.0);
        ui.vertical(|ui| {
            ui.label(RichText::new("Pixel values of x_t against N(0, 1)").strong());
            let mut y_max: f64 = 0.45;
            for h in self.scene.hist_xt.iter().flatten() {
                y_max = y_max.max(h.density.iter().copied().fold(0.0, f64::max));
            }
            let y_max = (y_max * 1.1).min(2.5);
            crate::app::plot("forward_histogram")
                .width(width)
                .height(height - 24.0)
                .legend(Legend::default())
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .allow_double_click_reset(false)
                .x_axis_label("pixel value")
                .show_menu("forward_histogram", ui, |plot_ui| {
                    plot_ui.set_plot_bounds_x(-HIST_RANGE..=HIST_RANGE);
                    plot_ui.set_plot_bounds_y(0.0..=y_max);
                    if let Some(h) = &self.scene.hist_x0 {
                        plot_ui.line(
                            crate::app::widgets::line(
                                "data x₀",
                                PlotPoints::from(h.polygon_points()),
                            )
                            .color(Color32::from_gray(150))
                            .fill(0.0)
                            .fill_alpha(0.25),
                        );
                    }
                    plot_ui.line(
                        crate::app::widgets::line(
                            "N(0, 1)",
                            PlotPoints::from(normal_curve(-HIST_RANGE, HIST_RANGE, 161)),
                        )
                        .color(ui_text_color(plot_ui.ctx()))
                        .style(LineStyle::dashed_loose())
                        .width(1.5),
                    );
                    for (s, h) in self.schedules.iter().zip(&self.scene.hist_xt) {
                        if let Some(h) = h {
                            plot_ui.line(
                                crate::app::widgets::line(
                                    format!("x_t {}", s.spec.kind.name()),
                                    PlotPoints::from(h.polygon_points()),
                                )
                                .color(s.color)
                                .width(1.5),
                            );
                        }
                    }
                });
        });
    }

    pub(super) fn curves_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let spacing = ui.spacing().item_spacing.x;
        let w = ((ui.available_width() - 2.0 * spacing) / 3.0).max(120.0);
        let t_now = self.t as f64;
        let t_max = self.t_max() as f64;
        let mut clicked_t = None;
        ui.horizontal_top(|ui| {
            for (id, title) in [
                ("forward_alpha_bar", "ᾱ_t"),
                ("forward_rates", "√ᾱ_t (solid) and √(1 − ᾱ_t) (dashed)"),
                ("forward_snr", "SNR_t (log axis)"),
            ] {
                ui.vertical(|ui| {
                    ui.set_width(w);
                    ui.label(RichText::new(title).small().strong());
                    let mut plot = crate::app::plot(id)
                        .width(w)
                        .height(h)
                        .allow_drag(false)
                        .allow_zoom(false)
                        .allow_scroll(false)
                        .allow_boxed_zoom(false)
                        .allow_double_click_reset(false)
                        .x_axis_label("t")
                        .x_grid_spacer(nice_spacer(w, 70.0, false));
                    if id == "forward_snr" {
                        plot = plot
                            .y_grid_spacer(nice_spacer(h, 24.0, true))
                            .y_axis_formatter(|mark, _| log10_tick(mark.value));
                    }
                    plot.show_menu(id, ui, |plot_ui| {
                        plot_ui.set_plot_bounds_x(0.0..=t_max);
                        if id != "forward_snr" {
                            plot_ui.set_plot_bounds_y(-0.03..=1.03);
                        }
                        for s in &self.schedules {
                            let Some(c) = s.curves() else { continue };
                            let name = s.spec.kind.name();
                            match id {
                                "forward_alpha_bar" => plot_ui.line(
                                    crate::app::widgets::line(
                                        name,
                                        PlotPoints::Borrowed(&c.alpha_bar),
                                    )
                                    .color(s.color)
                                    .width(1.5),
                                ),
                                "forward_rates" => {
                                    plot_ui.line(
                                        crate::app::widgets::line(
                                            name,
                                            PlotPoints::Borrowed(&c.signal),
                                        )
                                        .color(s.color)
                                        .width(1.5),
                                    );
                                    plot_ui.line(
                                        crate::app::widgets::line(
                                            name,
                                            PlotPoints::Borrowed(&c.noise),
                                        )
                                        .color(s.color)
                                        .style(LineStyle::dashed_loose())
                                        .width(1.5),
                                    );
                                }
                                _ => plot_ui.line(
                                    crate::app::widgets::line(
                                        name,
                                        PlotPoints::Borrowed(&c.log10_snr),
                                    )
                                    .color(s.color)
                                    .width(1.5),
                                ),
                            }
                        }
                        plot_ui.vline(
                            VLine::new("t", t_now)
                                .color(ui_text_color(plot_ui.ctx()))
                                .width(1.0),
                        );
                        let r = plot_ui.response();
                        if (r.clicked() || r.dragged())
                            && let Some(p) = plot_ui.pointer_coordinate()
                        {
                            clicked_t = Some(p.x.round().clamp(0.0, t_max) as usize);
                        }
                    });
                });
            }
        });
        if let Some(t) = clicked_t {
            self.t = t;
        }
    }

    pub(super) fn strips_ui(&self, ui: &mut egui::Ui, x0: &Planar, cell: f32) {
        let heading = match self.strip_spacing {
            StripSpacing::EqualT => "Strips: x_t at equal steps of t".to_owned(),
            StripSpacing::EqualLogSnr => {
                let levels: Vec<String> = self
                    .scene
                    .strip_levels
                    .iter()
                    .map(|l| format!("{l:.1}"))
                    .collect();
                format!(
                    "Strips: x_t at equal steps of log-SNR (shared by the rows: {})",
                    levels.join(", ")
                )
            }
        };
        ui.label(RichText::new(heading).strong());
        let caption_w = STRIP_CAPTION_W;
        let aspect = x0.height as f32 / x0.width as f32;
        for row in &self.scene.strips {
            let Some(s) = self.schedules.get(row.schedule) else {
                continue;
            };
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(caption_w);
                    ui.add(
                        egui::Label::new(RichText::new(s.spec.kind.name()).color(s.color).strong())
                            .truncate(),
                    );
                    ui.add(
                        egui::Label::new(RichText::new(format!("T = {}", s.spec.steps)).small())
                            .truncate(),
                    );
                });
                for (k, (slot, t)) in row.cells.iter().zip(&row.ts).enumerate() {
                    let Some(slot) = slot else { continue };
                    ui.vertical(|ui| {
                        ui.set_width(cell);
                        let alt = format!("strip {} column {k} t {t}", row.schedule + 1);
                        let resp = ui.add(
                            egui::Image::from_texture((
                                slot.texture.id(),
                                egui::vec2(cell, cell * aspect),
                            ))
                            .sense(Sense::click())
                            .alt_text(alt.clone()),
                        );
                        crate::app::widgets::picture_menu(&resp, slot.texture.id(), &alt);
                        ui.label(RichText::new(format!("t={t}")).small());
                    });
                }
            });
        }
    }
}
