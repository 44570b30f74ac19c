//! The app's fonts: egui's defaults plus a subset of DejaVu Sans for Greek letters, combining
//! marks (the hat of x̂₀, the tilde of β̃), primes, arrows and ∇ (#20 item 5). egui's
//! proportional font, Ubuntu Light, draws α much like "a" at projector sizes and has no
//! combining marks at all, so the subset goes first: it holds no Latin letters, digits or
//! punctuation, so everything else is still drawn by Ubuntu Light and the layout barely moves.

use egui::{FontData, FontDefinitions, FontFamily};
use std::sync::Arc;

/// The name the subset is registered under.
pub const GREEK_FONT: &str = "DejaVuSans-greek-math";

/// The bundled subset (`assets/fonts/`, with its licence beside it).
const GREEK_FONT_DATA: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-greek-math.ttf");

/// egui's default fonts with the Greek-and-maths subset first in the proportional family and
/// after Hack in the monospace one.
pub fn font_definitions() -> FontDefinitions {
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert(
        GREEK_FONT.to_owned(),
        Arc::new(FontData::from_static(GREEK_FONT_DATA)),
    );
    if let Some(list) = fonts.families.get_mut(&FontFamily::Proportional) {
        list.insert(0, GREEK_FONT.to_owned());
    }
    if let Some(list) = fonts.families.get_mut(&FontFamily::Monospace) {
        let at = list.len().min(1);
        list.insert(at, GREEK_FONT.to_owned());
    }
    fonts
}

/// Installs [`font_definitions`] (takes effect from the next frame).
pub fn install(ctx: &egui::Context) {
    ctx.set_fonts(font_definitions());
}
