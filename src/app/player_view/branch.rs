//! Branching: fork the selected sample from the frame on screen into k continuations with
//! fresh noise, and the Branch section of the side panel.

use super::*;
use crate::sampling::job::push_step;

impl PlayerView {
    /// Forks `fork_k` continuations of the selected sample from the frame on screen, with
    /// fresh noise.
    pub fn fork(&mut self) {
        let Some(model) = self.job_model() else {
            return;
        };
        let (index, n_total) = {
            let rec = self.a.lock();
            match rec.frames.get(self.frame) {
                Some(f) if f.step.is_some() => (f.index, rec.n),
                _ => {
                    drop(rec);
                    self.branches.error = Some("pick a step before the end of the chain".into());
                    return;
                }
            }
        };
        let settings = self.a.settings.clone();
        let Ok(plan) = SamplerPlan::new(&model.table, settings.kind()) else {
            return;
        };
        let sample = self.selected.min(n_total.saturating_sub(1));
        let (k, seed, clip) = (self.fork_k.clamp(1, 64), self.seed, self.clip);
        self.branch_seed += 1;
        let fresh = self.seed.wrapping_add(1_000_003 * self.branch_seed);
        // A deterministic DDIM chain continues with η = `branch_eta` over the same timesteps,
        // so the branches get fresh noise; the other samplers are stochastic already.
        let rest_kind = match settings.kind() {
            crate::diffusion::SamplerKind::Ddim {
                steps,
                eta: 0.0,
                spacing,
            } => crate::diffusion::SamplerKind::Ddim {
                steps,
                eta: self.branch_eta.clamp(0.0, 1.0),
                spacing,
            },
            other => other,
        };
        let Ok(rest_plan) = SamplerPlan::new(&model.table, rest_kind) else {
            return;
        };
        let rest = SamplerPlan {
            steps: rest_plan.steps[index.min(rest_plan.steps.len())..].to_vec(),
        };
        let stride = self.stride_for(&rest, k, &model);
        let record = Arc::new(Mutex::new(ChainRecord {
            n: k,
            shape: model.shape,
            total_steps: rest.steps.len(),
            ..ChainRecord::default()
        }));
        let weights = settings.weights;
        let prefix = SamplerPlan {
            steps: plan.steps[..index].to_vec(),
        };
        // The branches ask for the selected sample's class, as its chain did.
        let guidance = self
            .guidance_for(self.model_classes(), settings.cfg_w, self.n)
            .map(|g| crate::sampling::Guidance {
                labels: vec![g.label(sample)],
                ..g
            });
        let (job, launch) =
            ChainJob::custom(record.clone(), "branches", self.wake(), move |ctx, rec| {
                ctx.set_total(prefix.steps.len() + rest.steps.len());
                let den = model.denoiser(weights);
                // Re-run the chosen sample alone up to the fork: its own noise streams make this
                // the same x_t as in the grid.
                let mut head = ChainSpec::new(prefix, 1, seed, clip);
                head.first_index = sample;
                head.stride = usize::MAX;
                head.guidance = guidance.clone();
                let mut done = 0;
                let x = run_chain(&den, &head, ctx.cancel_flag(), |_, _| {
                    done += 1;
                    ctx.set_done(done);
                })?;
                let mut tail = ChainSpec::new(rest, k, seed, clip);
                tail.noise_seed = fresh;
                tail.stride = stride;
                tail.start = Some(x.repeat(k));
                tail.guidance = guidance;
                run_chain(&den, &tail, ctx.cancel_flag(), |stat, frame| {
                    push_step(rec, stat, frame);
                    done += 1;
                    ctx.set_done(done);
                })
            });
        self.branches = Pane {
            settings,
            record,
            label: format!(
                "{k} branches of sample {sample} from t = {}",
                self.current_t().unwrap_or(0)
            ),
            ..Pane::default()
        };
        self.out.start(launch);
        self.branches.job = Some(job);
    }

    pub(super) fn branch_ui(&mut self, ui: &mut egui::Ui) {
        ui.label("Fork the selected sample from the step on screen into k continuations with fresh noise.");
        if matches!(
            self.a.settings.kind(),
            crate::diffusion::SamplerKind::Ddim { eta, .. } if eta == 0.0
        ) {
            ui.horizontal(|ui| {
                let l = ui.label("continuations' η");
                ui.add(egui::Slider::new(&mut self.branch_eta, 0.0..=1.0))
                    .labelled_by(l.id)
                    .on_hover_text(
                        "Pane A's DDIM with η = 0 adds no noise; the branches continue with this η",
                    );
            });
            if self.branch_eta == 0.0 {
                ui.colored_label(
                    Color32::LIGHT_RED,
                    "η = 0 adds no noise: the k continuations will be the same image",
                );
            }
        }
        if matches!(
            self.a.settings.kind(),
            crate::diffusion::SamplerKind::Karras { .. }
        ) {
            ui.colored_label(
                Color32::LIGHT_RED,
                "The Karras ODE samplers add no noise: the k continuations will be the same image",
            );
        }
        ui.horizontal(|ui| {
            let l = ui.label("k");
            ui.add(egui::DragValue::new(&mut self.fork_k).range(1..=64))
                .labelled_by(l.id);
            let busy = self.branches.is_sampling();
            if ui
                .add_enabled(!busy && self.a.frames() > 0, egui::Button::new("Fork here"))
                .clicked()
            {
                self.fork();
            }
            if busy {
                if let Some(j) = &self.branches.job {
                    let (d, t) = j.progress();
                    ui.add(
                        egui::ProgressBar::new(if t == 0 { 0.0 } else { d as f32 / t as f32 })
                            .desired_width(100.0),
                    );
                }
                if ui.button("Cancel").clicked()
                    && let Some(j) = &self.branches.job
                {
                    j.cancel();
                }
            }
        });
        if self.branches.frames() > 0 {
            ui.label("The branches play in sync below the main chain.");
        }
    }
}
