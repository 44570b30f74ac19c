//! The app's plots inside scrolling panels leave the mouse wheel to the panel (#20 item 3):
//! a lecture saw a side-panel plot pan away (−230…0) while the panel was being scrolled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use egui_kittest::Harness;
use egui_plot::{Line, PlotPoints};

/// The y-bounds of a plot after a wheel turn over it: (before, after).
fn bounds_after_wheel(make: fn() -> egui_plot::Plot<'static>) -> ([f64; 2], [f64; 2]) {
    let mut h = Harness::builder()
        .with_size(egui::vec2(400.0, 300.0))
        .build_ui_state(
            move |ui, bounds: &mut Vec<[f64; 2]>| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let r = make().height(200.0).show(ui, |p| {
                        p.line(Line::new(
                            "y = x",
                            PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]),
                        ));
                    });
                    let b = r.transform.bounds();
                    bounds.push([b.min()[1], b.max()[1]]);
                    ui.add_space(600.0);
                });
            },
            Vec::new(),
        );
    h.run();
    let before = *h.state().last().unwrap();
    h.hover_at(egui::pos2(200.0, 100.0));
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, -120.0),
        modifiers: egui::Modifiers::NONE,
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
    });
    h.run();
    (before, *h.state().last().unwrap())
}

#[test]
fn the_wheel_scrolls_the_panel_not_the_plot() {
    // egui_plot's default takes the wheel and pans: this is what the lecture saw.
    let (a, b) = bounds_after_wheel(|| egui_plot::Plot::new("default"));
    assert_ne!(a, b, "the default plot pans on the wheel");
    // The app's plots keep their view.
    let (a, b) = bounds_after_wheel(|| diffusion_lab::app::plot("app"));
    assert_eq!(a, b, "the app's plot must not move on the wheel");
}
