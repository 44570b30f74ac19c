//! The runs view (issue 7).

/// The runs view's state.
#[derive(Default)]
pub struct RunsView {}

impl RunsView {
    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Runs");
        });
    }
}
