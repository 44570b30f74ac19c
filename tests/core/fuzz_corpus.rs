//! Replays the committed fuzz corpus (`tests/fuzz/corpus/<target>/`, minimised by libFuzzer and
//! seeded with the shipped presets, the bundled checkpoint, data files and cards) through the
//! same entry points the fuzzer calls (#18). Any panic here is a bug the fuzzer found or would
//! find again.

use std::path::Path;

#[test]
fn every_corpus_input_is_handled_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
    let mut total = 0;
    for (name, target) in diffusion_lab::fuzz::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no corpus for {name} in {}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "the corpus of {name} is empty");
        for f in &files {
            let bytes = std::fs::read(f).expect("read");
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "{name} panicked on {}", f.display());
        }
        total += files.len();
    }
    assert!(total >= 30, "only {total} corpus inputs");
}

#[test]
fn the_targets_reject_garbage_quietly() {
    // Each target on bytes no loader accepts: every one must return.
    let garbage: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    for (_, target) in diffusion_lab::fuzz::TARGETS {
        target(&[]);
        target(&garbage);
    }
}
