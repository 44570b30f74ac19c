//! UI tests of the schedule lab with egui_kittest (no display needed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::{DiffusionApp, ScheduleLab, XAxis};
use diffusion_lab::config::View;
use diffusion_lab::diffusion::{ScheduleError, ScheduleKind};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn lab_harness() -> Harness<'static, ScheduleLab> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, lab: &mut ScheduleLab| {
                let c = lab.ui(ui);
                let _ = c.run(lab);
            },
            ScheduleLab::default(),
        )
}

#[test]
fn starts_with_linear_and_cosine_and_their_badges() {
    let harness = lab_harness();
    let kinds: Vec<_> = harness
        .state()
        .entries
        .iter()
        .map(|e| e.spec.kind)
        .collect();
    assert_eq!(kinds, [ScheduleKind::Linear, ScheduleKind::Cosine]);
    // The badges show the oracle values: linear crosses ᾱ = ½ at t = 260, cosine at 497.
    harness.get_by_label_contains("from t = 260");
    harness.get_by_label_contains("from t = 497");
    harness.get_by_label_contains("ᾱ_T = 4.036e-5");
    assert_eq!(harness.get_all_by_label("Remove").count(), 2);
}

#[test]
fn add_schedule_from_menu() {
    let mut harness = lab_harness();
    harness.get_by_label("Add schedule").click();
    harness.run();
    harness.get_by_label("sigmoid").click();
    harness.run();
    let lab = harness.state();
    assert_eq!(lab.entries.len(), 3);
    assert_eq!(lab.entries[2].spec.kind, ScheduleKind::Sigmoid);
    assert!(
        lab.entries[2].table().is_some(),
        "a default sigmoid schedule is valid"
    );
    assert_eq!(harness.get_all_by_label("Remove").count(), 3);
}

#[test]
fn remove_schedule() {
    let mut harness = lab_harness();
    harness
        .get_all_by_label("Remove")
        .next()
        .expect("a Remove button")
        .click();
    harness.run();
    let kinds: Vec<_> = harness
        .state()
        .entries
        .iter()
        .map(|e| e.spec.kind)
        .collect();
    assert_eq!(kinds, [ScheduleKind::Cosine]);
}

#[test]
fn invalid_parameter_shows_error_naming_it_and_recovers() {
    let mut harness = lab_harness();
    harness.state_mut().entries[0].spec.beta_end = 1.5;
    harness.run();
    // Named as the app labels it, not by its command-line flag (#20 item 9).
    harness.get_by_label_contains("β_T must lie strictly inside (0, 1)");
    assert!(harness.query_by_label_contains("--beta-end").is_none());
    assert!(matches!(
        harness.state().entries[0].error(),
        Some(ScheduleError::InvalidParam { .. })
    ));
    harness.state_mut().entries[0].spec.beta_end = 0.02;
    harness.run();
    assert!(harness.query_by_label_contains("β_T must").is_none());
    assert!(harness.state().entries[0].table().is_some());
}

#[test]
fn custom_expression_validates_live() {
    let mut harness = lab_harness();
    {
        let e = &mut harness.state_mut().entries[0];
        e.spec.kind = ScheduleKind::Custom;
        e.spec.expr = "1e-4 + 0.02*u^".into();
    }
    harness.run();
    // In plain words, naming the field as the app labels it, with the place marked (#20 item 9).
    harness.get_by_label_contains("β(u): the expression ends with '^'");
    assert!(harness.query_by_label_contains("--expr").is_none());
    assert!(harness.query_by_label_contains("wlog").is_none());
    harness.state_mut().entries[0].spec.expr = "(1e-4 + 0.02)u".into();
    harness.run();
    harness.get_by_label_contains("an operator is missing between ')' and 'u'");
    harness.state_mut().entries[0].spec.expr = "1e-4 + 0.02*u^2".into();
    harness.run();
    let table = harness.state().entries[0].table().expect("valid now");
    assert!((table.beta[999] - (1e-4 + 0.02)).abs() < 1e-15);
}

#[test]
fn x_axis_choice() {
    let mut harness = lab_harness();
    assert_eq!(harness.state().x_axis, XAxis::Step);
    harness.get_by_label("t/T").click();
    harness.run();
    assert_eq!(harness.state().x_axis, XAxis::Fraction);
}

#[test]
fn app_shell_status_bar_counts_schedules() {
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, app: &mut DiffusionApp| app.shell_ui(ui),
            DiffusionApp::new(View::Schedule),
        );
    harness.get_by_label("2 schedules");
    harness.state_mut().schedule_lab.entries[1].spec.steps = 0;
    harness.run();
    harness.get_by_label("2 schedules · 1 invalid");
}

#[test]
fn a_new_custom_schedule_does_not_draw_over_linear() {
    // #20 item 9: the CLI's default β(u) is linear, so a custom schedule added in the lab hid
    // the linear curve exactly.
    let mut harness = lab_harness();
    harness.get_by_label("Add schedule").click();
    harness.run();
    harness.get_by_label("custom").click();
    harness.run();
    let lab = harness.state();
    let custom = lab.entries.last().unwrap().table().expect("valid");
    let linear = lab.entries[0].table().expect("valid");
    let gap = (custom.alpha_bar[499] - linear.alpha_bar[499]).abs();
    assert!(gap > 0.05, "ᾱ_500 differs by only {gap}");
}

#[test]
fn the_legend_goes_where_the_curves_are_not() {
    // #20 item 7: the legend's default corner (top right) hid log β of both default schedules
    // at t ≈ 500–1000.
    use diffusion_lab::app::emptiest_corner;
    use diffusion_lab::diffusion::ScheduleSpec;
    use egui_plot::Corner;
    let mut log_beta = Vec::new();
    let mut alpha_bar = Vec::new();
    for kind in [ScheduleKind::Linear, ScheduleKind::Cosine] {
        let t = ScheduleSpec::new(kind, 1000).table().unwrap();
        for (i, (&b, &a)) in t.beta.iter().zip(&t.alpha_bar).enumerate() {
            log_beta.push([(i + 1) as f64, b.log10()]);
            alpha_bar.push([(i + 1) as f64, a]);
        }
    }
    let in_box = |pts: &[[f64; 2]], c: Corner| {
        let (x0, x1, y0, y1) = pts.iter().fold(
            (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
            |(a, b, c, d), p| (a.min(p[0]), b.max(p[0]), c.min(p[1]), d.max(p[1])),
        );
        let (wx, wy) = (0.4 * (x1 - x0), 0.4 * (y1 - y0));
        let (xs, ys) = match c {
            Corner::RightTop => ((x1 - wx, x1), (y1 - wy, y1)),
            Corner::LeftTop => ((x0, x0 + wx), (y1 - wy, y1)),
            Corner::RightBottom => ((x1 - wx, x1), (y0, y0 + wy)),
            Corner::LeftBottom => ((x0, x0 + wx), (y0, y0 + wy)),
        };
        pts.iter()
            .filter(|p| (xs.0..=xs.1).contains(&p[0]) && (ys.0..=ys.1).contains(&p[1]))
            .count()
    };
    assert!(
        in_box(&log_beta, Corner::RightTop) > 100,
        "the old corner is on the data"
    );
    let c = emptiest_corner(&log_beta);
    assert_eq!(in_box(&log_beta, c), 0, "{c:?}");
    let c = emptiest_corner(&alpha_bar);
    assert_eq!(in_box(&alpha_bar, c), 0, "{c:?}");
}

#[test]
fn the_terminal_snr_warning_marks_power_10_and_not_linear() {
    // #15 §4.1. ᾱ_T from NumPy (β₁ = 1e-4, β_T = 0.02, T = 1000): linear 4.036e-5, power 1.5
    // 2.997e-4, power 2 1.139e-3, power 10 0.14558 (√ = 0.3815); the warning is ᾱ_T > 1e-3.
    use diffusion_lab::diffusion::ScheduleSpec;
    let mut harness = lab_harness();
    harness.get_by_label_contains("ᾱ_T = 4.036e-5");
    assert!(
        harness.query_by_label_contains("terminal SNR").is_none(),
        "linear and cosine end in noise"
    );
    harness.state_mut().entries[1].spec = ScheduleSpec {
        power: 10.0,
        ..ScheduleSpec::new(ScheduleKind::Power, 1000)
    };
    harness.run();
    harness.get_by_label_contains("ᾱ_T = 1.456e-1");
    let text = label_of(&harness.get_by_label_contains("terminal SNR"));
    assert!(
        text.contains("ᾱ_T > 1e-3") && text.contains("keeps 38 % of the signal (√ᾱ_T = 0.38)"),
        "{text}"
    );
    // The schedule-study lesson's five schedules: power 2 is just over the line, power 10 far.
    let study = diffusion_lab::config::SHIPPED_PRESETS
        .iter()
        .find(|(n, _)| *n == "schedule-study")
        .map(|(_, text)| diffusion_lab::config::Preset::from_toml(text).unwrap())
        .unwrap()
        .study
        .unwrap();
    harness.state_mut().set_schedules(&study.schedules);
    harness.run();
    let warned: Vec<String> = harness
        .get_all_by_label_contains("terminal SNR")
        .map(|n| label_of(&n))
        .collect();
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned[0].contains("keeps 3 % of the signal (√ᾱ_T = 0.03)"));
    assert!(warned[1].contains("keeps 38 %"));
    // Back to linear: no warning.
    harness
        .state_mut()
        .set_schedules(&[ScheduleSpec::new(ScheduleKind::Linear, 1000)]);
    harness.run();
    assert!(harness.query_by_label_contains("terminal SNR").is_none());
}

/// The text of a node's label.
fn label_of(node: &egui_kittest::Node<'_>) -> String {
    use egui_kittest::kittest::NodeT;
    let node = node.accesskit_node();
    node.label().or_else(|| node.value()).unwrap_or_default()
}
