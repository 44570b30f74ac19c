//! The schedule lab: β, ᾱ and SNR of any number of schedules, overlaid, with live validation.

use crate::app::widgets::PlotMenu;
use crate::diffusion::schedule::TERMINAL_ALPHA_BAR_LIMIT;
use crate::diffusion::{Badges, Param, ScheduleError, ScheduleKind, ScheduleSpec, ScheduleTable};
use egui::{Color32, RichText};
use egui_plot::{Legend, PlotPoint, PlotPoints};
use std::sync::Arc;

/// The formula a custom schedule starts from in the lab: quadratic in u, so it is visibly not
/// linear (the CLI's default `--expr` is linear, which drew exactly over the linear curve).
pub const LAB_CUSTOM_EXPR: &str = "1e-4 + 0.02 * u^2";

/// Curves longer than this are thinned for drawing (the table itself is never thinned).
const MAX_PLOT_POINTS: usize = 4000;

use super::PALETTE;
use super::command::{AppCommand, Commands, HasOutbox, Outbox};

/// The x axis of the plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// The step t.
    Step,
    /// t/T, so schedules with different T line up.
    Fraction,
}

/// A schedule's computed curves, rebuilt only when its parameters change.
struct Curves {
    table: ScheduleTable,
    badges: Badges,
    /// (t, β_t), (t, log₁₀ β_t), (t, ᾱ_t), (t, log₁₀ SNR_t), thinned.
    beta: Vec<[f64; 2]>,
    log10_beta: Vec<[f64; 2]>,
    alpha_bar: Vec<[f64; 2]>,
    log10_snr: Vec<[f64; 2]>,
}

impl Curves {
    fn new(table: ScheduleTable) -> Self {
        let n = table.steps();
        let stride = n.div_ceil(MAX_PLOT_POINTS).max(1);
        let mut idx: Vec<usize> = (0..n).step_by(stride).collect();
        if idx.last() != Some(&(n - 1)) {
            idx.push(n - 1);
        }
        let pts = |f: &dyn Fn(usize) -> f64| idx.iter().map(|&i| [(i + 1) as f64, f(i)]).collect();
        let beta = pts(&|i| table.beta[i]);
        let log10_beta = pts(&|i| table.beta[i].log10());
        let alpha_bar = pts(&|i| table.alpha_bar[i]);
        let log10_snr = pts(&|i| table.log_snr[i] / std::f64::consts::LN_10);
        let badges = table.badges();
        Self {
            table,
            badges,
            beta,
            log10_beta,
            alpha_bar,
            log10_snr,
        }
    }
}

/// One schedule in the lab.
pub struct ScheduleEntry {
    /// The parameters being edited.
    pub spec: ScheduleSpec,
    /// Its curve colour.
    pub color: Color32,
    /// Whether it is drawn.
    pub visible: bool,
    computed_for: Option<ScheduleSpec>,
    result: Result<Arc<Curves>, ScheduleError>,
}

impl ScheduleEntry {
    /// A new entry for `spec`, validated at once.
    pub fn new(spec: ScheduleSpec, color: Color32) -> Self {
        let mut e = Self {
            spec,
            color,
            visible: true,
            computed_for: None,
            result: Err(ScheduleError::StepsOutOfRange(0)),
        };
        e.refresh();
        e
    }

    /// Recomputes the table if the parameters changed since the last time.
    pub fn refresh(&mut self) {
        if self.computed_for.as_ref() == Some(&self.spec) {
            return;
        }
        self.result = self.spec.table().map(|t| Arc::new(Curves::new(t)));
        self.computed_for = Some(self.spec.clone());
    }

    /// The validation error, if the parameters are invalid.
    pub fn error(&self) -> Option<&ScheduleError> {
        self.result.as_ref().err()
    }

    /// The table, if valid.
    pub fn table(&self) -> Option<&ScheduleTable> {
        self.result.as_ref().ok().map(|c| &c.table)
    }

    /// The badges, if valid.
    pub fn badges(&self) -> Option<&Badges> {
        self.result.as_ref().ok().map(|c| &c.badges)
    }
}

/// The schedule lab view.
pub struct ScheduleLab {
    /// The schedules, in the order they were added.
    pub entries: Vec<ScheduleEntry>,
    /// The x axis of the plots.
    pub x_axis: XAxis,
    /// Draw β on a log axis (cosine's clipped β_T otherwise flattens every other curve).
    pub log_beta: bool,
    next_color: usize,
    /// What leaves the view ("Use in the forward view"), run by the app.
    out: Outbox<Self>,
}

impl HasOutbox for ScheduleLab {
    fn outbox(&mut self) -> &mut Outbox<Self> {
        &mut self.out
    }
}

impl Default for ScheduleLab {
    fn default() -> Self {
        let mut lab = Self {
            entries: Vec::new(),
            x_axis: XAxis::Step,
            log_beta: true,
            next_color: 0,
            out: Outbox::default(),
        };
        lab.add(ScheduleSpec::new(ScheduleKind::Linear, 1000));
        lab.add(ScheduleSpec::new(ScheduleKind::Cosine, 1000));
        lab
    }
}

/// What the side panel asked for this frame; applied after drawing.
enum Action {
    Add(ScheduleKind),
    Remove(usize),
}

impl ScheduleLab {
    /// Replaces the schedules with `specs` (e.g. the forward view's).
    pub fn set_schedules(&mut self, specs: &[ScheduleSpec]) {
        self.entries.clear();
        self.next_color = 0;
        for s in specs {
            self.add(s.clone());
        }
    }

    /// The valid, shown schedules (what "Use in the forward view" sends).
    pub fn shown_specs(&self) -> Vec<ScheduleSpec> {
        self.entries
            .iter()
            .filter(|e| e.visible && e.table().is_some())
            .map(|e| e.spec.clone())
            .collect()
    }

    /// Adds a schedule with the next palette colour.
    pub fn add(&mut self, spec: ScheduleSpec) {
        let color = PALETTE[self.next_color % PALETTE.len()];
        self.next_color += 1;
        self.entries.push(ScheduleEntry::new(spec, color));
    }

    /// Revalidates every schedule whose parameters changed.
    pub fn refresh(&mut self) {
        for e in &mut self.entries {
            e.refresh();
        }
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Commands<Self> {
        let mut action = None;
        egui::Panel::left("schedule_side")
            .frame(super::panel_frame(ui))
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    action = self.side_ui(ui);
                });
            });
        match action {
            Some(Action::Add(kind)) => {
                let steps = self.entries.last().map_or(1000, |e| e.spec.steps);
                let mut spec = ScheduleSpec::new(kind, steps);
                if kind == ScheduleKind::Custom {
                    // Not the linear default, which would draw exactly over linear.
                    spec.expr = LAB_CUSTOM_EXPR.to_owned();
                }
                self.add(spec);
            }
            Some(Action::Remove(i)) => {
                self.entries.remove(i);
            }
            None => {}
        }
        self.refresh();
        egui::CentralPanel::default()
            .frame(super::central_frame(ui))
            .show(ui, |ui| self.plots_ui(ui));
        self.out.take()
    }

    fn side_ui(&mut self, ui: &mut egui::Ui) -> Option<Action> {
        let mut action = None;
        ui.heading("Noise schedules");
        ui.horizontal(|ui| {
            ui.label("x axis:");
            ui.radio_value(&mut self.x_axis, XAxis::Step, "t");
            ui.radio_value(&mut self.x_axis, XAxis::Fraction, "t/T");
        });
        ui.checkbox(&mut self.log_beta, "log axis for β");
        ui.horizontal(|ui| {
            if let Some(kind) = add_schedule_menu(ui) {
                action = Some(Action::Add(kind));
            }
            if ui
                .button("Use in the forward view")
                .on_hover_text(format!(
                    "Noise images with these schedules (the first {} shown and valid ones)",
                    super::forward_view::MAX_SCHEDULES
                ))
                .clicked()
            {
                let specs = self.shown_specs();
                self.out.app(AppCommand::SchedulesToForward(specs));
            }
        });
        ui.separator();
        if self.entries.is_empty() {
            ui.label("No schedules. Use \"Add schedule\" to add one.");
        }
        for (i, entry) in self.entries.iter_mut().enumerate() {
            ui.push_id(i, |ui| {
                if entry_ui(ui, entry) {
                    action = Some(Action::Remove(i));
                }
            });
            ui.separator();
        }
        action
    }

    fn plots_ui(&self, ui: &mut egui::Ui) {
        let visible: Vec<&ScheduleEntry> = self
            .entries
            .iter()
            .filter(|e| e.visible && e.table().is_some())
            .collect();
        if visible.is_empty() {
            ui.centered_and_justified(|ui| ui.label("No valid schedule to plot"));
            return;
        }
        let x_axis = self.x_axis;
        let link = ui.scope_id().with("schedule_link");
        let height = ((ui.available_height() - 3.0 * ui.spacing().item_spacing.y) / 3.0).max(80.0);
        let x_label = match x_axis {
            XAxis::Step => "t",
            XAxis::Fraction => "t/T",
        };
        let log_beta = self.log_beta;
        let plots = [
            (
                Curve::Beta,
                if log_beta { "β_t  (log axis)" } else { "β_t" },
                "β",
                log_beta,
            ),
            (Curve::AlphaBar, "ᾱ_t", "ᾱ", false),
            (Curve::Snr, "SNR_t = ᾱ/(1−ᾱ)  (log axis)", "SNR", true),
        ];
        for (curve, plot_name, y_label, log_y) in plots {
            let series: Vec<(String, Color32, Vec<[f64; 2]>)> = visible
                .iter()
                .filter_map(|e| {
                    let Ok(c) = &e.result else { return None };
                    let src = match curve {
                        Curve::Beta if log_beta => &c.log10_beta,
                        Curve::Beta => &c.beta,
                        Curve::AlphaBar => &c.alpha_bar,
                        Curve::Snr => &c.log10_snr,
                    };
                    let scale = match x_axis {
                        XAxis::Step => 1.0,
                        XAxis::Fraction => 1.0 / c.table.steps() as f64,
                    };
                    let pts = src.iter().map(|p| [p[0] * scale, p[1]]).collect();
                    Some((e.spec.label(), e.color, pts))
                })
                .collect();
            // The legend goes where the curves are not (#20 item 7: it hid β at t ≈ 500–1000).
            let all: Vec<[f64; 2]> = series.iter().flat_map(|s| s.2.iter().copied()).collect();
            let corner = emptiest_corner(&all);
            let mut plot = crate::app::plot(y_label)
                .height(height)
                .legend(Legend::default().position(corner))
                .link_axis(link, [true, false])
                .link_cursor(link, [true, false])
                .x_axis_label(x_label)
                .y_axis_label(plot_name)
                .label_formatter(move |hover| hover_label(hover, x_label, y_label, log_y));
            if log_y {
                plot = plot
                    .y_grid_spacer(decade_grid)
                    .y_axis_formatter(|mark, _| format_log10_tick(mark.value));
            }
            plot.show_menu(y_label, ui, |plot_ui| {
                for (name, color, pts) in series {
                    let pts: Vec<PlotPoint> =
                        pts.iter().map(|p| PlotPoint::new(p[0], p[1])).collect();
                    plot_ui.line(
                        crate::app::widgets::line(name, PlotPoints::Owned(pts))
                            .color(color)
                            .width(2.0),
                    );
                }
            });
        }
    }
}

/// The "Add schedule" menu of the schedule lab and the forward view: the kind picked, if any.
pub(crate) fn add_schedule_menu(ui: &mut egui::Ui) -> Option<ScheduleKind> {
    let mut picked = None;
    ui.menu_button("Add schedule", |ui| {
        for kind in ScheduleKind::ALL {
            if ui.button(kind.name()).clicked() {
                picked = Some(kind);
                ui.close();
            }
        }
    });
    picked
}

/// The plot corner with the fewest points in a box of 40 % of the data's width and height
/// there (ties: top right, top left, bottom right, bottom left), for the legend.
pub fn emptiest_corner(points: &[[f64; 2]]) -> egui_plot::Corner {
    use egui_plot::Corner;
    let finite = points
        .iter()
        .filter(|p| p[0].is_finite() && p[1].is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in finite.clone() {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    if x0 > x1 {
        return Corner::RightTop;
    }
    let (wx, wy) = (0.4 * (x1 - x0), 0.4 * (y1 - y0));
    let corners = [
        (Corner::RightTop, x1 - wx, x1, y1 - wy, y1),
        (Corner::LeftTop, x0, x0 + wx, y1 - wy, y1),
        (Corner::RightBottom, x1 - wx, x1, y0, y0 + wy),
        (Corner::LeftBottom, x0, x0 + wx, y0, y0 + wy),
    ];
    let count = |&(_, a, b, c, d): &(Corner, f64, f64, f64, f64)| {
        finite
            .clone()
            .filter(|p| (a..=b).contains(&p[0]) && (c..=d).contains(&p[1]))
            .count()
    };
    corners
        .iter()
        .min_by_key(|c| count(c))
        .map_or(Corner::RightTop, |c| c.0)
}

#[derive(Clone, Copy)]
enum Curve {
    Beta,
    AlphaBar,
    Snr,
}

/// Grid lines at every power of ten (bold every fifth) for a log₁₀ axis.
fn decade_grid(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi - lo > 400.0 {
        return Vec::new();
    }
    let span = hi - lo;
    let step = if span > 60.0 {
        10.0
    } else if span > 24.0 {
        5.0
    } else {
        1.0
    };
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last)
        .map(|k| {
            let value = k as f64 * step;
            let major = (value / 5.0).round() * 5.0 == value && step < 5.0;
            egui_plot::GridMark {
                value,
                step_size: if major { step * 5.0 } else { step },
            }
        })
        .collect()
}

/// "1e-3"-style labels for a log₁₀ axis.
fn format_log10_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        let k = v.round() as i64;
        match k {
            0 => "1".into(),
            1 => "10".into(),
            _ => format!("1e{k}"),
        }
    } else {
        format!("{:.3}", 10f64.powf(v))
    }
}

fn hover_label(
    hover: &egui_plot::HoverPosition<'_>,
    x_label: &str,
    y_label: &str,
    log_y: bool,
) -> Option<String> {
    let (name, pos) = match hover {
        egui_plot::HoverPosition::NearDataPoint {
            plot_name,
            position,
            ..
        } => (*plot_name, *position),
        egui_plot::HoverPosition::Elsewhere { position } => ("", *position),
    };
    let y = if log_y { 10f64.powf(pos.y) } else { pos.y };
    let x = if x_label == "t" {
        format!("{}", pos.x.round())
    } else {
        format!("{:.4}", pos.x)
    };
    let head = if name.is_empty() {
        String::new()
    } else {
        format!("{name}\n")
    };
    Some(format!("{head}{x_label} = {x}\n{y_label} = {y:.6e}"))
}

/// Draws one schedule's editor and badges. Returns true if "Remove" was clicked.
fn entry_ui(ui: &mut egui::Ui, entry: &mut ScheduleEntry) -> bool {
    let mut remove = false;
    let blamed = entry.error().and_then(ScheduleError::param);
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
        ui.painter().rect_filled(rect, 3.0, entry.color);
        ui.checkbox(&mut entry.visible, "show")
            .on_hover_text("Draw this schedule in the plots");
        let kind_label = ui.label("kind");
        egui::ComboBox::from_id_salt("kind")
            .selected_text(entry.spec.kind.name())
            .show_ui(ui, |ui| {
                for kind in ScheduleKind::ALL {
                    if ui
                        .selectable_value(&mut entry.spec.kind, kind, kind.name())
                        .clicked()
                        && kind == ScheduleKind::Custom
                        && entry.spec.expr == ScheduleSpec::default().expr
                    {
                        entry.spec.expr = LAB_CUSTOM_EXPR.to_owned();
                    }
                }
            })
            .response
            .labelled_by(kind_label.id);
        if ui
            .button("Remove")
            .on_hover_text("Remove this schedule")
            .clicked()
        {
            remove = true;
        }
    });
    let spec = &mut entry.spec;
    egui::Grid::new("params").num_columns(2).show(ui, |ui| {
        // The parameter's label, red when the validation error blames it; widgets are
        // `labelled_by` it so screen readers and UI tests can find them.
        let mark = |ui: &mut egui::Ui, text: &str, p: Param| -> egui::Id {
            let t = RichText::new(text);
            ui.label(if blamed == Some(p) {
                t.color(ui.visuals().error_fg_color)
            } else {
                t
            })
            .id
        };
        let id = mark(ui, "T (steps)", Param::Steps);
        ui.add(
            egui::DragValue::new(&mut spec.steps)
                .range(1..=crate::diffusion::MAX_STEPS)
                .speed(5.0),
        )
        .labelled_by(id);
        ui.end_row();
        let kind = spec.kind;
        if kind.uses(Param::BetaStart) {
            let id = mark(ui, "β₁ (start)", Param::BetaStart);
            ui.add(
                egui::DragValue::new(&mut spec.beta_start)
                    .speed(1e-5)
                    .max_decimals(8),
            )
            .labelled_by(id);
            ui.end_row();
            let id = mark(ui, "β_T (end)", Param::BetaEnd);
            ui.add(
                egui::DragValue::new(&mut spec.beta_end)
                    .speed(1e-4)
                    .max_decimals(8),
            )
            .labelled_by(id);
            ui.end_row();
        }
        if kind.uses(Param::CosineS) {
            let id = mark(ui, "s (offset)", Param::CosineS);
            ui.add(
                egui::DragValue::new(&mut spec.cosine_s)
                    .speed(1e-4)
                    .max_decimals(6),
            )
            .labelled_by(id);
            ui.end_row();
            let id = mark(ui, "max β (clip)", Param::MaxBeta);
            ui.add(
                egui::DragValue::new(&mut spec.max_beta)
                    .speed(1e-3)
                    .max_decimals(6),
            )
            .labelled_by(id);
            ui.end_row();
        }
        if kind.uses(Param::Power) {
            let id = mark(ui, "p (exponent)", Param::Power);
            ui.add(
                egui::DragValue::new(&mut spec.power)
                    .speed(0.05)
                    .max_decimals(4),
            )
            .labelled_by(id);
            ui.end_row();
        }
        if kind.uses(Param::Waves) {
            let id = mark(ui, "k (half-waves)", Param::Waves);
            ui.add(egui::DragValue::new(&mut spec.waves).range(1..=1000))
                .labelled_by(id);
            ui.end_row();
        }
        if kind.uses(Param::Expr) {
            let id = mark(ui, "β(u) =", Param::Expr);
            ui.add(egui::TextEdit::singleline(&mut spec.expr).desired_width(200.0))
                .labelled_by(id);
            ui.end_row();
        }
        ui.label("");
        ui.checkbox(&mut spec.zero_terminal_snr, "rescale to SNR_T = 0")
            .on_hover_text(
                "Rescale √ᾱ_t so that it keeps √ᾱ₁ and reaches 0 at T (Lin et al.; diffusers' \
                 rescale_zero_terminal_snr): x_T is then pure noise, as the sampler assumes. ᾱ_T \
                 is floored at 2⁻²⁴ so x̂₀ stays finite. Train with v-prediction (train.target = \
                 \"v\"): at ᾱ ≈ 0 the noise ε says nothing about x₀",
            );
        ui.end_row();
    });
    entry.refresh();
    match &entry.result {
        Err(e) => {
            let msg = e.app_message(&entry.spec.expr);
            ui.colored_label(ui.visuals().error_fg_color, RichText::new(msg).monospace());
        }
        Ok(c) => badges_ui(ui, &c.badges),
    }
    remove
}

fn badges_ui(ui: &mut egui::Ui, b: &Badges) {
    let half = b
        .first_t_alpha_bar_below_half
        .map_or("never".to_owned(), |t| t.to_string());
    ui.horizontal_wrapped(|ui| {
        for text in [
            format!("ᾱ_T = {:.3e}", b.alpha_bar_final),
            format!("SNR_T = {:.3e}", b.snr_final),
            format!("ᾱ < ½ from t = {half}"),
        ] {
            ui.label(RichText::new(text).monospace());
        }
    });
    ui.horizontal_wrapped(|ui| {
        let good = Color32::from_rgb(0, 150, 100);
        for (ok, text) in [
            (b.beta_strictly_inside_unit, "β strictly inside (0, 1)"),
            (b.alpha_bar_strictly_decreasing, "ᾱ strictly decreasing"),
        ] {
            let (mark, color) = if ok {
                ("yes", good)
            } else {
                ("NO", ui.visuals().error_fg_color)
            };
            ui.colored_label(color, format!("{text}: {mark}"));
        }
    });
    if b.terminal_snr_warning {
        // x_T = √ᾱ_T·x₀ + √(1 − ᾱ_T)·ε: the sampler's N(0, I) start is not where this ends.
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "terminal SNR: ᾱ_T > {:.0e}, so x_T keeps {:.0} % of the signal (√ᾱ_T = {:.2}) \
                 and sampling from N(0, I) starts from the wrong prior",
                TERMINAL_ALPHA_BAR_LIMIT,
                100.0 * b.alpha_bar_final.sqrt(),
                b.alpha_bar_final.sqrt()
            ),
        );
    }
}
