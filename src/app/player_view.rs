//! The reverse-chain player (issue 5).

/// The player's state.
#[derive(Default)]
pub struct PlayerView {
    playing: bool,
    frame: usize,
}

impl PlayerView {
    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Reverse chain");
            ui.label(format!("frame {} playing {}", self.frame, self.playing));
        });
    }

    /// Play/pause (keyboard: space).
    pub fn toggle_play(&mut self) {
        self.playing = !self.playing;
    }

    /// Whether the chain is playing.
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Steps the chain by `delta` frames (keyboard: ←/→); pauses playback.
    pub fn step_by(&mut self, delta: isize) {
        self.playing = false;
        self.frame = self.frame.saturating_add_signed(delta);
    }

    /// The frame on screen.
    pub fn frame(&self) -> usize {
        self.frame
    }
}
