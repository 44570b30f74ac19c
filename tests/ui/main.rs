//! The UI tests: each view driven headlessly with egui_kittest (no window).

mod drop;
mod forward;
mod glyphs;
mod menus;
mod player;
mod plots;
mod presenter;
mod runs;
mod schedule_lab;
mod tooltips;
mod toy;
mod training;

/// The whole app at 1280×800 as eframe runs it: `tick` (workers' events, signals, the live
/// chain, requests between views) and then the shell, every frame.
pub fn ticking_app(
    app: diffusion_lab::app::DiffusionApp,
) -> egui_kittest::Harness<'static, diffusion_lab::app::DiffusionApp> {
    ticking_app_sized(app, 1280.0, 800.0)
}

/// [`ticking_app`] in a window of `w` × `h`.
pub fn ticking_app_sized(
    app: diffusion_lab::app::DiffusionApp,
    w: f32,
    h: f32,
) -> egui_kittest::Harness<'static, diffusion_lab::app::DiffusionApp> {
    egui_kittest::Harness::builder()
        .with_size(egui::vec2(w, h))
        .build_ui_state(
            |ui, app: &mut diffusion_lab::app::DiffusionApp| {
                app.tick(ui.ctx());
                app.shell_ui(ui);
            },
            app,
        )
}
