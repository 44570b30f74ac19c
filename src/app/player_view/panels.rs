//! The player's panels: the controls bar, the transport, the panes of x_t, x̂₀, ε̂ and the
//! added noise (with the sample/pixel picker), and the compact player beside training.

use super::*;
use crate::explore::tiles::diverging_rgb;

impl PlayerView {
    fn textures(
        &mut self,
        ctx: &egui::Context,
        which: char,
        frame: usize,
    ) -> Option<[egui::TextureHandle; 4]> {
        let pane = match which {
            'a' => &mut self.a,
            'b' => &mut self.b,
            _ => &mut self.branches,
        };
        if let Some((f, g, tex)) = &pane.tex
            && *f == frame
            && *g == pane.generation
        {
            return Some(tex.clone());
        }
        let rec = pane.record.lock().unwrap_or_else(PoisonError::into_inner);
        let fr = rec.frames.get(frame)?;
        let (n, shape) = (rec.n, rec.shape);
        let opts = egui::TextureOptions::NEAREST;
        let name = |k: usize| format!("player_{which}_{k}");
        let load =
            |n: String, img: egui::ColorImage, o| crate::app::widgets::load_picture(ctx, n, img, o);
        let tex = [
            load(name(0), grid_color(&fr.xt, n, shape, false), opts),
            load(name(1), grid_color(&fr.x0, n, shape, false), opts),
            load(name(2), grid_color(&fr.eps, n, shape, true), opts),
            load(name(3), grid_color(&fr.noise, n, shape, true), opts),
        ];
        drop(rec);
        pane.tex = Some((frame, pane.generation, tex.clone()));
        Some(tex)
    }

    /// The frame of pane `which` shown with pane A's frame (synchronised by t).
    fn synced_frame(&self, which: char) -> Option<usize> {
        let t = self.current_t()?;
        match which {
            'a' => Some(self.frame),
            'b' => self.b.frame_for_t(t),
            _ => self.branches.frame_for_t(t),
        }
    }

    /// Draws the view. Without controls (the presenter layout) only the transport, the panes
    /// and the equation are shown.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Commands<Self> {
        if self.show_controls {
            egui::Panel::top("player_controls")
                .frame(crate::app::panel_frame(ui))
                .show(ui, |ui| self.controls_ui(ui));
        }
        egui::Panel::bottom("player_transport")
            .frame(crate::app::panel_frame(ui))
            .show(ui, |ui| self.transport_ui(ui));
        if self.show_controls {
            egui::Panel::right("player_side")
                .frame(crate::app::panel_frame(ui))
                .default_size(420.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui));
                });
        } else {
            // The presenter (#17): x_t and x̂₀ take the height; the step's equation stands in
            // a column beside them, one term per line (whole numbers: it wraps at spaces only).
            let width = (ui.available_width() * 0.26).clamp(280.0, 520.0);
            egui::Panel::right("player_equation")
                .frame(crate::app::panel_frame(ui))
                .exact_size(width)
                .resizable(false)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.equation_column_ui(ui));
                });
        }
        egui::CentralPanel::default()
            .frame(crate::app::central_frame(ui))
            .show(ui, |ui| self.panes_ui(ui, true));
        self.out.take()
    }

    /// A compact player for beside the training plots: pane A's x_t and x̂₀ with transport.
    pub fn compact_ui(&mut self, ui: &mut egui::Ui) -> Commands<Self> {
        ui.heading("Reverse chain");
        ui.horizontal_wrapped(|ui| {
            let live = self.live.is_some();
            ui.add_enabled_ui(live, |ui| {
                if ui
                    .selectable_label(self.source == ModelSource::Live, "Live weights")
                    .on_hover_text("Sample from the model being trained (snapshot of its weights)")
                    .clicked()
                {
                    self.source = ModelSource::Live;
                    self.sample_all();
                }
            });
            // The bundled model stays one click away from the live run (#19).
            if ui
                .selectable_label(
                    matches!(self.source, ModelSource::Bundled(_)),
                    "Bundled model",
                )
                .on_hover_text("Sample the bundled MNIST model instead of the run being trained")
                .clicked()
                && !matches!(self.source, ModelSource::Bundled(_))
            {
                self.source = ModelSource::Bundled(crate::store::DEFAULT_MODEL);
                self.load_model();
                self.sample_after_load = true;
            }
            ui.checkbox(&mut self.follow_live, "Re-sample as it trains");
        });
        if self.source == ModelSource::Live {
            self.live_ui(ui);
        } else {
            ui.label(format!(
                "Weights: {}",
                self.model.as_ref().map_or("—", |m| m.label.as_str())
            ));
        }
        self.transport_ui(ui);
        self.panes_ui(ui, false);
        self.out.take()
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let model_label = ui.label("Model:");
            let mut reload = false;
            egui::ComboBox::from_id_salt("player_source")
                .selected_text(match &self.source {
                    ModelSource::Bundled(name) => crate::store::bundled_model(name)
                        .map_or_else(|| (*name).to_owned(), |m| m.title.to_owned()),
                    ModelSource::Checkpoint(p) => p
                        .file_name()
                        .map_or("checkpoint".into(), |s| s.to_string_lossy().into_owned()),
                    ModelSource::Live => "Live training run".to_owned(),
                })
                .show_ui(ui, |ui| {
                    for m in crate::store::BUNDLED_MODELS {
                        if ui
                            .selectable_label(self.source == ModelSource::Bundled(m.name), m.title)
                            .clicked()
                        {
                            self.source = ModelSource::Bundled(m.name);
                            reload = true;
                        }
                    }
                    if ui
                        .selectable_label(
                            matches!(self.source, ModelSource::Checkpoint(_)),
                            "Checkpoint folder…",
                        )
                        .clicked()
                    {
                        let dialog = crate::app::dialog::FileDialog::new()
                            .set_title("Pick a checkpoint folder");
                        self.out
                            .pick(dialog, PickMode::Folder, |v: &mut Self, dir| {
                                v.source = ModelSource::Checkpoint(dir);
                                v.load_model();
                                v.sample_after_load = true;
                            });
                    }
                    if ui
                        .add_enabled(
                            self.live.is_some(),
                            egui::Button::selectable(
                                self.source == ModelSource::Live,
                                "Live training run",
                            ),
                        )
                        .on_disabled_hover_text(
                            "Start a run in the Training tab; its weights arrive with each preview",
                        )
                        .clicked()
                    {
                        self.source = ModelSource::Live;
                    }
                })
                .response
                .labelled_by(model_label.id);
            if reload {
                self.load_model();
                self.sample_after_load = true;
            }
            if let Some(m) = self.model() {
                ui.label(RichText::new(&m.label).weak());
            }
            ui.separator();
            let l = ui.label("Samples");
            ui.add(egui::DragValue::new(&mut self.n).range(1..=256))
                .labelled_by(l.id);
            let l = ui.label("Seed");
            ui.add(egui::DragValue::new(&mut self.seed))
                .labelled_by(l.id);
            ui.checkbox(&mut self.clip, "Clip x̂₀")
                .on_hover_text("Clip the predicted clean image to [−1, 1] before each update");
            let l = ui.label("Stride");
            ui.add(egui::DragValue::new(&mut self.stride).range(0..=1000))
                .labelled_by(l.id)
                .on_hover_text("Record every k-th step (0: automatic, frames within 64 MiB)");
            self.class_picker_ui(ui);
            ui.separator();
            if self.a.is_sampling() || self.b.is_sampling() {
                let (d, t) = self.a.job.as_ref().map_or((0, 0), ChainJob::progress);
                ui.add(
                    egui::ProgressBar::new(if t == 0 { 0.0 } else { d as f32 / t as f32 })
                        .desired_width(140.0)
                        .text(format!("step {d}/{t}")),
                );
                if ui.button("Cancel").clicked() {
                    for p in [&self.a, &self.b] {
                        if let Some(j) = &p.job {
                            j.cancel();
                        }
                    }
                }
            } else if ui.button(RichText::new("Sample").strong()).clicked() {
                self.sample_all();
            }
        });
        if let Some(e) = &self.model_error {
            ui.colored_label(Color32::LIGHT_RED, e);
        }
        ui.horizontal_wrapped(|ui| {
            let caps = self.pane_caps();
            pane_settings_ui(ui, "a", &mut self.a.settings, caps);
            ui.separator();
            if ui.checkbox(&mut self.compare, "Compare A/B").changed()
                && self.compare
                && self.a.frames() > 0
            {
                self.start_pane('b');
            }
            if self.compare {
                let mut pair = self.pair;
                let l = ui.label("pair");
                egui::ComboBox::from_id_salt("player_pair")
                    .selected_text(pair.label())
                    .show_ui(ui, |ui| {
                        for p in ComparePair::ALL {
                            ui.selectable_value(&mut pair, p, p.label());
                        }
                    })
                    .response
                    .labelled_by(l.id);
                if pair != self.pair {
                    self.apply_pair(pair);
                }
            }
        });
        if self.compare {
            ui.horizontal_wrapped(|ui| {
                let caps = self.pane_caps();
                pane_settings_ui(ui, "b", &mut self.b.settings, caps);
                if self.b.settings.second_model {
                    let name = self
                        .second
                        .as_ref()
                        .map_or("pick…".to_owned(), |m| m.label.clone());
                    if ui.button(format!("Second checkpoint: {name}")).clicked() {
                        let dialog = crate::app::dialog::FileDialog::new();
                        self.out
                            .pick(dialog, PickMode::Folder, |v: &mut Self, dir| {
                                v.set_second(dir)
                            });
                    }
                }
            });
        }
    }

    fn pane_caps(&self) -> PaneCaps {
        PaneCaps {
            conditional: self.model_is_conditional(),
            has_raw: self.model().is_none_or(|m| m.has_raw),
            learns_sigma: self.model().is_some_and(|m| m.ema.learns_sigma()),
        }
    }

    /// Loads the checkpoint pane B samples from in the two-checkpoint comparison.
    pub fn set_second(&mut self, dir: PathBuf) {
        match LoadedModel::load(&dir, "second checkpoint") {
            Ok(m) => self.second = Some(m),
            Err(e) => self.b.error = Some(e),
        }
    }

    fn transport_ui(&mut self, ui: &mut egui::Ui) {
        let frames = self.a.frames();
        ui.horizontal(|ui| {
            if ui.button("|<").on_hover_text("First step (x_T)").clicked() {
                self.seek(0);
                self.playing = false;
            }
            if ui.button("<").on_hover_text("Step back (←)").clicked() {
                self.step_by(-1);
            }
            let play = if self.playing { "Pause" } else { "Play" };
            if ui
                .button(play)
                .on_hover_text("Play / pause (space)")
                .clicked()
            {
                self.toggle_play();
            }
            if ui.button(">").on_hover_text("Step forward (→)").clicked() {
                self.step_by(1);
            }
            if ui.button(">|").on_hover_text("Last step (x₀)").clicked() {
                self.seek(usize::MAX);
                self.playing = false;
            }
            let mut f = self.frame;
            let last = frames.saturating_sub(1);
            let l = ui.label("chain");
            // The slider takes what the t readout and the speed field leave: their width as
            // drawn last frame (text scales with the presenter's text size), so the speed
            // field is never pushed past the window's edge.
            let tail_id = ui.scope_id().with("transport_tail");
            let tail = ui.data(|d| d.get_temp::<f32>(tail_id)).unwrap_or(260.0);
            let gap = ui.spacing().item_spacing.x;
            let w = (ui.available_width() - tail - 2.0 * gap).max(80.0);
            ui.spacing_mut().slider_width = w;
            if ui
                .add_enabled(
                    frames > 1,
                    egui::Slider::new(&mut f, 0..=last).show_value(false),
                )
                .on_hover_text("Scrub over the recorded chain")
                .labelled_by(l.id)
                .changed()
            {
                self.frame = f;
                self.following = false;
                self.playing = false;
            }
            let t = self.current_t().map_or("—".into(), |t| t.to_string());
            // Wide enough for any t of the chain, so the row does not shift as t changes.
            let start = ui
                .label(RichText::new(format!("t = {t:>4}")).monospace().strong())
                .rect
                .min
                .x;
            let l = ui.label("speed");
            let end = ui
                .add(
                    egui::DragValue::new(&mut self.speed)
                        .range(1.0..=120.0)
                        .suffix(" fps"),
                )
                .labelled_by(l.id)
                .rect
                .max
                .x;
            ui.data_mut(|d| d.insert_temp(tail_id, end - start));
        });
    }

    fn panes_ui(&mut self, ui: &mut egui::Ui, full: bool) {
        let mut rows: Vec<char> = vec!['a'];
        if full && self.compare {
            rows.push('b');
        }
        if full && self.branches.frames() > 0 {
            rows.push('r');
        }
        // The presenter (#17) shows the two pictures a class looks at, x_t and x̂₀, at twice
        // the size; ε̂ and the added noise stay in the normal layout.
        let cols = if full && self.show_controls { 4 } else { 2 };
        // The presenter folds the pane's title into the first picture's caption: one caption
        // line per row instead of two.
        let presenter = full && !self.show_controls;
        let avail = ui.available_size();
        let caption = ui.text_style_height(&egui::TextStyle::Body) + ui.spacing().item_spacing.y;
        let captions = if presenter { 1.0 } else { 2.0 };
        let size = ((avail.x - 12.0 * cols as f32) / cols as f32)
            .min(avail.y / rows.len() as f32 - caption * captions - 8.0)
            .max(48.0);
        for which in rows {
            let pane = match which {
                'a' => &self.a,
                'b' => &self.b,
                _ => &self.branches,
            };
            let title = match which {
                'a' if full && self.compare => format!("A · {}", pane.label),
                'b' => format!("B · {}", pane.label),
                'r' => pane.label.clone(),
                _ => pane.label.clone(),
            };
            if let Some(e) = &pane.error {
                ui.colored_label(Color32::LIGHT_RED, e);
            }
            if !presenter {
                ui.label(RichText::new(&title).strong());
            }
            let Some(frame) = self.synced_frame(which) else {
                if which == 'a' {
                    ui.label(if self.loader.is_some() {
                        "Loading the model…"
                    } else if self.a.is_sampling() {
                        "Sampling…"
                    } else {
                        "Press Sample to draw a chain."
                    });
                }
                continue;
            };
            let Some(tex) = self.textures(ui.ctx(), which, frame) else {
                continue;
            };
            let (n, shape) = {
                let r = match which {
                    'a' => self.a.lock(),
                    'b' => self.b.lock(),
                    _ => self.branches.lock(),
                };
                (r.n, r.shape)
            };
            ui.horizontal(|ui| {
                for (k, t) in tex.iter().enumerate().take(cols) {
                    ui.vertical(|ui| {
                        if presenter && k == 0 {
                            ui.label(format!("{}  ·  {title}", PICTURES[k]));
                        } else {
                            ui.label(PICTURES[k]);
                        }
                        let img_size = t.size_vec2();
                        let scale = size / img_size.x.max(img_size.y);
                        let resp = ui.add(
                            egui::Image::new((t.id(), img_size * scale))
                                .alt_text(format!("{title}: {}", PICTURES[k]))
                                .sense(egui::Sense::click()),
                        );
                        crate::app::widgets::picture_menu(
                            &resp,
                            t.id(),
                            &format!("{title} {}", PICTURES[k]),
                        );
                        self.grid_overlay(ui, &resp, n, shape, which == 'a');
                    });
                }
            });
        }
    }

    /// Outlines the selected sample and picks sample/pixel on click.
    fn grid_overlay(
        &mut self,
        ui: &egui::Ui,
        resp: &egui::Response,
        n: usize,
        shape: [usize; 3],
        pickable: bool,
    ) {
        let [_, h, w] = shape;
        let cols = grid_cols(n);
        let rows = n.div_ceil(cols).max(1);
        let (gw, gh) = ((cols * (w + 1) + 1) as f32, (rows * (h + 1) + 1) as f32);
        let rect = resp.rect;
        let sx = rect.width() / gw;
        let sy = rect.height() / gh;
        if n > 1 && self.selected < n {
            let i = self.selected;
            let (ox, oy) = (
                (1 + (i % cols) * (w + 1)) as f32,
                (1 + (i / cols) * (h + 1)) as f32,
            );
            let r = egui::Rect::from_min_size(
                rect.min + egui::vec2(ox * sx, oy * sy),
                egui::vec2(w as f32 * sx, h as f32 * sy),
            );
            ui.painter().rect_stroke(
                r,
                0.0,
                egui::Stroke::new(2.0, Color32::from_rgb(255, 200, 0)),
                egui::StrokeKind::Outside,
            );
        }
        if pickable
            && resp.clicked()
            && let Some(pos) = resp.interact_pointer_pos()
        {
            let gx = ((pos.x - rect.min.x) / sx) as usize;
            let gy = ((pos.y - rect.min.y) / sy) as usize;
            let (col, row) = (gx / (w + 1), gy / (h + 1));
            let (px, py) = (
                (gx % (w + 1)).saturating_sub(1),
                (gy % (h + 1)).saturating_sub(1),
            );
            let i = row * cols + col;
            if i < n {
                if i != self.selected {
                    self.pixels.clear();
                }
                self.selected = i;
                let p = py.min(h - 1) * w + px.min(w - 1);
                if let Some(k) = self.pixels.iter().position(|&q| q == p) {
                    self.pixels.remove(k);
                } else if self.pixels.len() < 8 {
                    self.pixels.push(p);
                }
            }
        }
    }
}

/// What the loaded model offers a pane's settings.
#[derive(Clone, Copy)]
struct PaneCaps {
    /// The model is class-conditional (the w slider).
    conditional: bool,
    /// The model has raw weights of its own (not only EMA).
    has_raw: bool,
    /// The model learned Σ (the learned-Σ samplers need it).
    learns_sigma: bool,
}

fn pane_settings_ui(ui: &mut egui::Ui, id: &str, s: &mut PaneSettings, caps: PaneCaps) {
    let l = ui.label(RichText::new(id.to_uppercase()).strong());
    egui::ComboBox::from_id_salt(format!("sampler_{id}"))
        .selected_text(s.sampler.label())
        .show_ui(ui, |ui| {
            for c in SamplerChoice::ALL {
                if c.needs_learned_sigma() && !caps.learns_sigma {
                    ui.add_enabled(false, egui::Button::selectable(false, c.label()))
                        .on_disabled_hover_text(format!(
                            "{}\n\nThis model has a fixed variance: train one with loss = \
                             hybrid (Training view, or train.loss in a preset) to use it",
                            c.tooltip()
                        ));
                    continue;
                }
                ui.selectable_value(&mut s.sampler, c, c.label())
                    .on_hover_text(c.tooltip());
            }
        })
        .response
        .labelled_by(l.id);
    if s.sampler.needs_learned_sigma() && !caps.learns_sigma {
        // A model without v (e.g. loaded after a learned-Σ one): its fixed-Σ twin.
        s.sampler = s.sampler.fixed_twin();
    }
    match s.sampler {
        SamplerChoice::Ddim => {
            let l = ui.label("S");
            ui.add(egui::DragValue::new(&mut s.steps).range(1..=1000))
                .labelled_by(l.id);
            let l = ui.label("η");
            ui.add(egui::Slider::new(&mut s.eta, 0.0..=1.0).fixed_decimals(2))
                .labelled_by(l.id);
            let l = ui.label("spacing");
            egui::ComboBox::from_id_salt(format!("spacing_{id}"))
                .selected_text(s.spacing.name())
                .show_ui(ui, |ui| {
                    for sp in Spacing::ALL {
                        ui.selectable_value(&mut s.spacing, sp, sp.name());
                    }
                })
                .response
                .labelled_by(l.id);
        }
        SamplerChoice::Iddpm | SamplerChoice::IddpmLearned => {
            let l = ui.label("K");
            ui.add(egui::DragValue::new(&mut s.steps).range(1..=1000))
                .labelled_by(l.id);
            let l = ui.label("rounding");
            egui::ComboBox::from_id_salt(format!("stride_rule_{id}"))
                .selected_text(s.stride_rule.name())
                .show_ui(ui, |ui| {
                    for r in StrideRule::ALL {
                        ui.selectable_value(&mut s.stride_rule, r, r.name())
                            .on_hover_text(match r {
                                StrideRule::Floor => {
                                    "Seed 004 Method 5.1: t_k = 1 + floor((k−1)(T−1)/(K−1))"
                                }
                                StrideRule::Round => {
                                    "improved-diffusion's space_timesteps: the stride (T−1)/(K−1) \
                                     accumulated and rounded half to even"
                                }
                            });
                    }
                })
                .response
                .labelled_by(l.id)
                .on_hover_text(
                    "How the K timesteps are rounded: the two rules differ by one step at about \
                     half the positions (T = 4000, K = 100)",
                );
        }
        SamplerChoice::EulerKarras | SamplerChoice::HeunKarras | SamplerChoice::DpmPp2m => {
            let l = ui.label("S");
            ui.add(egui::DragValue::new(&mut s.steps).range(1..=1000))
                .labelled_by(l.id)
                .on_hover_text(
                    "Points of the Karras σ grid (ρ = 7), each snapped to the nearest trained t",
                );
        }
        SamplerChoice::Ddpm | SamplerChoice::DdpmTilde | SamplerChoice::DdpmLearned => {
            ui.label("all T steps");
        }
    }
    ui.selectable_value(&mut s.weights, Weights::Ema, "EMA");
    if caps.has_raw {
        ui.selectable_value(&mut s.weights, Weights::Raw, "raw");
    } else {
        s.weights = Weights::Ema;
        ui.add_enabled(false, egui::Button::selectable(false, "raw"))
            .on_disabled_hover_text(
                "This model ships only its EMA weights: raw would sample the same weights",
            );
    }
    if caps.conditional {
        let l = ui.label("w");
        ui.add(egui::Slider::new(&mut s.cfg_w, 0.0..=10.0).fixed_decimals(1))
            .labelled_by(l.id)
            .on_hover_text(
                "Classifier-free guidance weight: ε_w = (1 + w)·ε(x, y) − w·ε(x, null); 0 is the \
                 conditional model alone",
            );
    }
}

/// Lays out the n images of a frame as a near-square grid with 1-px gaps.
fn grid_color(q: &QFrame, n: usize, shape: [usize; 3], diverging: bool) -> egui::ColorImage {
    let [c, h, w] = shape;
    let cols = grid_cols(n);
    let rows = n.div_ceil(cols).max(1);
    let (gw, gh) = (cols * (w + 1) + 1, rows * (h + 1) + 1);
    let mut px = vec![Color32::from_gray(45); gw * gh];
    let plane = h * w;
    // ε̂ and σ·z are N(0, 1)-sized and σ·z is small: scale the diverging map to the frame.
    let range = q.lo.abs().max(q.hi.abs()).max(1e-6);
    for i in 0..n {
        let (ox, oy) = (1 + (i % cols) * (w + 1), 1 + (i / cols) * (h + 1));
        let base = i * c * plane;
        for y in 0..h {
            for x in 0..w {
                let v = |ch: usize| q.value(base + ch * plane + y * w + x);
                let color = if diverging {
                    let s = if c == 3 {
                        (v(0) + v(1) + v(2)) / 3f32.sqrt()
                    } else {
                        v(0)
                    };
                    let [r, g, b] = diverging_rgb(s, range);
                    Color32::from_rgb(r, g, b)
                } else if c == 3 {
                    let b = |ch| crate::data::unit_to_u8(v(ch));
                    Color32::from_rgb(b(0), b(1), b(2))
                } else {
                    Color32::from_gray(crate::data::unit_to_u8(v(0)))
                };
                px[(oy + y) * gw + ox + x] = color;
            }
        }
    }
    egui::ColorImage::new([gw, gh], px)
}
