//! The reverse-chain player (issue 5).

/// The player's state.
#[derive(Default)]
pub struct PlayerView {}

impl PlayerView {
    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Reverse chain");
        });
    }
}
