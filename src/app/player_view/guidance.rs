//! Asking a class-conditional model for a class in the player: the class picker, the guidance
//! weight w of each pane (classifier-free guidance, seed 004 §5.3), and the "w sweep" strip
//! that shows one x_T across w = 0, 0.5, 1, 2, 4, 8.

use super::*;
use crate::app::widgets::PlotMenu;
use crate::metrics::{GUIDANCE_WEIGHTS as SWEEP_WEIGHTS, GuidanceCurve};
use crate::sampling::Guidance;
use std::path::PathBuf;
use std::sync::Arc;

/// Classifier-free guidance as the Guidance section writes it.
pub const CFG_FORMULA: &str = "ε_w = (1 + w)·ε_θ(x_t, y) − w·ε_θ(x_t, null)";

/// Classifier guidance as the γ slider's hint writes it.
pub const CG_FORMULA: &str = "ε_γ = ε − γ·√(1 − ᾱ_t)·grad log p_φ(y | x_t)";

/// The guidance formulas the player shows (for the font test).
pub fn guidance_formulas() -> [&'static str; 2] {
    [CFG_FORMULA, CG_FORMULA]
}

/// What the w sweep's job returns: one final image per weight, or None when cancelled.
type SweepResult = Result<Option<Vec<Vec<f32>>>, String>;

/// Which class the grid asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClassPick {
    /// One row per class (the grid grows to classes × classes samples when picked).
    #[default]
    Rows,
    /// One class for the whole grid.
    One(usize),
    /// The null label: the model's unconditional samples.
    Unconditional,
}

/// The player's guidance state.
pub struct GuidanceState {
    /// The class the grid asks for.
    pub pick: ClassPick,
    sweep: Option<BgJob<SweepResult>>,
    /// The last sweep: (w, final image) for the selected sample, and its class.
    pub sweep_images: Vec<(f64, Vec<f32>)>,
    /// The class the last sweep asked for.
    pub sweep_class: usize,
    /// What went wrong last.
    pub error: Option<String>,
    tex: Vec<egui::TextureHandle>,
    curve_job: Option<BgJob<Result<Option<GuidanceCurve>, String>>>,
    /// The last measured trade-off curve.
    pub curve: Option<GuidanceCurve>,
    /// Samples per class for the curve.
    pub curve_per_class: usize,
    /// The noisy classifier of classifier guidance, and its folder.
    pub classifier: Option<Arc<crate::model::NoisyClassifier>>,
    /// The folder `classifier` came from.
    pub classifier_dir: Option<PathBuf>,
    /// Classifier-guidance scale γ (used while a classifier is loaded).
    pub gamma: f64,
}

impl Default for GuidanceState {
    fn default() -> Self {
        Self {
            pick: ClassPick::default(),
            sweep: None,
            sweep_images: Vec::new(),
            sweep_class: 0,
            error: None,
            tex: Vec::new(),
            curve_job: None,
            curve: None,
            curve_per_class: 20,
            classifier: None,
            classifier_dir: None,
            gamma: 1.0,
        }
    }
}

impl GuidanceState {
    /// Whether a sweep or a curve measurement is running.
    pub fn is_sweeping(&self) -> bool {
        self.sweep.as_ref().is_some_and(|j| !j.is_finished())
            || self.curve_job.as_ref().is_some_and(|j| !j.is_finished())
    }
}

impl PlayerView {
    /// The classes the grid can ask for: the model's own (a class-conditional model), else
    /// the noisy classifier's (classifier guidance), else 0.
    pub fn model_classes(&self) -> usize {
        match (
            self.model().map_or(0, |m| m.ema.num_classes()),
            &self.guidance.classifier,
        ) {
            (0, Some(c)) => c.info.classes.len(),
            (k, _) => k,
        }
    }

    /// Whether the loaded model itself is class-conditional (classifier-free guidance).
    pub fn model_is_conditional(&self) -> bool {
        self.model().is_some_and(|m| m.ema.num_classes() > 0)
    }

    /// The loaded model for a background job, with the noisy classifier attached.
    pub(super) fn job_model(&self) -> Option<LoadedModel> {
        self.model().cloned().map(|mut m| {
            m.classifier = self.guidance.classifier.clone();
            m
        })
    }

    /// Loads the noisy classifier in `dir` for classifier guidance (its image shape must be
    /// the model's). It is a small file, read on the spot.
    pub fn set_classifier(&mut self, dir: PathBuf) -> Result<(), String> {
        let c = crate::model::NoisyClassifier::open(&dir)?;
        if let Some(m) = self.model()
            && m.shape != c.info.shape
        {
            return Err(format!(
                "the classifier takes {:?} images but the model makes {:?}",
                c.info.shape, m.shape
            ));
        }
        self.guidance.classifier = Some(Arc::new(c));
        self.guidance.classifier_dir = Some(dir);
        Ok(())
    }

    /// The guidance a chain of `n` samples uses with weight `w` on a model of `classes` labels.
    pub(super) fn guidance_for(&self, classes: usize, w: f64, n: usize) -> Option<Guidance> {
        if classes == 0 {
            return None;
        }
        match self.guidance.pick {
            ClassPick::Unconditional => None,
            ClassPick::One(c) => Some(Guidance::class(c.min(classes - 1), w)),
            ClassPick::Rows => Some(Guidance::rows_of_classes(n, grid_cols(n), classes, w)),
        }
        .map(|mut g| {
            if self.guidance.classifier.is_some() {
                g.gamma = self.guidance.gamma;
            }
            g
        })
    }

    /// Picks the class (and, for one row per class, a square grid of every class).
    pub fn set_class_pick(&mut self, pick: ClassPick) {
        let classes = self.model_classes();
        if pick == ClassPick::Rows && classes > 0 && grid_cols(self.n) != classes {
            self.n = classes * classes;
        }
        self.guidance.pick = pick;
    }

    /// The class picker, shown only for a class-conditional model.
    pub(super) fn class_picker_ui(&mut self, ui: &mut egui::Ui) {
        let classes = self.model_classes();
        if classes == 0 {
            return;
        }
        ui.separator();
        let l = ui.label("Class");
        // A bundled data set's class names (Fashion-MNIST's "T-shirt/top", …) beside the index.
        let names: Vec<String> = match self.model().map(|m| &m.config.data) {
            Some(crate::config::DataSpec::Bundled { name, .. }) => crate::data::bundled_meta(name)
                .ok()
                .and_then(|m| m.classes)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let name = |p: ClassPick| match p {
            ClassPick::Rows => "every class (rows)".to_owned(),
            ClassPick::One(c) => match names.get(c) {
                Some(n) if *n != c.to_string() => format!("{c}: {n}"),
                _ => format!("{c}"),
            },
            ClassPick::Unconditional => "none (unconditional)".to_owned(),
        };
        let mut pick = self.guidance.pick;
        egui::ComboBox::from_id_salt("player_class")
            .selected_text(name(pick))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut pick, ClassPick::Rows, name(ClassPick::Rows));
                for c in 0..classes {
                    ui.selectable_value(&mut pick, ClassPick::One(c), name(ClassPick::One(c)));
                }
                ui.selectable_value(
                    &mut pick,
                    ClassPick::Unconditional,
                    name(ClassPick::Unconditional),
                );
            })
            .response
            .labelled_by(l.id)
            .on_hover_text(
                "The label the model is asked for; 'every class' gives one row per class. \
                 The null label gives the model's unconditional samples.",
            );
        if pick != self.guidance.pick {
            self.set_class_pick(pick);
        }
    }

    /// Runs the w sweep of the selected sample with pane A's sampler in the background.
    pub fn run_w_sweep(&mut self) {
        let Some(model) = self.job_model() else {
            self.guidance.error = Some("no model loaded".into());
            return;
        };
        let classes = self.model_classes();
        if classes == 0 {
            self.guidance.error = Some(
                "this model is unconditional: load a class-conditional one (mnist-cond) or a \
                 noisy classifier"
                    .into(),
            );
            return;
        }
        let i = self.selected.min(self.n.saturating_sub(1));
        let class = match self.guidance_for(classes, 0.0, self.n) {
            Some(g) => g.label(i),
            None => {
                self.guidance.error = Some("pick a class first".into());
                return;
            }
        };
        let plan = match SamplerPlan::new(&model.table, self.a.settings.kind()) {
            Ok(p) => p,
            Err(e) => {
                self.guidance.error = Some(e.to_string());
                return;
            }
        };
        let (seed, clip, weights) = (self.seed, self.clip, self.a.settings.weights);
        self.guidance.error = None;
        self.guidance.sweep_class = class;
        let (job, launch) = BgJob::prepare("w sweep", self.wake(), move |ctx| {
            let den = model.denoiser(weights);
            ctx.set_total(SWEEP_WEIGHTS.len());
            let mut out = Vec::new();
            for (k, &w) in SWEEP_WEIGHTS.iter().enumerate() {
                let mut spec = ChainSpec::new(plan.clone(), 1, seed, clip);
                spec.first_index = i;
                spec.stride = usize::MAX;
                spec.guidance = Some(Guidance::class(class, w));
                match run_chain(&den, &spec, ctx.cancel_flag(), |_, _| {}) {
                    Some(x) => out.push(x),
                    None => return Ok(None),
                }
                if !ctx.set_done(k + 1) {
                    return Ok(None);
                }
            }
            Ok(Some(out))
        });
        self.out.start(launch);
        self.guidance.sweep = Some(job);
    }

    /// Measures seed 004's trade-off (accuracy on the asked class and per-class FID over w)
    /// of the loaded model in the background, with pane A's sampler.
    pub fn measure_guidance_curve(&mut self) {
        let Some(model) = self.job_model() else {
            self.guidance.error = Some("no model loaded".into());
            return;
        };
        let (kind, weights, per_class, seed) = (
            self.a.settings.kind(),
            self.a.settings.weights,
            self.guidance.curve_per_class,
            self.seed,
        );
        self.guidance.error = None;
        let (job, launch) = BgJob::prepare("guidance curve", self.wake(), move |ctx| {
            let net =
                crate::metrics::classifier_for(&model.config.data).map_err(|e| e.to_string())?;
            let den = model.denoiser(weights);
            crate::metrics::guidance_curve(
                &den,
                &net,
                kind,
                crate::metrics::guidance::GuidanceAxis::Cfg,
                &SWEEP_WEIGHTS,
                per_class,
                seed,
                &mut |d, t| {
                    ctx.set_total(t);
                    ctx.set_done(d)
                },
            )
        });
        self.out.start(launch);
        self.guidance.curve_job = Some(job);
    }

    /// Collects a finished sweep or curve.
    pub(super) fn poll_guidance(&mut self) {
        if let Some(job) = &mut self.guidance.curve_job
            && let Some(result) = job.take()
        {
            match result {
                Some(Ok(Some(curve))) => self.guidance.curve = Some(curve),
                Some(Ok(None)) => self.guidance.error = Some("cancelled".into()),
                Some(Err(e)) => self.guidance.error = Some(e),
                None => self.guidance.error = Some("the measurement failed unexpectedly".into()),
            }
            self.guidance.curve_job = None;
        }
        if let Some(job) = &mut self.guidance.sweep
            && let Some(result) = job.take()
        {
            match result {
                Some(Ok(Some(images))) => {
                    self.guidance.sweep_images =
                        SWEEP_WEIGHTS.iter().copied().zip(images).collect();
                    self.guidance.tex.clear();
                }
                Some(Ok(None)) => self.guidance.error = Some("cancelled".into()),
                Some(Err(e)) => self.guidance.error = Some(e),
                None => self.guidance.error = Some("the sweep failed unexpectedly".into()),
            }
            self.guidance.sweep = None;
        }
    }

    /// The side section: what guidance does, and the w sweep.
    pub(super) fn guidance_ui(&mut self, ui: &mut egui::Ui) {
        self.classifier_ui(ui);
        let classes = self.model_classes();
        if classes == 0 {
            ui.label(
                "This model is unconditional. Load the class-conditional model (Model → MNIST, \
                 class-conditional) to ask for a digit, or a noisy classifier above to steer \
                 this one (classifier guidance).",
            );
            return;
        }
        if !self.model_is_conditional() {
            // Classifier guidance on an unconditional model: no w, no curve over w.
            return;
        }
        ui.label(RichText::new(CFG_FORMULA).monospace().strong());
        ui.label(
            "w = 0 is the conditional model alone; larger w pushes each step towards the class \
             (clearer digits, less variety). The guidance scale of other code is 1 + w.",
        );
        ui.horizontal(|ui| {
            let busy = self.guidance.is_sweeping();
            if ui
                .add_enabled(!busy, egui::Button::new("Sweep w"))
                .on_hover_text(format!(
                    "The selected sample (#{}) from the same x_T at w = 0, 0.5, 1, 2, 4, 8, with \
                     sampler A",
                    self.selected
                ))
                .clicked()
            {
                self.run_w_sweep();
            }
            if let Some(j) = &self.guidance.sweep {
                job_progress_ui(ui, j);
            }
        });
        if let Some(e) = &self.guidance.error {
            ui.colored_label(Color32::LIGHT_RED, e);
        }
        self.sweep_strip_ui(ui);
        ui.separator();
        self.curve_ui(ui);
    }

    /// The noisy classifier of classifier guidance: pick a folder, and its γ.
    fn classifier_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Noisy classifier:");
            let name = self
                .guidance
                .classifier_dir
                .as_ref()
                .and_then(|d| d.file_name())
                .map_or("none".to_owned(), |n| n.to_string_lossy().into_owned());
            ui.label(RichText::new(name).strong());
            if ui
                .button("Pick folder…")
                .on_hover_text(
                    "A folder written by `diffusion-lab classifier train-noisy` (seed 001 \
                     Alg. 4): its gradient steers the chain towards the class asked for",
                )
                .clicked()
            {
                let dialog = crate::app::dialog::FileDialog::new()
                    .set_title("Pick a noisy-classifier folder");
                self.out
                    .pick(dialog, PickMode::Folder, |v: &mut Self, dir| {
                        if let Err(e) = v.set_classifier(dir) {
                            v.guidance.error = Some(e);
                        }
                    });
            }
            if self.guidance.classifier.is_none()
                && let Some(shape) = self.model().map(|m| m.shape)
            {
                for (name, _, info) in crate::model::BUNDLED_NOISY {
                    // The shipped classifiers are for 28×28 grey digits.
                    let fits = shape == [1, 28, 28] && info.contains("\"mnist\"");
                    if fits
                        && ui
                            .button(format!("Use bundled {name}"))
                            .on_hover_text("The noisy classifier shipped with the app")
                            .clicked()
                        && let Err(e) =
                            self.set_classifier(PathBuf::from(format!("bundled:{name}")))
                    {
                        self.guidance.error = Some(e);
                    }
                }
            }
            if self.guidance.classifier.is_some() {
                if ui.button("Remove").clicked() {
                    self.guidance.classifier = None;
                    self.guidance.classifier_dir = None;
                }
                let l = ui.label("γ");
                ui.add(egui::Slider::new(&mut self.guidance.gamma, 0.0..=10.0).fixed_decimals(1))
                    .labelled_by(l.id)
                    .on_hover_text(
                        "ε̂ = ε − γ·√(1 − ᾱ_t)·∇ log p_φ(y | x_t); 0: no classifier guidance",
                    );
            }
        });
    }

    /// The trade-off curve: its button, progress, and two plots over w.
    fn curve_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let busy = self.guidance.is_sweeping();
            if ui
                .add_enabled(!busy, egui::Button::new("Measure accuracy and FID over w"))
                .on_hover_text(
                    "Samples every class at w = 0, 0.5, 1, 2, 4, 8 from the same x_T (sampler A), \
                     then the app's classifier says how often it sees the class asked for, and \
                     how far each class's samples lie from held-out images of that class \
                     (seed 004's trade-off; `diffusion-lab bench guidance` on the command line)",
                )
                .clicked()
            {
                self.measure_guidance_curve();
            }
            let l = ui.label("per class");
            ui.add(egui::DragValue::new(&mut self.guidance.curve_per_class).range(2..=500))
                .labelled_by(l.id);
            if let Some(j) = &self.guidance.curve_job {
                job_progress_ui(ui, j);
            }
        });
        let Some(curve) = &self.guidance.curve else {
            return;
        };
        ui.label(RichText::new(&curve.features).weak().small());
        let acc: PlotPoints = curve
            .points
            .iter()
            .map(|p| [p.w, 100.0 * p.accuracy])
            .collect();
        let cfid: PlotPoints = curve.points.iter().map(|p| [p.w, p.class_fid]).collect();
        crate::app::columns(ui, 2, |cols| {
            crate::app::plot("guidance_accuracy")
                .height(130.0)
                .x_axis_label("w")
                .y_axis_label("asked class recognised (%)")
                .include_y(100.0)
                .show_menu("guidance_accuracy", &mut cols[0], |plot| {
                    plot.line(crate::app::widgets::line("accuracy", acc));
                });
            crate::app::plot("guidance_fid")
                .height(130.0)
                .x_axis_label("w")
                .y_axis_label("per-class FID")
                .include_y(0.0)
                .show_menu("guidance_fid", &mut cols[1], |plot| {
                    plot.line(crate::app::widgets::line("class FID", cfid));
                });
        });
        egui::Grid::new("guidance_curve_table")
            .striped(true)
            .show(ui, |ui| {
                for h in ["w", "accuracy", "class FID", "FID", "IS"] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for p in &curve.points {
                    ui.label(format!("{}", p.w));
                    ui.label(format!("{:.1}%", 100.0 * p.accuracy));
                    ui.label(format!("{:.1}", p.class_fid));
                    ui.label(format!("{:.1}", p.fid));
                    ui.label(format!("{:.2}", p.is));
                    ui.end_row();
                }
            });
    }

    /// The w sweep's images with their weights.
    fn sweep_strip_ui(&mut self, ui: &mut egui::Ui) {
        let Some(shape) = self.model().map(|m| m.shape) else {
            return;
        };
        if self.guidance.sweep_images.is_empty() {
            return;
        }
        if self.guidance.tex.len() != self.guidance.sweep_images.len() {
            self.guidance.tex = self
                .guidance
                .sweep_images
                .iter()
                .enumerate()
                .map(|(k, (_, img))| {
                    crate::app::widgets::load_picture(
                        ui.ctx(),
                        format!("w_sweep_{k}"),
                        image_color(img, shape),
                        egui::TextureOptions::NEAREST,
                    )
                })
                .collect();
        }
        ui.label(format!("class {}:", self.guidance.sweep_class));
        ui.horizontal_wrapped(|ui| {
            for ((w, _), tex) in self.guidance.sweep_images.iter().zip(&self.guidance.tex) {
                ui.vertical(|ui| {
                    crate::app::widgets::picture(
                        ui,
                        tex.id(),
                        egui::vec2(56.0, 56.0),
                        &format!("w sweep w {w}"),
                    );
                    ui.label(format!("w = {w}"));
                });
            }
        });
    }
}

/// A running job's "done/total" bar and its Cancel button.
fn job_progress_ui<T: Send + 'static>(ui: &mut egui::Ui, job: &BgJob<T>) {
    let (d, t) = job.progress();
    ui.add(
        egui::ProgressBar::new(job.fraction())
            .desired_width(100.0)
            .text(format!("{d}/{t}")),
    );
    if ui.button("Cancel").clicked() {
        job.cancel();
    }
}

/// One image (flat [C, H, W] in [−1, 1]) as a colour image.
pub(super) fn image_color(x: &[f32], [c, h, w]: [usize; 3]) -> egui::ColorImage {
    let u = |v: f32| crate::data::unit_to_u8(v);
    let pixels = (0..h * w)
        .map(|p| {
            if c == 3 {
                Color32::from_rgb(u(x[p]), u(x[h * w + p]), u(x[2 * h * w + p]))
            } else {
                let g = u(x[p]);
                Color32::from_rgb(g, g, g)
            }
        })
        .collect();
    egui::ColorImage::new([w, h], pixels)
}
