//! The 2-D lab's plots: forward, reverse (with trails), density, learned and true score
//! fields, the loss and energy-distance curves, and the three clouds of Fig. 3.

use super::*;
use crate::app::widgets::PlotMenu;
use crate::toy::Drawn;
use crate::toy::fields::{Grid, density_grid, score_at};
use egui::{Color32, ColorImage, TextureOptions};
use egui_plot::{Arrows, Legend, Plot, PlotImage, PlotPoints, Points};

impl ToyView {
    pub(super) fn lab_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.update_density(&ctx);
        self.update_scores();
        let avail = ui.available_size();
        if !self.show_controls {
            // The presenter (#17): the clouds first, in one row filling the window: the
            // forward cloud, the reverse particles with their trails, and the true score field
            // the lesson talks about; the density, the learned field and the curves are left
            // to the normal layout.
            let h = (avail.y - 3.0 * ui.text_style_height(&egui::TextStyle::Body)).max(120.0);
            crate::app::columns(ui, 3, |cols| {
                self.forward_plot_ui(&mut cols[0], h);
                self.reverse_plot_ui(&mut cols[1], h);
                self.score_plot_ui(&mut cols[2], h, false);
            });
            return;
        }
        let cell_h = (avail.y / 2.0 - 28.0).max(120.0);
        crate::app::columns(ui, 3, |cols| {
            self.forward_plot_ui(&mut cols[0], cell_h);
            self.reverse_plot_ui(&mut cols[1], cell_h);
            self.density_plot_ui(&mut cols[2], cell_h);
        });
        crate::app::columns(ui, 3, |cols| {
            self.score_plot_ui(&mut cols[0], cell_h, true);
            self.score_plot_ui(&mut cols[1], cell_h, false);
            self.curves_ui(&mut cols[2], cell_h);
        });
    }

    fn square_plot(id: &str, height: f32) -> Plot<'_> {
        crate::app::plot(id)
            .height(height)
            .data_aspect(1.0)
            .default_x_bounds(-VIEW, VIEW)
            .default_y_bounds(-VIEW, VIEW)
            .show_axes([true, true])
    }

    fn data_points(&self) -> Points<'_> {
        crate::app::widgets::points("data", pairs(&self.data))
            .color(Color32::from_gray(190))
            .radius(1.2)
            .allow_hover(false)
    }

    fn forward_plot_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let drawing = self.drawing && matches!(self.dataset, ToyDataset::Drawn(_));
        ui.label(if drawing {
            "Draw: drag to add points".to_owned()
        } else {
            format!("Forward: x_t at t = {}", self.t)
        });
        let cloud = if drawing {
            self.data.clone()
        } else {
            self.forward_cloud()
        };
        let mut added = Vec::new();
        Self::square_plot("toy_forward", h)
            .allow_drag(!drawing)
            .show_menu("toy_forward", ui, |p| {
                p.points(
                    crate::app::widgets::points("x_t", pairs(&cloud))
                        .color(Color32::from_rgb(0, 114, 178))
                        .radius(1.5),
                );
                if drawing {
                    let drawn: Vec<[f64; 2]> = self.drawn.clone();
                    p.points(
                        crate::app::widgets::points("drawn", PlotPoints::from(drawn))
                            .color(Color32::from_rgb(213, 94, 0))
                            .radius(2.5),
                    );
                    let r = p.response();
                    if (r.dragged() || r.clicked())
                        && let Some(c) = p.pointer_coordinate()
                    {
                        added.push([c.x, c.y]);
                    }
                }
            });
        if !added.is_empty() {
            for q in added {
                let far = self
                    .drawn
                    .last()
                    .is_none_or(|l| (l[0] - q[0]).hypot(l[1] - q[1]) > 0.04);
                if far {
                    self.drawn.push(q);
                }
            }
            if let Ok(d) = Drawn::new(self.drawn.clone(), Drawn::DEFAULT_JITTER) {
                self.dataset = ToyDataset::Drawn(d);
                self.dataset_changed();
                self.drawing = true;
            }
        }
    }

    fn reverse_plot_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let label = match self.frames.get(self.frame) {
            Some(f) => match self.sample_energy {
                Some(ed) if self.frame + 1 == self.frames.len() => format!(
                    "Reverse ({}): {}, D² to data {ed:.4}",
                    self.frames_label, f.label
                ),
                _ => format!("Reverse ({}): {}", self.frames_label, f.label),
            },
            None => "Reverse: press Sample".to_owned(),
        };
        // Wrapped, never truncated: a cut title hid the D² value in the middle (#20 item 7).
        ui.add(egui::Label::new(label).wrap());
        Self::square_plot("toy_reverse", h).show_menu("toy_reverse", ui, |p| {
            p.points(self.data_points());
            let from = self.frame.saturating_sub(TRAIL_FRAMES);
            if self.frame < self.frames.len() {
                for i in 0..TRAILS {
                    let path: Vec<[f64; 2]> = self.frames[from..=self.frame]
                        .iter()
                        .filter_map(|f| f.points.get(2 * i..2 * i + 2).map(|q| [q[0], q[1]]))
                        .collect();
                    if path.len() > 1 {
                        p.line(
                            crate::app::widgets::line("trails", PlotPoints::from(path))
                                .color(Color32::from_rgba_unmultiplied(213, 94, 0, 140))
                                .width(1.0)
                                .allow_hover(false),
                        );
                    }
                }
                p.points(
                    crate::app::widgets::points(
                        "particles",
                        pairs(&self.frames[self.frame].points),
                    )
                    .color(Color32::from_rgb(0, 114, 178))
                    .radius(1.5),
                );
            }
        });
    }

    fn update_density(&mut self, ctx: &egui::Context) {
        let key = (self.dataset_rev, self.t);
        if self.density.as_ref().is_some_and(|(k, _)| *k == key) {
            return;
        }
        // Empirical densities cost O(grid × points); a subset of the shown points is plenty.
        let subset: Vec<f64> = self.data.iter().copied().take(2 * 250).collect();
        let grid = Grid { half: VIEW, n: 64 };
        let values = density_grid(&self.dataset, &subset, &self.table, self.t, &grid);
        let image = density_image(&values, grid.n);
        let tex =
            crate::app::widgets::load_picture(ctx, "toy_density", image, TextureOptions::LINEAR);
        self.density = Some((key, tex));
        self.density_pending = None;
    }

    fn density_plot_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let exact = if self.dataset.mixture().is_some() {
            "exact"
        } else {
            "from the data points"
        };
        ui.label(format!("Density of x_t at t = {} ({exact})", self.t));
        Self::square_plot("toy_density", h).show_menu("toy_density", ui, |p| {
            if let Some((_, tex)) = &self.density {
                p.image(PlotImage::new(
                    "p_t",
                    tex.id(),
                    PlotPoint::new(0.0, 0.0),
                    [(2.0 * VIEW) as f32, (2.0 * VIEW) as f32],
                ));
            }
        });
    }

    fn update_scores(&mut self) {
        let t = self.t.max(1);
        let key = (
            self.dataset_rev,
            t,
            self.learned_step + usize::from(self.learned.is_some()),
        );
        if self.score_cache.as_ref().is_some_and(|(k, _)| *k == key) {
            return;
        }
        let grid = Grid { half: 2.0, n: 17 };
        let pts = grid.points();
        let truth = self
            .true_model()
            .map(|mut m| score_at(&mut m, &self.table, t, &pts));
        let learned = self
            .learned
            .clone()
            .map(|mut m| score_at(&mut m, &self.table, t, &pts));
        // One scale for both fields: the 90th percentile length maps to 0.9 of a grid cell.
        let reference = truth.as_ref().or(learned.as_ref());
        let scale = reference.map_or(1.0, |s| {
            let mut norms: Vec<f64> = s.chunks_exact(2).map(|v| v[0].hypot(v[1])).collect();
            norms.sort_by(f64::total_cmp);
            let p90 = norms.get(norms.len() * 9 / 10).copied().unwrap_or(1.0);
            0.9 * (2.0 * grid.half / grid.n as f64) / p90.max(1e-9)
        });
        let cell = 2.0 * grid.half / grid.n as f64;
        let tips = |s: &Vec<f64>| -> Vec<[f64; 2]> {
            pts.chunks_exact(2)
                .zip(s.chunks_exact(2))
                .map(|(p, v)| {
                    let (mut dx, mut dy) = (scale * v[0], scale * v[1]);
                    let len = dx.hypot(dy);
                    if len > 1.2 * cell {
                        dx *= 1.2 * cell / len;
                        dy *= 1.2 * cell / len;
                    }
                    [p[0] + dx, p[1] + dy]
                })
                .collect()
        };
        let arrows = ScoreArrows {
            origins: pts.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
            learned: learned.as_ref().map(tips),
            truth: truth.as_ref().map(tips),
        };
        self.score_cache = Some((key, arrows));
    }

    fn score_plot_ui(&mut self, ui: &mut egui::Ui, h: f32, learned: bool) {
        let t = self.t.max(1);
        let arrows = self
            .score_cache
            .as_ref()
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let tips = if learned {
            arrows.learned
        } else {
            arrows.truth
        };
        let title = if learned {
            let stale = if self.learned_stale {
                ", older data"
            } else {
                ""
            };
            match &self.learned {
                Some(_) => format!(
                    "Learned score −ε̂/√(1−ᾱ_t), t = {t} (step {}{stale})",
                    self.learned_step
                ),
                None => "Learned score: train the MLP".to_owned(),
            }
        } else if self.dataset.mixture().is_some() {
            format!("True score of the noised mixture, t = {t}")
        } else {
            "True score: closed form only for mixtures".to_owned()
        };
        // Cut to the column in the dense layout; whole (wrapped) in the presenter.
        let label = egui::Label::new(title);
        ui.add(if self.show_controls {
            label.truncate()
        } else {
            label.wrap()
        });
        let id = if learned {
            "toy_score_learned"
        } else {
            "toy_score_true"
        };
        let colour = if learned {
            Color32::from_rgb(0, 158, 115)
        } else {
            Color32::from_rgb(204, 121, 167)
        };
        Self::square_plot(id, h).show_menu(id, ui, |p| {
            p.points(self.data_points());
            if let Some(tips) = tips {
                p.arrows(
                    Arrows::new(
                        if learned { "learned" } else { "true" },
                        PlotPoints::from(arrows.origins),
                        PlotPoints::from(tips),
                    )
                    .color(colour)
                    .tip_length(4.0),
                );
            }
        });
    }

    fn curves_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let half = (h - 24.0) / 2.0;
        ui.label("Training loss and energy distance");
        let empty = self.losses.is_empty();
        let hint = |p: &mut egui_plot::PlotUi<'_>| {
            p.text(egui_plot::Text::new(
                "",
                PlotPoint::new(0.5, 0.5),
                "Train the MLP to fill this plot",
            ));
        };
        crate::app::plot("toy_loss")
            .height(half)
            .legend(Legend::default())
            .y_axis_label("loss")
            .show_menu("toy_loss", ui, |p| {
                if empty {
                    hint(p);
                }
                p.line(
                    crate::app::widgets::line("loss", PlotPoints::Borrowed(&self.losses))
                        .color(Color32::from_rgb(0, 114, 178)),
                );
            });
        // The untrained model's D² is ~100× the trained one's, so the axis is logarithmic.
        let log_energy: Vec<[f64; 2]> = self
            .energy
            .iter()
            .map(|p| [p.x, p.y.abs().max(1e-5).log10()])
            .collect();
        crate::app::plot("toy_energy")
            .height(half)
            .legend(Legend::default())
            .x_axis_label("step")
            .y_axis_label("log₁₀ D²")
            .show_menu("toy_energy", ui, |p| {
                if empty {
                    hint(p);
                }
                p.line(
                    crate::app::widgets::line(
                        "energy distance",
                        PlotPoints::from(log_energy.clone()),
                    )
                    .color(Color32::from_rgb(213, 94, 0)),
                );
                p.points(
                    crate::app::widgets::points("energy distance", PlotPoints::from(log_energy))
                        .color(Color32::from_rgb(213, 94, 0))
                        .radius(2.5),
                );
            });
    }

    pub(super) fn fig3_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.horizontal(|ui| {
            ui.label(
                "Seed 001 Fig. 3: plain Langevin keeps the split of its uniform start; \
                 annealed Langevin (σ from 1 down to 0.01) recovers the weights.",
            );
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.fig3_job.is_none(), egui::Button::new("Run Fig. 3"))
                .clicked()
            {
                self.start_fig3(ctx);
            }
            if self.fig3_job.is_some() {
                ui.spinner();
            }
            if !self.fig3_label.is_empty() {
                ui.label(format!("({})", self.fig3_label));
            }
        });
        // Square plots: as tall as a third of the width allows.
        let h = (ui.available_height() - 30.0)
            .min(ui.available_width() / 3.0 - 16.0)
            .max(150.0);
        let titles = ["Data", "Langevin", "Annealed Langevin"];
        crate::app::columns(ui, 3, |cols| {
            for (k, col) in cols.iter_mut().enumerate() {
                let weights = self.fig3_weights(k);
                col.label(format!("{}{weights}", titles[k]));
                let points = match k {
                    0 => Some(self.data.clone()),
                    _ => self.fig3.as_ref().map(|f| f[k - 1].clone()),
                };
                Self::square_plot(&format!("toy_fig3_{k}"), h).show_menu(
                    &format!("toy_fig3_{k}"),
                    col,
                    |p| {
                        if let Some(points) = points {
                            p.points(
                                crate::app::widgets::points(titles[k], pairs(&points))
                                    .color(Color32::from_rgb(0, 114, 178))
                                    .radius(1.5),
                            );
                        }
                    },
                );
            }
        });
    }

    /// " · weights 0.20 / 0.80" for mixtures, from the nearest-component split.
    fn fig3_weights(&self, k: usize) -> String {
        let Some(m) = self.dataset.mixture() else {
            return String::new();
        };
        let points = match k {
            0 => Some(&self.data),
            _ => self.fig3.as_ref().map(|f| &f[k - 1]),
        };
        let Some(points) = points else {
            return String::new();
        };
        match crate::diffusion::component_summary(points, m) {
            Ok(stats) => {
                let w: Vec<String> = stats.iter().map(|s| format!("{:.2}", s.weight)).collect();
                format!(" · weights {}", w.join(" / "))
            }
            Err(_) => String::new(),
        }
    }
}

fn pairs(flat: &[f64]) -> PlotPoints<'static> {
    PlotPoints::from(
        flat.chunks_exact(2)
            .map(|p| [p[0], p[1]])
            .collect::<Vec<[f64; 2]>>(),
    )
}

/// A dark-to-bright colour ramp (black, purple, orange, yellow) of √(p/max p), row 0 at the top.
fn density_image(values: &[f64], n: usize) -> ColorImage {
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-300);
    let stops: [[f64; 3]; 5] = [
        [10.0, 8.0, 30.0],
        [80.0, 20.0, 110.0],
        [180.0, 50.0, 100.0],
        [245.0, 130.0, 40.0],
        [250.0, 240.0, 150.0],
    ];
    let mut pixels = Vec::with_capacity(n * n);
    for row in (0..n).rev() {
        for col in 0..n {
            let v = (values[row * n + col] / max).clamp(0.0, 1.0).sqrt();
            let x = v * (stops.len() - 1) as f64;
            let i = (x.floor() as usize).min(stops.len() - 2);
            let f = x - i as f64;
            let c = |k: usize| (stops[i][k] + f * (stops[i + 1][k] - stops[i][k])) as u8;
            pixels.push(Color32::from_rgb(c(0), c(1), c(2)));
        }
    }
    ColorImage {
        size: [n, n],
        pixels,
        source_size: egui::vec2(n as f32, n as f32),
    }
}
