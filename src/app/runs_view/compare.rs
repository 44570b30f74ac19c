//! Comparing the picked runs: their loss curves overlaid, samples from the same x_T (with their
//! quality figures) and the NLL bound.

use super::*;
use crate::app::widgets::PlotMenu;
use crate::diffusion::{SamplerKind, SamplerPlan, Spacing};
use crate::sampling::sample_images;
use egui::RichText;
use egui_plot::{ColorConflictHandling, Corner, FilledArea, Legend, LineStyle, PlotPoints};
use std::sync::atomic::Ordering;

impl RunsView {
    /// The NLL bound of every picked run on 64 of its held-out images (every t ≤ 50 and 100
    /// stratified t above), in the background.
    pub fn compute_nll(&mut self, ctx: &egui::Context) {
        self.nll.clear();
        let none = "pick at least one run to measure its likelihood";
        self.for_each_picked_run(ctx, "nll", none, "NLL of", |label, run, cancel| {
            let data = run.config.data.load()?;
            let (_, held) = data
                .split(run.config.train.val_fraction, run.config.train.seed)
                .map_err(|e| e.to_string())?;
            let pixels: usize = run.shape.iter().product();
            let n = held.len().min(64);
            let den = crate::sampling::Denoiser::new(
                &run.ema,
                &run.device,
                &run.table,
                run.config.train.target,
                run.shape,
            );
            // A learned-Σ model is measured with its own Σ_θ; the others with σ² = β.
            let opts = crate::metrics::NllOptions {
                t_samples: Some(100),
                variance: if den.learns_sigma() {
                    crate::diffusion::DdpmVariance::Learned
                } else {
                    crate::diffusion::DdpmVariance::Beta
                },
                ..crate::metrics::NllOptions::default()
            };
            let report = crate::metrics::nll_bound_var(
                &run.table,
                &held.data()[..n * pixels],
                pixels,
                &opts,
                &mut |t, x, e, v| den.predict_var(t, x, e, Some(v)),
                &mut |_, _| !cancel.load(Ordering::SeqCst),
            )
            .ok_or_else(|| "cancelled".to_owned());
            Ok(Msg::Nll(RunNll {
                label: label.to_owned(),
                report,
            }))
        });
    }

    /// The NLL results and the per-term plot L_{t−1} against t.
    pub(super) fn nll_ui(&mut self, ui: &mut egui::Ui) {
        if self.nll.is_empty() {
            return;
        }
        for (i, r) in self.nll.iter().enumerate() {
            match &r.report {
                Ok(rep) => ui.colored_label(
                    colour(i),
                    format!(
                        "{}: NLL ≤ {:.3} ± {:.3} bits/dim ({} images, {} timesteps)",
                        r.label, rep.bits_per_dim, rep.std_error, rep.n, rep.timesteps
                    ),
                ),
                Err(e) => ui.colored_label(Color32::LIGHT_RED, format!("{}: {e}", r.label)),
            };
        }
        crate::app::plot("runs_nll_terms")
            .height(140.0)
            .x_axis_label("t")
            .y_axis_label("L(t−1), bits/dim (log₁₀)")
            .show_menu("runs_nll_terms", ui, |p| {
                for (i, r) in self.nll.iter().enumerate() {
                    if let Ok(rep) = &r.report {
                        let pts: PlotPoints = rep
                            .terms
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| v.is_finite() && **v > 0.0)
                            .map(|(k, v)| [(k + 1) as f64, v.log10()])
                            .collect();
                        p.points(
                            crate::app::widgets::points(r.label.clone(), pts)
                                .color(colour(i))
                                .radius(2.0),
                        );
                    }
                }
            });
    }

    /// Starts drawing `compare_n` samples from every picked run's EMA weights, all from the same
    /// x_T (seed `compare_seed`), with DDIM (η = 0, `compare_steps` steps), in the background.
    pub fn compare_samples(&mut self, ctx: &egui::Context) {
        let (n, seed, steps) = (
            self.compare_n.clamp(1, 64),
            self.compare_seed,
            self.compare_steps,
        );
        self.samples.clear();
        self.sample_tex.clear();
        let none = "pick at least one run to compare its samples";
        self.for_each_picked_run(
            ctx,
            "compare-samples",
            none,
            "sampling",
            move |label, run, cancel| {
                let kind = SamplerKind::Ddim {
                    steps: steps.clamp(1, run.table.steps()),
                    eta: 0.0,
                    spacing: Spacing::Trailing,
                };
                let plan = SamplerPlan::new(&run.table, kind).map_err(|e| e.to_string())?;
                let x = sample_images(
                    &run.ema,
                    &run.device,
                    &run.table,
                    run.config.train.target,
                    &plan,
                    n,
                    run.shape,
                    seed,
                    true,
                );
                // The quality figures need a classifier for the run's data set.
                let quality = crate::metrics::classifier_for(&run.config.data)
                    .ok()
                    .filter(|_| n >= 2)
                    .and_then(|net| {
                        let pixels: usize = run.shape.iter().product();
                        let (kept, bad) = crate::metrics::finite_images(&x, pixels);
                        crate::metrics::score_sets(
                            &net,
                            &[kept],
                            run.shape,
                            bad,
                            seed,
                            label.to_owned(),
                            &mut |_, _| !cancel.load(Ordering::SeqCst),
                        )
                        .ok()
                    });
                Ok(Msg::Samples(SampleSet {
                    label: label.to_owned(),
                    n,
                    shape: run.shape,
                    pixels: x.into_iter().map(crate::data::unit_to_u8).collect(),
                    quality,
                }))
            },
        );
    }

    pub(super) fn curves_ui(&mut self, ui: &mut egui::Ui, height: f32) {
        let log = self.log_axis;
        let f = move |v: f64| if log { v.max(1e-12).log10() } else { v };
        let runs: Vec<&RunEntry> = self.picked_runs();
        let smoothing = self.smoothing;
        let mut drawn = Vec::new();
        crate::app::plot("runs_loss")
            .height(height)
            .legend(
                Legend::default()
                    .position(Corner::LeftBottom)
                    .color_conflict_handling(ColorConflictHandling::PickFirst),
            )
            .x_axis_label("step")
            .y_axis_label(if log { "loss (log₁₀)" } else { "loss" })
            .show_menu("runs_loss", ui, |p| {
                for (i, r) in runs.iter().enumerate() {
                    let c = colour(i);
                    let mut sm = Vec::with_capacity(r.info.history.train.len());
                    let mut prev: Option<f64> = None;
                    for &(s, l) in &r.info.history.train {
                        let l = f64::from(l);
                        let v = prev.map_or(l, |q| smoothing * q + (1.0 - smoothing) * l);
                        prev = Some(v);
                        sm.push([s as f64, f(v)]);
                    }
                    // The legend names the run by its config name (short), made unique.
                    let same = runs.iter().filter(|q| q.name == r.name).count();
                    let name = if same > 1 {
                        format!("{} ({})", r.name, r.date())
                    } else {
                        r.name.clone()
                    };
                    p.line(
                        crate::app::widgets::line(name.clone(), PlotPoints::from(sm))
                            .color(c)
                            .width(2.0),
                    );
                    let val = &r.info.history.val;
                    if !val.is_empty() {
                        let xs: Vec<f64> = val.iter().map(|v| v.step as f64).collect();
                        let lo: Vec<f64> = val.iter().map(|v| f(f64::from(v.min))).collect();
                        let hi: Vec<f64> = val.iter().map(|v| f(f64::from(v.max))).collect();
                        // The line first: the legend takes its colour from the first item, and
                        // one legend entry per run toggles all of its curves.
                        let mean: Vec<[f64; 2]> = val
                            .iter()
                            .map(|v| [v.step as f64, f(f64::from(v.mean))])
                            .collect();
                        p.line(
                            crate::app::widgets::line(name.clone(), PlotPoints::from(mean))
                                .color(c)
                                .style(LineStyle::dashed_loose())
                                .width(1.5),
                        );
                        p.add(
                            FilledArea::new(name.clone(), &xs, &lo, &hi)
                                .fill_color(c.gamma_multiply(0.25)),
                        );
                    }
                    drawn.push(r.label());
                }
            });
        self.drawn = drawn;
    }

    pub(super) fn samples_ui(&mut self, ui: &mut egui::Ui, height: f32) {
        if self.samples.is_empty() {
            ui.label(if self.picked.is_empty() {
                "Pick runs on the left, then press Compare samples."
            } else {
                "Press Compare samples to draw from every picked run with the same noise."
            });
            ui.add_space(height - 20.0);
            return;
        }
        let k = self.sample_tex.len().max(1);
        let side = ((ui.available_width() - 8.0 * k as f32) / k as f32)
            .min(height - 30.0)
            .max(40.0);
        egui::ScrollArea::horizontal()
            .id_salt("samples_scroll")
            .max_height(height)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (s, tex) in self.samples.iter().zip(&self.sample_tex) {
                        ui.vertical(|ui| {
                            ui.set_max_width(side);
                            ui.add(egui::Label::new(RichText::new(&s.label).small()).truncate());
                            crate::app::widgets::picture(ui, tex.id(), egui::vec2(side, side), &s.label);
                            if let Some(q) = &s.quality
                                && let [samples, floor, ..] = q.rows.as_slice()
                            {
                                ui.label(
                                    RichText::new(format!(
                                        "FID {:.1} (real {:.1}) · IS {:.2}\nprecision {:.2} · recall {:.2}",
                                        samples.fid.mean,
                                        floor.fid.mean,
                                        samples.is.mean,
                                        samples.precision.mean,
                                        samples.recall.mean
                                    ))
                                    .small()
                                    .monospace(),
                                )
                                .on_hover_text(format!(
                                    "{}; n = {}: FID at small n sits far above its value at \
                                     thousands of samples, so compare runs at the same n and \
                                     against the real-image floor",
                                    q.features, samples.n
                                ));
                            }
                        });
                    }
                });
            });
    }
}
