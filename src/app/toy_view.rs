//! The 2-D lab view (issue 6).

/// The 2-D lab's state.
#[derive(Default)]
pub struct ToyView {}

impl ToyView {
    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("2-D lab");
        });
    }
}
