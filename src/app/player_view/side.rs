//! The side panel: its sections, the equation of the step on screen, and the pixel and
//! variance trajectories.

use super::*;
use crate::app::widgets::PlotMenu;
use crate::diffusion::{Step, Update};
use egui_plot::{Legend, VLine};

impl PlayerView {
    pub(super) fn side_ui(&mut self, ui: &mut egui::Ui) {
        egui::CollapsingHeader::new(RichText::new("Equation").strong())
            .default_open(true)
            .show(ui, |ui| self.equation_ui(ui));
        // Open for a model (or classifier) that can be asked for a class; its own open state.
        let can_ask = self.model_classes() > 0;
        egui::CollapsingHeader::new(RichText::new("Guidance").strong())
            .id_salt(("player_guidance", can_ask))
            .default_open(can_ask)
            .show(ui, |ui| self.guidance_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Quality").strong())
            .default_open(true)
            .show(ui, |ui| self.score_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Trajectories").strong())
            .default_open(true)
            .show(ui, |ui| self.trajectories_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Branch").strong())
            .default_open(false)
            .show(ui, |ui| self.branch_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Noise, then denoise").strong())
            .default_open(false)
            .show(ui, |ui| self.ntd_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Export").strong())
            .default_open(false)
            .show(ui, |ui| self.export_ui(ui));
    }

    pub(super) fn equation_ui(&mut self, ui: &mut egui::Ui) {
        let step = {
            let rec = self.a.lock();
            rec.frames.get(self.frame).map(|f| (f.t, f.step))
        };
        let beta = |t: usize| {
            self.model()
                .and_then(|m| m.table.beta.get(t.wrapping_sub(1)).copied())
                .unwrap_or(f64::NAN)
        };
        match step {
            Some((_, Some(step))) => {
                for line in equation_lines(&step, beta(step.t)) {
                    ui.add(egui::Label::new(RichText::new(line).monospace()).extend());
                    ui.add_space(ui.spacing().item_spacing.x * 3.0);
                }
            }
            Some((_, None)) => {
                ui.label(RichText::new("t = 0: the chain's output x₀.").monospace());
            }
            None => {
                ui.label("No chain yet.");
            }
        }
    }

    /// The equation for the presenter's column: each term of [`equation_lines`] (they are
    /// separated by three spaces) on its own line, wrapping only at spaces.
    pub(super) fn equation_column_ui(&mut self, ui: &mut egui::Ui) {
        let step = {
            let rec = self.a.lock();
            rec.frames.get(self.frame).map(|f| f.step)
        };
        let Some(Some(step)) = step else {
            return self.equation_ui(ui);
        };
        let beta = self
            .model()
            .and_then(|m| m.table.beta.get(step.t.wrapping_sub(1)).copied())
            .unwrap_or(f64::NAN);
        for line in equation_lines(&step, beta) {
            for term in line.split("   ").map(str::trim).filter(|t| !t.is_empty()) {
                ui.add(egui::Label::new(term).wrap());
            }
            ui.add_space(ui.spacing().item_spacing.y * 2.0);
        }
    }

    fn trajectories_ui(&mut self, ui: &mut egui::Ui) {
        let rec = self.a.lock();
        let pixels = rec.pixels();
        let sel = self.selected.min(rec.n.saturating_sub(1));
        let current = rec.frames.get(self.frame).map(|f| f.t as f64);
        ui.label(format!(
            "Sample {sel}: click pixels in its x_t to follow them ({} picked).",
            self.pixels.len()
        ));
        crate::app::plot("player_pixels")
            .height(150.0)
            .legend(Legend::default())
            .x_axis_label("t (the chain runs from T down to 0)")
            .y_axis_label("pixel value")
            .show_menu("player_pixels", ui, |plot| {
                for &p in &self.pixels {
                    let pts: PlotPoints = rec
                        .frames
                        .iter()
                        .map(|f| [f.t as f64, f64::from(f.xt.value(sel * pixels + p))])
                        .collect();
                    let (y, x) = (p / rec.shape[2].max(1), p % rec.shape[2].max(1));
                    plot.line(crate::app::widgets::line(format!("pixel ({x}, {y})"), pts));
                }
                if let Some(t) = current {
                    plot.vline(VLine::new("now", t).color(Color32::GRAY));
                }
            });
        let var0 = self.model().and_then(|m| m.data_variance);
        ui.label(match var0 {
            Some(v) => format!(
                "Variance of x_t across the grid vs the forward process's ᾱ_t·Var(x₀) + 1 − ᾱ_t \
                 (Var(x₀) = {v:.3}, measured on the data set):"
            ),
            None => "Variance of x_t across the grid:".to_owned(),
        });
        crate::app::plot("player_variance")
            .height(150.0)
            .legend(Legend::default())
            .x_axis_label("t")
            .show_menu("player_variance", ui, |plot| {
                let var: PlotPoints = rec.stats.iter().map(|s| [s.t as f64, s.var_xt]).collect();
                plot.line(crate::app::widgets::line("Var(x_t) across samples", var));
                if let Some(v0) = var0 {
                    let fwd: PlotPoints = rec
                        .stats
                        .iter()
                        .map(|s| {
                            let om = s.one_minus_alpha_bar;
                            [s.t as f64, (1.0 - om) * v0 + om]
                        })
                        .collect();
                    plot.line(crate::app::widgets::line(
                        "ᾱ_t·Var(x₀) + 1 − ᾱ_t (forward)",
                        fwd,
                    ));
                }
                if let Some(t) = current {
                    plot.vline(VLine::new("now", t).color(Color32::GRAY));
                }
            });
    }
}

/// The update of `step` written out with its numbers.
pub fn equation_lines(step: &Step, beta: f64) -> Vec<String> {
    let (a, s) = (step.sqrt_alpha_bar, step.sqrt_one_minus_alpha_bar);
    let mut lines = vec![
        format!("t = {}  →  t′ = {}", step.t, step.t_prev),
        format!("√ᾱ_t = {a:.4}   √(1−ᾱ_t) = {s:.4}   β_t = {beta:.5}"),
        match step.learned {
            // A learned Σ: σ differs per pixel, between √β̃′ (v = 0) and √β′ (v = 1).
            Some(r) => format!(
                "ᾱ_t′ = {:.4}   σ = exp(½·log Σ_θ) per pixel, {:.4} (v = 0) … {:.4} (v = 1)",
                step.alpha_bar_prev,
                (0.5 * r.min).exp(),
                (0.5 * r.max).exp()
            ),
            None => format!("ᾱ_t′ = {:.4}   σ = {:.4}", step.alpha_bar_prev, step.sigma),
        },
        format!("x̂₀ = (x_t − {s:.4}·ε̂) / {a:.4}"),
    ];
    let sigma_term = if step.learned.is_some() {
        "σ".to_owned()
    } else {
        format!("{:.4}", step.sigma)
    };
    match step.update {
        Update::Posterior { coef_x0, coef_xt } => {
            lines.push("x_t′ = c₀·x̂₀ + c_t·x_t + σ·z   (posterior mean + noise)".into());
            lines.push(format!(
                "x_t′ = {coef_x0:.4}·x̂₀ + {coef_xt:.4}·x_t + {sigma_term}·z"
            ));
        }
        Update::Ddim { coef_x0, coef_eps } => {
            lines.push("x_t′ = √ᾱ_t′·x̂₀ + √(1−ᾱ_t′−σ²)·ε̂ + σ·z   (DDIM)".into());
            lines.push(format!(
                "x_t′ = {coef_x0:.4}·x̂₀ + {coef_eps:.4}·ε̂ + {:.4}·z",
                step.sigma
            ));
        }
        Update::Multistep {
            coef_xt,
            coef_x0,
            coef_prev,
            prev_t,
        } => {
            lines.push(format!(
                "x_t′ = c_t·x_t + c₀·x̂₀ + c_prev·x̂₀(t = {prev_t})   (DPM-Solver++ 2M)"
            ));
            lines.push(format!(
                "x_t′ = {coef_xt:.4}·x_t + {coef_x0:.4}·x̂₀ + {coef_prev:.4}·x̂₀(t = {prev_t})"
            ));
        }
        Update::Heun {
            coef_x0,
            coef_eps,
            coef_xt,
            coef_slope,
        } => {
            lines.push(format!(
                "x̃ = {coef_x0:.4}·x̂₀ + {coef_eps:.4}·ε̂   (Euler guess at t′), ε̂′ = ε̂(x̃, t′)"
            ));
            lines.push(format!(
                "x_t′ = {coef_xt:.4}·x_t + {coef_slope:.4}·(ε̂ + ε̂′)   (Heun)"
            ));
        }
    }
    lines
}
