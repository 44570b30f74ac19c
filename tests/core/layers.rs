//! The layering of `src/`: every module imports only from layers below its own (or its own),
//! and the graph of top-level modules has no cycle. Reads every `crate::` path in the sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom up. A module may import from its own layer and the layers below.
const LAYERS: &[&[&str]] = &[
    &["diffusion", "jobs", "fs", "mem", "signals"],
    &["data", "model", "toy"],
    &["config", "store"],
    &["sampling", "explore", "metrics", "fuzz"],
    &["train"],
    &["app"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (None for `lib.rs` and `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// The top-level modules named by `crate::…` paths in `code` (comments skipped), including
/// the members of `use crate::{a, b::c}` groups.
fn crate_targets(code: &str) -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                for part in group.split(',') {
                    let name = ident(part.trim());
                    if !name.is_empty() {
                        targets.insert(name);
                    }
                }
            } else {
                let name = ident(after);
                if !name.is_empty() {
                    targets.insert(name);
                }
            }
            rest = after;
        }
    }
    targets
}

/// Edges between top-level modules: (from, to) → the files that make them.
fn module_graph() -> BTreeMap<(String, String), Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for file in files {
        let Some(from) = module_of(&src, &file) else {
            continue;
        };
        let code = std::fs::read_to_string(&file).expect("read source");
        for to in crate_targets(&code) {
            if to != from {
                let rel = file.strip_prefix(&src).unwrap_or(&file);
                edges
                    .entry((from.clone(), to))
                    .or_default()
                    .push(rel.display().to_string());
            }
        }
    }
    edges
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let unknown: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(&src, f))
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(unknown.is_empty(), "modules without a layer: {unknown:?}");
}

#[test]
fn no_upward_import() {
    let mut upward = Vec::new();
    for ((from, to), files) in module_graph() {
        let (Some(lf), Some(lt)) = (layer_of(&from), layer_of(&to)) else {
            upward.push(format!("{from} → {to} (unknown module) in {files:?}"));
            continue;
        };
        if lt > lf {
            upward.push(format!("{from} (L{lf}) → {to} (L{lt}) in {files:?}"));
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn module_graph_has_no_cycle() {
    let edges = module_graph();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().insert(to);
    }
    // Depth-first search with colours: 1 = on the stack, 2 = done.
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        colour: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match colour.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(n);
                return Some(cycle);
            }
            _ => {}
        }
        colour.insert(n, 1);
        stack.push(n);
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, colour, stack) {
                return Some(c);
            }
        }
        stack.pop();
        colour.insert(n, 2);
        None
    }
    let mut colour = BTreeMap::new();
    for n in graph.keys() {
        let cycle = visit(n, &graph, &mut colour, &mut Vec::new());
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap_or_default().join(" → ")
        );
    }
}
