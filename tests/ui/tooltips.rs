//! The tooltip walk (#17): every interactive widget of every view has an accessible name (its
//! text, or the label it is tied to with `labelled_by`) or hover text, so a screen reader and a
//! hovering mouse both learn what it does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::DiffusionApp;
use diffusion_lab::config::View;
use egui::accesskit::Role;
use egui_kittest::kittest::NodeT;

/// Whether a node is something the user operates.
fn is_control(role: Role) -> bool {
    [
        Role::Button,
        Role::CheckBox,
        Role::RadioButton,
        Role::Slider,
        Role::SpinButton,
        Role::ComboBox,
        Role::TextInput,
        Role::MultilineTextInput,
        Role::Tab,
        Role::Switch,
        Role::Link,
        Role::MenuItem,
    ]
    .contains(&role)
}

/// The interactive widgets of the shown window that say nothing about themselves, as
/// "role at (x, y)" lines.
fn unnamed(h: &egui_kittest::Harness<'_, DiffusionApp>) -> Vec<String> {
    let mut out = Vec::new();
    for node in h.root().children_recursive() {
        let n = node.accesskit_node();
        if !is_control(n.role()) {
            continue;
        }
        // A value ("250", the picked entry, typed text) is not a name.
        let named = [n.label(), n.description()]
            .into_iter()
            .flatten()
            .any(|s| !s.trim().is_empty());
        if !named {
            let r = node.rect();
            out.push(format!(
                "{:?} at ({:.0}, {:.0})",
                n.role(),
                r.min.x,
                r.min.y
            ));
        }
    }
    out
}

#[test]
fn every_control_of_every_view_says_what_it_is() {
    diffusion_lab::app::dialog::disable_file_dialogs();
    let mut report = Vec::new();
    let mut widgets = 0;
    let mut controls = 0;
    for view in View::TABS {
        let mut h = crate::ticking_app(DiffusionApp::new(view));
        for _ in 0..20 {
            h.step();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        widgets += h.root().children_recursive().count();
        controls += h
            .root()
            .children_recursive()
            .filter(|n| is_control(n.accesskit_node().role()))
            .count();
        for w in unnamed(&h) {
            report.push(format!("{}: {w}", view.title()));
        }
    }
    assert!(widgets > 300, "only {widgets} nodes walked");
    assert!(controls > 150, "only {controls} controls walked");
    assert!(
        report.is_empty(),
        "{} unnamed controls:\n{}",
        report.len(),
        report.join("\n")
    );
}
