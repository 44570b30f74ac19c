//! Seed 000's table in the Runs view: started from a preset with `[seed000]` like any study,
//! shown as IS and seconds against steps (one line per column, for the picked N) and as the
//! seed's table (IS ± std · seconds per cell).

use super::*;
use crate::app::widgets::PlotMenu;
use crate::config::{Preset, Seed000Plan};
use crate::diffusion::seed000::Chain000;
use crate::metrics::seed000::{Models000, Row000, TABLE_FILE, read_summary_csv, run_table};
use crate::store::runs::new_run_dir;
use egui::RichText;
use egui_plot::{Legend, PlotPoints};

/// The `[seed000]` plan of a preset's text, if it has one and parses.
pub(super) fn seed000_plan(text: &str) -> Option<Seed000Plan> {
    Preset::from_toml(text).ok().and_then(|p| p.seed000)
}

/// Reads a seed-000 study folder's table (empty when there is none).
pub(super) fn read_seed000(dir: &Path) -> Result<Vec<Row000>, String> {
    match std::fs::read_to_string(dir.join(TABLE_FILE)) {
        Ok(text) => read_summary_csv(&text),
        Err(_) => Ok(Vec::new()),
    }
}

/// The table the developers measured with `presets/seed000.toml` (BENCHMARKS.md), shown until
/// the user runs their own.
pub const BUNDLED_TABLE: &str = include_str!("../../../assets/studies/seed000.csv");

/// The pseudo-folder the bundled table is shown under.
pub const BUNDLED_TABLE_DIR: &str = "bundled: seed000 table (BENCHMARKS.md)";

impl RunsView {
    /// When the picked study preset is seed 000's and no seed-000 study is shown, shows the
    /// bundled table, so the preset opens on the seed's table rather than on nothing.
    pub(super) fn show_bundled_seed000_if_picked(&mut self) {
        let picked = self
            .study_preset
            .as_ref()
            .and_then(|n| self.study_presets.iter().find(|(p, _)| p == n))
            .is_some_and(|(_, text)| seed000_plan(text).is_some());
        let showing = self.study.as_ref().is_some_and(|s| !s.seed000.is_empty());
        if !picked || showing {
            return;
        }
        if let Some(dir) = self
            .studies
            .iter()
            .find(|d| d.join(TABLE_FILE).is_file())
            .cloned()
        {
            self.show_study(&dir);
            return;
        }
        match read_summary_csv(BUNDLED_TABLE) {
            Ok(rows) => {
                self.study = Some(StudyResult {
                    seed000: rows,
                    ..StudyResult::empty(PathBuf::from(BUNDLED_TABLE_DIR))
                });
            }
            Err(e) => self.error = Some(format!("the bundled seed-000 table: {e}")),
        }
    }

    /// Starts seed 000's table of the preset `name` in the background, into a new study folder.
    pub fn start_seed000(&mut self, name: &str, plan: Seed000Plan, ctx: &egui::Context) {
        if self.study_job.is_some() {
            return;
        }
        let dir = new_run_dir(&self.runs_dir, &format!("study-{name}"));
        self.study = Some(StudyResult::empty(dir.clone()));
        self.error = None;
        let (job, launch) = Job::prepare("seed000", ctx, move |send, cancel| {
            send(Msg::Progress(0, 1, "loading the three models…".into()));
            let result = Models000::load(&plan).and_then(|models| {
                let stop = || cancel.load(std::sync::atomic::Ordering::Relaxed);
                run_table(&plan, &models, &dir, &stop, &mut |k, total, c, all| {
                    send(Msg::Progress(k, total, c.summary()));
                    send(Msg::Seed000(crate::metrics::seed000::summarize(all)));
                })
            });
            send(Msg::StudyDone(result.map(|_| dir)));
        });
        self.out.start(launch);
        self.study_job = Some(job);
    }

    /// Draws seed 000's table: the plots for the picked N, then the table itself.
    pub(super) fn seed000_ui(&mut self, ui: &mut egui::Ui, rows: &[Row000], height: f32) {
        let mut ns: Vec<usize> = rows.iter().map(|r| r.images).collect();
        ns.sort_unstable();
        ns.dedup();
        if !ns.contains(&self.seed000_n) {
            self.seed000_n = ns.last().copied().unwrap_or(0);
        }
        ui.horizontal(|ui| {
            let l = ui.label("N images");
            egui::ComboBox::from_id_salt("seed000_n")
                .selected_text(self.seed000_n.to_string())
                .show_ui(ui, |ui| {
                    for &n in &ns {
                        ui.selectable_value(&mut self.seed000_n, n, n.to_string());
                    }
                })
                .response
                .labelled_by(l.id);
            ui.label(
                RichText::new(
                    "IS on the app's classifier, mean ± std over the seeds (not comparable \
                     with Inception IS); seconds to make the N images on the CPU",
                )
                .small(),
            );
        });
        let n = self.seed000_n;
        let width = ui.available_width();
        let plot_h = (height * 0.55).max(110.0);
        let series = |col: Chain000, f: &dyn Fn(&Row000) -> f64| -> Vec<[f64; 2]> {
            rows.iter()
                .filter(|r| r.images == n && r.column == col.name())
                .map(|r| [(r.steps as f64).log10(), f(r)])
                .collect()
        };
        ui.horizontal_top(|ui| {
            for (id, ylabel, f, legend) in [
                (
                    "seed000_is",
                    "IS",
                    (&|r: &Row000| r.is.0) as &dyn Fn(&Row000) -> f64,
                    false,
                ),
                ("seed000_secs", "seconds", &|r: &Row000| r.seconds.0, true),
            ] {
                let mut plot = crate::app::plot(id)
                    .width((width / 2.0 - 8.0).max(120.0))
                    .height(plot_h)
                    .x_axis_label("steps (log scale)")
                    .y_axis_label(ylabel)
                    // The x axis is log₁₀(steps): label the marks with the steps themselves.
                    .x_axis_formatter(|m, _| format!("{:.0}", 10f64.powf(m.value)));
                // One legend for both plots, in the seconds plot's empty upper left.
                if legend {
                    plot = plot.legend(Legend::default().position(egui_plot::Corner::LeftTop));
                }
                plot.show_menu(id, ui, |p| {
                    for (i, col) in Chain000::ALL.into_iter().enumerate() {
                        let pts = series(col, f);
                        if pts.is_empty() {
                            continue;
                        }
                        p.line(
                            crate::app::widgets::line(col.label(), PlotPoints::from(pts))
                                .color(colour(i))
                                .width(2.0),
                        );
                    }
                });
            }
        });
        egui::ScrollArea::vertical()
            .id_salt("seed000_table")
            .max_height((height - plot_h - 40.0).max(60.0))
            .show(ui, |ui| {
                egui::Grid::new("seed000_grid")
                    .striped(true)
                    .num_columns(2 + Chain000::ALL.len())
                    .show(ui, |ui| {
                        ui.label(RichText::new("steps").strong());
                        ui.label(RichText::new("N").strong());
                        for c in Chain000::ALL {
                            ui.label(RichText::new(c.label()).strong().small());
                        }
                        ui.end_row();
                        let mut keys: Vec<(usize, usize)> =
                            rows.iter().map(|r| (r.steps, r.images)).collect();
                        keys.dedup();
                        for (steps, images) in keys {
                            ui.label(steps.to_string());
                            ui.label(images.to_string());
                            for c in Chain000::ALL {
                                let cell = rows.iter().find(|r| {
                                    r.steps == steps && r.images == images && r.column == c.name()
                                });
                                ui.label(
                                    RichText::new(cell.map_or("–".into(), |r| {
                                        format!(
                                            "{:.2} ± {:.2} · {:.1} s",
                                            r.is.0, r.is.1, r.seconds.0
                                        )
                                    }))
                                    .small()
                                    .monospace(),
                                );
                            }
                            ui.end_row();
                        }
                    });
            });
    }
}
