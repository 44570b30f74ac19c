//! Every character of the labels a lecture reads exists in the app's fonts (#20 item 5: two
//! menu entries both read "DDPM (σ² = β)" because the font had no combining tilde).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::ComparePair;
use diffusion_lab::sampling::SamplerChoice;

/// The characters of `text` the proportional font cannot draw.
fn missing(ctx: &egui::Context, text: &str) -> Vec<char> {
    let ctx = ctx.clone();
    let font = egui::FontId::proportional(14.0);
    ctx.fonts_mut(|f| {
        text.chars()
            .filter(|c| !c.is_whitespace() && !f.has_glyph(&font, *c))
            .collect()
    })
}

#[test]
fn every_sampler_pair_and_formula_label_is_drawable() {
    let mut h = egui_kittest::Harness::new_ui(|_| {});
    h.step();
    let ctx = h.ctx.clone();
    let mut labels: Vec<String> = SamplerChoice::ALL
        .iter()
        .map(|s| s.label().to_owned())
        .collect();
    labels.extend(ComparePair::ALL.iter().map(|p| p.label().to_owned()));
    labels.extend(
        diffusion_lab::app::guidance_formulas()
            .iter()
            .map(|s| (*s).to_owned()),
    );
    let mut bad = Vec::new();
    for l in &labels {
        let m = missing(&ctx, l);
        if !m.is_empty() {
            bad.push(format!("{l:?} lacks {m:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // Distinct menu entries read differently.
    let mut sorted = labels[..SamplerChoice::ALL.len()].to_vec();
    sorted.dedup();
    assert_eq!(sorted.len(), SamplerChoice::ALL.len());
}
