//! Issue #18: output paths. A symbolic link stays a link, a FIFO or a device is written into
//! and never replaced, a folder is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::fs::write_atomic;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .expect("mkfifo runs");
    assert!(ok.success());
}

#[test]
fn a_symlink_stays_a_link_and_its_target_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.txt");
    std::fs::write(&target, "old").unwrap();
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink("real.txt", &link).unwrap();
    write_atomic(&link, |w| w.write_all(b"new")).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    // A dangling link gets its target created.
    let dangling = dir.path().join("dangling.txt");
    std::os::unix::fs::symlink("made.txt", &dangling).unwrap();
    write_atomic(&dangling, |w| w.write_all(b"made")).unwrap();
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("made.txt")).unwrap(),
        "made"
    );
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_fifo_is_written_into_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        })
    };
    write_atomic(&fifo, |w| w.write_all(b"through the pipe")).unwrap();
    assert_eq!(reader.join().unwrap(), "through the pipe");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // Through a link too: the link and the FIFO both stay.
    let link = dir.path().join("to-pipe");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        })
    };
    write_atomic(&link, |w| w.write_all(b"via link")).unwrap();
    assert_eq!(reader.join().unwrap(), "via link");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_device_stays_a_device() {
    let dev_null = Path::new("/dev/null");
    write_atomic(dev_null, |w| w.write_all(b"gone")).unwrap();
    assert!(
        std::fs::metadata(dev_null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // And through a link in a temporary folder.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("null.png");
    std::os::unix::fs::symlink(dev_null, &link).unwrap();
    write_atomic(&link, |w| w.write_all(b"gone")).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::metadata(dev_null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn a_folder_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("keep.txt"), "keep").unwrap();
    let err = write_atomic(&sub, |w| w.write_all(b"x")).unwrap_err();
    assert!(err.to_string().contains("folder"), "{err}");
    assert_eq!(
        std::fs::read_to_string(sub.join("keep.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn a_forward_out_onto_a_fifo_reaches_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.png");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_end(&mut v)
                .unwrap();
            v
        })
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_diffusion-lab"))
        .args(["forward", "--data", "mnist", "--t", "0,500", "--out"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = reader.join().unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{} bytes", bytes.len());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}
