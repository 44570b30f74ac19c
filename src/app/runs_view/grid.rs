//! The DDIM η × steps table of the bundled model: computing it in the background, drawing it,
//! and reading it back from the runs folder's cache or a preset's `[grid]` table.

use super::*;
use crate::diffusion::Spacing;
use crate::train::grid_runner::{GridPlan, GridRow, eta_steps_grid, grid_from_preset};
use egui::RichText;

impl RunsView {
    /// Starts the η × S grid on the bundled model in the background.
    pub fn compute_grid(&mut self, ctx: &egui::Context) {
        let Some(checkpoint) = crate::store::bundled_model_dir() else {
            self.error = Some(
                "the bundled model could not be unpacked (is the cache folder writable?)".into(),
            );
            return;
        };
        let etas: Result<Vec<f64>, _> =
            split_list(&self.grid_etas).map(str::parse::<f64>).collect();
        let steps: Result<Vec<usize>, _> = split_list(&self.grid_steps)
            .map(str::parse::<usize>)
            .collect();
        let (Ok(etas), Ok(steps)) = (etas, steps) else {
            self.error = Some(
                "η × steps grid: η must be numbers and S whole numbers, comma-separated".into(),
            );
            return;
        };
        let plan = GridPlan {
            checkpoint,
            etas,
            sigma_hat: self.grid.sigma_hat,
            spacing: self.grid.spacing,
            clip: self.grid.clip,
            steps,
            n: self.grid_n,
            seed: 0,
            reference: 500,
        };
        let cache = self.runs_dir.join(GRID_CACHE);
        self.error = None;
        let (job, launch) = Job::prepare("eta-steps-grid", ctx, move |send, cancel| {
            let result = eta_steps_grid(&plan, None, cancel, &mut |d, t| {
                send(Msg::Progress(d, t, "sampling".into()));
            });
            match result {
                Ok(g) => {
                    let written = cache
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| {
                            crate::fs::write_atomic(&cache, |w| {
                                std::io::Write::write_all(w, g.csv().as_bytes())
                            })
                        });
                    send(Msg::Grid(Box::new(g)));
                    if let Err(e) = written {
                        send(Msg::Error(format!(
                            "the grid was not saved for next time ({e}): {}",
                            cache.display()
                        )));
                    }
                }
                Err(e) => send(Msg::Error(format!("η × steps grid: {e}"))),
            }
        });
        self.out.start(launch);
        self.grid_job = Some(job);
    }

    pub(super) fn grid_ui(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.label(RichText::new("DDIM η × steps (bundled model)").strong());
        ui.label(
            RichText::new(
                "energy distance ×1000 to held-out MNIST on 2×-pooled pixels; lower is better",
            )
            .small(),
        );
        ui.horizontal_wrapped(|ui| {
            let running = self.grid_job.is_some();
            if ui
                .add_enabled(!running, egui::Button::new("Compute η × steps grid"))
                .clicked()
            {
                self.compute_grid(ctx);
            }
            let l = ui.label("samples");
            ui.add(egui::DragValue::new(&mut self.grid_n).range(2..=1024))
                .labelled_by(l.id);
            let l = ui.label("η");
            ui.add(egui::TextEdit::singleline(&mut self.grid_etas).desired_width(90.0))
                .labelled_by(l.id);
            let l = ui.label("S");
            ui.add(egui::TextEdit::singleline(&mut self.grid_steps).desired_width(90.0))
                .labelled_by(l.id);
            ui.checkbox(&mut self.grid.sigma_hat, "σ̂ row")
                .on_hover_text(
                    "Add seed 001's σ̂ row: strided DDPM with σ̂ = √(1 − ᾱ_t/ᾱ_t′), \
                 more noise than η = 1",
                );
            ui.checkbox(&mut self.grid.clip, "clip x̂₀")
                .on_hover_text("Clip the predicted x̂₀ to [−1, 1] at every step");
            egui::ComboBox::from_id_salt("grid_spacing")
                .selected_text(format!("{} spacing", self.grid.spacing.name()))
                .show_ui(ui, |ui| {
                    for s in Spacing::ALL {
                        ui.selectable_value(&mut self.grid.spacing, s, s.name());
                    }
                })
                .response
                .on_hover_text("How every row picks its S timesteps out of T");
            if let Some(j) = &mut self.grid_job {
                if j.progress.1 > 0 {
                    ui.add(
                        egui::ProgressBar::new(j.progress.0 as f32 / j.progress.1 as f32)
                            .text(format!("{} / {} cells", j.progress.0, j.progress.1))
                            .desired_width(140.0),
                    );
                } else {
                    ui.spinner();
                }
                if ui.button("Cancel").clicked() {
                    j.cancel();
                }
            }
        });
        if self.grid_table.is_empty() {
            ui.label("Not computed yet (a few minutes on a CPU).");
            return;
        }
        let mut etas: Vec<GridRow> = Vec::new();
        let mut steps: Vec<usize> = Vec::new();
        for &(e, s, _, _) in &self.grid_table {
            if !etas.contains(&e) {
                etas.push(e);
            }
            if !steps.contains(&s) {
                steps.push(s);
            }
        }
        // The best cell: by FID where there is one, else by the energy distance.
        let key = |c: &(GridRow, usize, f64, Option<f64>)| c.3.unwrap_or(c.2);
        let best = self
            .grid_table
            .iter()
            .map(key)
            .fold(f64::INFINITY, f64::min);
        egui::Grid::new("eta_steps_table")
            .striped(true)
            .min_col_width(60.0)
            .show(ui, |ui| {
                ui.label(RichText::new("η \\ S").strong());
                for s in &steps {
                    ui.label(RichText::new(s.to_string()).strong());
                }
                ui.end_row();
                for e in &etas {
                    ui.label(RichText::new(e.label()).strong());
                    for s in &steps {
                        match self.grid_table.iter().find(|c| c.0 == *e && c.1 == *s) {
                            Some(c) => {
                                let text = match c.3 {
                                    Some(fid) => format!("{fid:.1} · {:.1}", c.2 * 1e3),
                                    None => format!("{:.1}", c.2 * 1e3),
                                };
                                let t = RichText::new(text).monospace();
                                ui.label(if key(c) == best { t.strong() } else { t });
                            }
                            None => {
                                ui.label("–");
                            }
                        }
                    }
                    ui.end_row();
                }
            });
        if !self.grid_note.is_empty() {
            ui.label(RichText::new(&self.grid_note).small());
        }
    }
}

/// Parses the grid CSV written by
/// [`GridResult::csv`](crate::train::grid_runner::GridResult::csv): (η, S, energy distance,
/// FID) per row (older files have no FID column).
pub fn parse_grid_csv(text: &str) -> Vec<(GridRow, usize, f64, Option<f64>)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                GridRow::parse(f.first()?)?,
                f.get(1)?.trim().parse().ok()?,
                f.get(2)?.trim().parse().ok()?,
                f.get(4).and_then(|v| v.trim().parse().ok()),
            ))
        })
        .collect()
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|v| !v.is_empty())
}

/// The `[grid]` table of the first preset (see [`preset_texts`]) that has one.
pub(super) fn find_grid_preset() -> Option<crate::config::Grid> {
    preset_texts()
        .into_iter()
        .filter(|(_, t)| t.contains("[grid]"))
        .find_map(|(_, t)| grid_from_preset(&t).ok())
}

/// (name, text) of the presets the Runs view offers: the `.toml` files of a `presets/` folder
/// in the working folder (a checkout, or the user's own presets) when it has any, else the
/// presets built into the binary, so an installed app finds them from any folder.
pub(super) fn preset_texts() -> Vec<(String, String)> {
    preset_texts_in(Path::new("presets"))
}

/// [`preset_texts`] with the folder given.
fn preset_texts_in(dir: &Path) -> Vec<(String, String)> {
    let files = super::files_with_extension(dir, "toml");
    let found: Vec<(String, String)> = files
        .iter()
        .filter_map(|p| {
            let name = p.file_stem()?.to_string_lossy().into_owned();
            Some((name, std::fs::read_to_string(p).ok()?))
        })
        .collect();
    if !found.is_empty() {
        return found;
    }
    crate::config::SHIPPED_PRESETS
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_grid_reads_back_its_sigma_hat_row() {
        let csv = "eta,steps,energy_distance,sample_seconds,fid\n\
                   0.5,10,0.1,1.0,300.5\n\
                   sigma-hat,10,0.2,1.0,444.0\n\
                   1.0,20,0.05,1.0,\n";
        let rows = parse_grid_csv(csv);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], (GridRow::Eta(0.5), 10, 0.1, Some(300.5)));
        assert_eq!(rows[1], (GridRow::SigmaHat, 10, 0.2, Some(444.0)));
        assert_eq!(rows[2], (GridRow::Eta(1.0), 20, 0.05, None));
        assert_eq!(GridRow::SigmaHat.label(), "σ̂");
    }

    #[test]
    fn presets_come_from_the_folder_else_from_the_binary() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // No presets folder (an installed app run from elsewhere): the built-in ones, with
        // the grid and the study the Runs view needs.
        let built_in = preset_texts_in(&tmp.path().join("presets"));
        let names: Vec<&str> = built_in.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"ddim-grid") && names.contains(&"schedule-study"),
            "{names:?}"
        );
        assert!(built_in.iter().any(|(_, t)| grid_from_preset(t).is_ok()));
        // A folder with the user's own preset: that one only.
        let dir = tmp.path().join("mine");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(
            dir.join("my-grid.toml"),
            "[grid]\netas = [0.0]\nsteps = [5]\n",
        )
        .expect("write");
        let mine = preset_texts_in(&dir);
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].0, "my-grid");
        assert_eq!(grid_from_preset(&mine[0].1).expect("grid").steps, vec![5]);
    }
}
