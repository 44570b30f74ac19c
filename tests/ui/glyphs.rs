//! Every character of the labels a lecture reads exists in the app's fonts (#20 item 5: two
//! menu entries both read "DDPM (σ² = β)" because the font had no combining tilde, the hat of
//! x̂₀ was missing, and Ubuntu Light's α read like "a" on a projector).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::ComparePair;
use diffusion_lab::app::fonts::{GREEK_FONT, font_definitions};
use diffusion_lab::sampling::SamplerChoice;
use egui::{FontFamily, FontId};

/// A context with the app's fonts installed.
fn app_fonts() -> egui::Context {
    let mut h = egui_kittest::Harness::new_ui(|ui| {
        diffusion_lab::app::fonts::install(ui.ctx());
    });
    h.step();
    h.step();
    h.ctx.clone()
}

/// The characters of `text` that `family` cannot draw.
fn missing(ctx: &egui::Context, family: FontFamily, text: &str) -> Vec<char> {
    let font = FontId::new(14.0, family);
    ctx.fonts_mut(|f| {
        text.chars()
            .filter(|c| !c.is_whitespace() && !f.has_glyph(&font, *c))
            .collect()
    })
}

#[test]
fn every_sampler_pair_and_formula_label_is_drawable() {
    let ctx = app_fonts();
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
        let m = missing(&ctx, FontFamily::Proportional, l);
        if !m.is_empty() {
            bad.push(format!("{l:?} lacks {m:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // Distinct menu entries read differently.
    let mut sorted = labels[..SamplerChoice::ALL.len()].to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), SamplerChoice::ALL.len());
}

/// The string literals of a Rust source file (text between unescaped double quotes, outside
/// `//` comments); good enough for the app's labels, which hold no quotes of their own.
fn string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in source.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut inside = false;
        let mut current = String::new();
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                if inside {
                    out.push(std::mem::take(&mut current));
                }
                inside = !inside;
            } else if inside {
                current.push(c);
            } else if c == '/' && prev == '/' {
                break;
            }
            prev = c;
        }
    }
    out
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every non-ASCII character in a string literal of the code that builds the app's labels
/// (the views, the configs, presets and lessons they show, the samplers and the schedule
/// messages) is drawable by the proportional font, which is what labels use.
#[test]
fn every_character_of_every_ui_string_is_in_the_font() {
    let ctx = app_fonts();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src/app", "src/config", "src/sampling", "src/diffusion"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut texts: Vec<(String, String)> = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        for s in string_literals(&src) {
            texts.push((f.display().to_string(), s));
        }
    }
    for p in std::fs::read_dir(root.join("presets")).unwrap() {
        let p = p.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let src = std::fs::read_to_string(&p).unwrap();
            for line in src.lines().filter(|l| !l.trim_start().starts_with('#')) {
                texts.push((p.display().to_string(), line.to_owned()));
            }
        }
    }
    assert!(texts.len() > 500, "only {} strings found", texts.len());
    let mut bad = std::collections::BTreeMap::<char, String>::new();
    for (file, text) in &texts {
        // ASCII is in every font; the emoji of the data-set menu come from the emoji fonts.
        let rare: String = text.chars().filter(|c| !c.is_ascii()).collect();
        for c in missing(&ctx, FontFamily::Proportional, &rare) {
            bad.entry(c).or_insert_with(|| format!("{file}: {text:?}"));
        }
    }
    let report: Vec<String> = bad
        .iter()
        .map(|(c, at)| format!("U+{:04X} {c:?} in {at}", *c as u32))
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Greek letters and combining marks come from the DejaVu subset, which is first in the
/// proportional family; Latin letters and digits are not in it, so Ubuntu Light still draws
/// them (the layout keeps its widths).
#[test]
fn greek_comes_from_dejavu_and_latin_from_ubuntu() {
    let defs = font_definitions();
    assert_eq!(defs.families[&FontFamily::Proportional][0], GREEK_FONT);
    // A context whose only font is the subset.
    let mut only = egui::FontDefinitions::empty();
    only.font_data
        .insert(GREEK_FONT.into(), defs.font_data[GREEK_FONT].clone());
    only.families
        .insert(FontFamily::Proportional, vec![GREEK_FONT.into()]);
    only.families
        .insert(FontFamily::Monospace, vec![GREEK_FONT.into()]);
    let mut h = egui_kittest::Harness::new_ui(move |ui| ui.ctx().set_fonts(only.clone()));
    h.step();
    h.step();
    let ctx = h.ctx.clone();
    let greek = "αβγεηθσφᾱ\u{302}\u{303}∇′";
    assert!(missing(&ctx, FontFamily::Proportional, greek).is_empty());
    let latin = "aAx0123(=)";
    assert_eq!(
        missing(&ctx, FontFamily::Proportional, latin).len(),
        latin.chars().count(),
        "the subset must leave Latin letters and digits to Ubuntu Light"
    );
}

/// The window icon decodes from the bundled PNG (the one the Linux `.desktop` file names).
#[test]
fn the_window_icon_is_the_bundled_png() {
    let icon = diffusion_lab::app::app_icon();
    assert_eq!((icon.width, icon.height), (256, 256));
    assert_eq!(icon.rgba.len(), 256 * 256 * 4);
    // Opaque inside, transparent in the rounded corners.
    assert_eq!(icon.rgba[(128 * 256 + 128) * 4 + 3], 255);
    assert_eq!(icon.rgba[3], 0);
    let desktop = include_str!("../../assets/linux/diffusion-lab.desktop");
    assert!(desktop.contains("Icon=diffusion-lab\n") && desktop.contains("Exec=diffusion-lab\n"));
}
