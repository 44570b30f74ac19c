//! The 2-D lab's side panel: dataset (with the mixture editor), forward noise, training,
//! sampling and export controls.

use super::*;
use crate::diffusion::Component;
use crate::toy::Mixture2d;
use crate::train::TrainCommand;
use egui::Color32;

impl ToyView {
    pub(super) fn side_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.heading("Dataset");
        let mut pick = self.dataset.name();
        ui.horizontal(|ui| {
            let l = ui.label("Data");
            egui::ComboBox::from_id_salt("toy_dataset")
                .selected_text(self.dataset.label())
                .show_ui(ui, |ui| {
                    for name in ToyDataset::NAMES {
                        if let Some(d) = ToyDataset::from_name(name) {
                            ui.selectable_value(&mut pick, name, d.label());
                        }
                    }
                })
                .response
                .labelled_by(l.id);
        });
        if pick != self.dataset.name()
            && let Some(d) = ToyDataset::from_name(pick)
        {
            self.drawing = pick == "drawn";
            self.set_dataset(d);
        }
        if let ToyDataset::Gmm(m) = &self.dataset {
            let edited = mixture_editor_ui(ui, m);
            match edited {
                Some(Ok(m)) => self.set_dataset(ToyDataset::Gmm(m)),
                Some(Err(e)) => self.message = e,
                None => {}
            }
        }
        if let ToyDataset::Drawn(_) = &self.dataset {
            ui.checkbox(&mut self.drawing, "Draw with the mouse (forward plot)");
            ui.horizontal(|ui| {
                ui.label(format!("{} drawn points", self.drawn.len()));
                if ui.button("Clear drawing").clicked() {
                    self.drawn.clear();
                }
            });
        }
        ui.separator();
        ui.heading("Forward");
        ui.checkbox(&mut self.lock_noise, "Same noise as t moves");
        if ui.button("New noise").clicked() {
            self.noise_seed += 1;
            self.redraw_noise();
        }
        ui.separator();
        ui.heading("Training");
        ui.horizontal(|ui| {
            let l = ui.label("Steps");
            ui.add(egui::DragValue::new(&mut self.config.train_steps).range(10..=100_000))
                .labelled_by(l.id);
            let l = ui.label("lr");
            ui.add(
                egui::DragValue::new(&mut self.config.lr)
                    .range(1e-5..=1e-1)
                    .speed(1e-4),
            )
            .labelled_by(l.id);
        });
        ui.horizontal(|ui| match self.status {
            ToyStatus::Training => {
                if ui.button("Pause").clicked() {
                    self.command(TrainCommand::Pause);
                }
                if ui.button("Stop").clicked() {
                    self.command(TrainCommand::Stop);
                }
            }
            ToyStatus::Paused => {
                if ui.button("Resume").clicked() {
                    self.command(TrainCommand::Resume);
                }
                if ui.button("Stop").clicked() {
                    self.command(TrainCommand::Stop);
                }
            }
            _ => {
                if ui.button("Train MLP").clicked() {
                    self.start_training(ctx);
                }
            }
        });
        ui.label(format!("Status: {}", self.status_text()));
        if let Some(p) = self.losses.last() {
            ui.label(format!("step {:.0}, loss {:.4}", p.x, p.y));
        }
        if let Some(p) = self.energy.last() {
            ui.label(format!("energy distance {:.4} at step {:.0}", p.y, p.x));
        }
        ui.separator();
        ui.heading("Sampling");
        ui.horizontal(|ui| {
            let l = ui.label("Sampler");
            egui::ComboBox::from_id_salt("toy_sampler")
                .selected_text(sampler_label(self.sampler))
                .show_ui(ui, |ui| {
                    for i in 0..ToySampler::NAMES.len() {
                        ui.selectable_value(&mut self.sampler, i, sampler_label(i))
                            .on_hover_text(sampler_tooltip(i));
                    }
                })
                .response
                .labelled_by(l.id);
        });
        if ToySampler::NAMES.get(self.sampler).copied() == Some("ddim") {
            ui.horizontal(|ui| {
                let l = ui.label("η");
                ui.add(egui::Slider::new(&mut self.config.eta, 0.0..=1.0))
                    .labelled_by(l.id);
            });
        }
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.source, ScoreSource::Learned, "Learned score");
            ui.add_enabled_ui(self.dataset.mixture().is_some(), |ui| {
                ui.radio_value(&mut self.source, ScoreSource::True, "True score");
            });
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.sample_job.is_none(), egui::Button::new("Sample"))
                .clicked()
            {
                self.start_sampling(ctx);
            }
            if self.sample_job.is_some() {
                ui.spinner();
            }
        });
        if !self.frames.is_empty() {
            ui.horizontal(|ui| {
                let label = if self.playing {
                    "Pause playback"
                } else {
                    "Play"
                };
                if ui.button(label).clicked() {
                    if !self.playing && self.frame + 1 >= self.frames.len() {
                        self.frame = 0;
                    }
                    self.playing = !self.playing;
                }
                let last = self.frames.len() - 1;
                let l = ui.label("Frame");
                if ui
                    .add(egui::Slider::new(&mut self.frame, 0..=last))
                    .labelled_by(l.id)
                    .changed()
                {
                    self.playing = false;
                }
            });
        }
        ui.separator();
        ui.heading("Export");
        ui.horizontal(|ui| {
            if ui.button("Export CSV…").clicked() {
                self.export_csv(ctx);
            }
            if ui
                .add_enabled(!self.frames.is_empty(), egui::Button::new("Export GIF…"))
                .clicked()
            {
                self.export_gif(ctx);
            }
        });
        if !self.message.is_empty() {
            ui.separator();
            ui.label(egui::RichText::new(&self.message).color(Color32::from_rgb(200, 120, 0)));
        }
    }

    fn status_text(&self) -> String {
        match &self.status {
            ToyStatus::Idle => "Idle".into(),
            ToyStatus::Training => "Training".into(),
            ToyStatus::Paused => "Paused".into(),
            ToyStatus::Finished => "Finished".into(),
            ToyStatus::Failed(m) => format!("Failed: {m}"),
        }
    }
}

fn sampler_label(i: usize) -> &'static str {
    match ToySampler::NAMES.get(i).copied() {
        Some("ddpm") => "DDPM",
        Some("ddim") => "DDIM (η)",
        Some("euler-karras") => "Euler (Karras σ)",
        Some("heun-karras") => "Heun (Karras σ)",
        Some("dpmpp-2m") => "DPM-Solver++ (2M)",
        Some("langevin") => "Langevin",
        Some("annealed") => "Annealed Langevin",
        _ => "?",
    }
}

fn sampler_tooltip(i: usize) -> String {
    let karras = ToySampler::KARRAS_STEPS;
    match ToySampler::NAMES.get(i).copied() {
        Some("ddpm") => "Ancestral DDPM over all T steps, from N(0, I)".into(),
        Some("ddim") => "DDIM over 50 steps with the η below, from N(0, I)".into(),
        Some("euler-karras") => format!(
            "Euler on the probability-flow ODE over {karras} points of the Karras σ grid; \
             deterministic, {karras} score calls"
        ),
        Some("heun-karras") => format!(
            "Heun (second order) over {karras} points of the Karras σ grid; deterministic, \
             {} score calls",
            2 * karras - 1
        ),
        Some("dpmpp-2m") => format!(
            "DPM-Solver++ (2M): second-order multistep over {karras} points of the Karras σ \
             grid; deterministic, {karras} score calls"
        ),
        Some("langevin") => "Langevin dynamics at σ = 0.01 from a uniform square".into(),
        Some("annealed") => {
            "Annealed Langevin (NCSN) from σ = 1 to 0.01, from a uniform square".into()
        }
        _ => String::new(),
    }
}

/// The GMM editor: one row per component (mean x, mean y, weight, σ, remove) and an add button.
/// Returns the edited mixture, or why the edit was refused.
fn mixture_editor_ui(ui: &mut egui::Ui, m: &Mixture2d) -> Option<Result<Mixture2d, String>> {
    let mut result = None;
    let field = |ui: &mut egui::Ui, name: &str, v: &mut f64, speed: f64, lo: f64, hi: f64| {
        let l = ui.label(name);
        ui.add(egui::DragValue::new(v).speed(speed).range(lo..=hi))
            .labelled_by(l.id)
            .changed()
    };
    for (i, c) in m.components().iter().enumerate() {
        let mut c2 = c.clone();
        let mut changed = false;
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = 4.0;
            changed |= field(ui, "x", &mut c2.mean[0], 0.02, -2.0, 2.0);
            changed |= field(ui, "y", &mut c2.mean[1], 0.02, -2.0, 2.0);
            changed |= field(ui, "w", &mut c2.weight, 0.01, 0.01, 1.0);
            let mut s = c2.std[0];
            if field(ui, "σ", &mut s, 0.005, 0.02, 1.0) {
                c2.std = vec![s, s];
                changed = true;
            }
            if ui.small_button("Remove").clicked() {
                let mut m2 = m.clone();
                result = Some(m2.remove(i).map(|()| m2).map_err(|e| e.to_string()));
            }
        });
        if changed {
            let mut m2 = m.clone();
            result = Some(
                m2.set_component(i, c2)
                    .map(|()| m2)
                    .map_err(|e| e.to_string()),
            );
        }
    }
    if ui.button("Add component").clicked() {
        let mut m2 = m.clone();
        let k = m.components().len() as f64;
        let c = Component {
            weight: 1.0 / (k + 1.0),
            mean: vec![1.2 * (k * 2.4).cos(), 1.2 * (k * 2.4).sin()],
            std: vec![0.15, 0.15],
        };
        result = Some(m2.push(c).map(|()| m2).map_err(|e| e.to_string()));
    }
    result
}
