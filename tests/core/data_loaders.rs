//! The data loaders: bundled atlases, atlas folders, user images and .npy files, with good,
//! corrupt, mismatched and hostile inputs.

use std::path::{Path, PathBuf};

use diffusion_lab::data::{
    BUNDLED, ColorMode, DataError, Dataset, bundled, bundled_attribution, bundled_meta,
    load_atlas_dir, load_images, read_npy, write_dataset_npy, write_npy,
};
use image::{Rgb, RgbImage, Rgba, RgbaImage};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn assert_names_path_last(err: &DataError, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.ends_with(&path.display().to_string()),
        "message should end with {}: {msg}",
        path.display()
    );
}

// ---------------------------------------------------------------- bundled and atlas folders

#[test]
fn bundled_datasets_load_with_the_right_counts_and_sizes() {
    let expect = [
        ("mnist", 10_000, 28, 1),
        ("fashion-mnist", 10_000, 28, 1),
        ("sklearn-digits", 1_797, 8, 1),
        ("twemoji-32", 3_786, 32, 3),
    ];
    assert_eq!(BUNDLED, expect.map(|e| e.0));
    for (name, count, side, channels) in expect {
        let start = std::time::Instant::now();
        let d = bundled(name).expect("loads");
        eprintln!("bundled({name}): {:.3} s", start.elapsed().as_secs_f64());
        assert_eq!(d.name(), name);
        assert_eq!(
            (d.len(), d.width(), d.height(), d.channels()),
            (count, side, side, channels),
            "{name}"
        );
        assert!(d.data().iter().all(|v| (-1.0..=1.0).contains(v)), "{name}");
        let labels = d.labels().expect("labels");
        assert_eq!(labels.len(), count);
        assert_eq!(d.classes().expect("classes").len(), 10);
        assert!(!bundled_attribution(name).expect("text").is_empty());
        assert!(bundled_meta(name).expect("meta").license.is_some());
    }
}

#[test]
fn mnist_background_is_minus_one_and_digits_have_ink() {
    let d = bundled("mnist").expect("loads");
    for i in (0..d.len()).step_by(97) {
        let img = d.image(i);
        // The corners of an MNIST digit are background.
        for p in [0, 27, 28 * 27, 28 * 28 - 1] {
            assert_eq!(img[p], -1.0, "image {i}");
        }
        let max = img.iter().copied().fold(-1.0f32, f32::max);
        assert!(max > 0.5, "image {i} has bright ink ({max})");
    }
    assert_eq!(d.class_name(0), Some("0"));
    assert_eq!(d.class_name(9_999), Some("9"));
    let rgba = d.rgba8(0);
    assert_eq!(rgba.len(), 28 * 28 * 4);
    assert_eq!(&rgba[..4], &[0, 0, 0, 255]);
}

#[test]
fn twemoji_is_rgb_on_white() {
    let d = bundled("twemoji-32").expect("loads");
    let plane = 32 * 32;
    // The top-left corner is white background in most emoji (89 % of them).
    let white = (0..d.len())
        .filter(|&i| (0..3).all(|ch| d.image(i)[ch * plane] == 1.0))
        .count();
    assert!(
        white * 5 > d.len() * 4,
        "{white} of {} corners are white",
        d.len()
    );
    // Some pixel somewhere is coloured (R, G and B differ).
    let img = d.image(0);
    assert!((0..plane).any(|p| img[p] != img[plane + p] || img[p] != img[2 * plane + p]));
}

/// Copies sklearn-digits (small) into a temporary folder for corruption tests.
fn digits_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sklearn-digits");
    for f in ["atlas.png", "meta.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy");
    }
    let p = dir.path().to_path_buf();
    (dir, p)
}

fn edit_meta(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("meta.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
    edit(&mut v);
    std::fs::write(&p, serde_json::to_vec(&v).expect("json")).expect("write");
}

#[test]
fn an_atlas_folder_loads_like_the_bundled_copy() {
    let (_t, dir) = digits_copy();
    let d = load_atlas_dir(&dir).expect("loads");
    assert_eq!(d, bundled("sklearn-digits").expect("loads"));
}

#[test]
fn atlas_count_larger_than_the_grid_names_meta_json() {
    let (_t, dir) = digits_copy();
    edit_meta(&dir, |m| {
        m["count"] = 5000.into();
    });
    let err = load_atlas_dir(&dir).expect_err("count too large");
    assert!(matches!(err, DataError::Meta { .. }), "{err}");
    assert!(err.to_string().contains("count 5000"), "{err}");
    assert_names_path_last(&err, &dir.join("meta.json"));
}

#[test]
fn atlas_grid_larger_than_the_png_names_atlas_png() {
    let (_t, dir) = digits_copy();
    edit_meta(&dir, |m| {
        m["rows"] = 40.into();
        m["count"] = 4000.into();
        m["labels"] = serde_json::Value::Null;
    });
    let err = load_atlas_dir(&dir).expect_err("grid too large");
    assert!(matches!(err, DataError::Atlas { .. }), "{err}");
    assert_names_path_last(&err, &dir.join("atlas.png"));
}

#[test]
fn atlas_channel_mismatch_names_atlas_png() {
    let (_t, dir) = digits_copy();
    edit_meta(&dir, |m| {
        m["channels"] = 3.into();
    });
    let err = load_atlas_dir(&dir).expect_err("channels differ");
    assert!(matches!(err, DataError::Atlas { .. }), "{err}");
    assert!(err.to_string().contains("3 channel"), "{err}");
    assert_names_path_last(&err, &dir.join("atlas.png"));
}

#[test]
fn atlas_label_count_mismatch_and_bad_json_name_meta_json() {
    let (_t, dir) = digits_copy();
    edit_meta(&dir, |m| {
        m["labels"] = serde_json::json!([0, 1, 2]);
    });
    let err = load_atlas_dir(&dir).expect_err("labels");
    assert_names_path_last(&err, &dir.join("meta.json"));
    std::fs::write(dir.join("meta.json"), b"{\"tile_w\": 8,").expect("write");
    let err = load_atlas_dir(&dir).expect_err("bad json");
    assert!(matches!(err, DataError::Meta { .. }), "{err}");
    assert_names_path_last(&err, &dir.join("meta.json"));
}

#[test]
fn truncated_or_missing_atlas_png_is_an_error_naming_it() {
    let (_t, dir) = digits_copy();
    let png = dir.join("atlas.png");
    let bytes = std::fs::read(&png).expect("read");
    std::fs::write(&png, &bytes[..bytes.len() / 2]).expect("write");
    let err = load_atlas_dir(&dir).expect_err("truncated");
    assert!(matches!(err, DataError::Decode { .. }), "{err}");
    assert_names_path_last(&err, &png);
    std::fs::remove_file(&png).expect("rm");
    let err = load_atlas_dir(&dir).expect_err("missing");
    assert!(matches!(err, DataError::Read { .. }), "{err}");
    assert_names_path_last(&err, &png);
}

// ---------------------------------------------------------------- user images

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 128]))
}

/// Writes one small image of every supported format into `dir`.
fn write_good_images(dir: &Path) -> Vec<PathBuf> {
    let names = ["a.png", "b.jpg", "c.bmp", "d.gif", "e.webp"];
    names
        .iter()
        .map(|n| {
            let p = dir.join(n);
            if n.ends_with(".gif") || n.ends_with(".webp") {
                let rgba = image::DynamicImage::ImageRgb8(gradient(20, 12)).into_rgba8();
                rgba.save(&p).expect("save");
            } else {
                gradient(20, 12).save(&p).expect("save");
            }
            p
        })
        .collect()
}

#[test]
fn every_supported_format_loads_from_a_folder_in_name_order() {
    let t = tempdir();
    let files = write_good_images(t.path());
    std::fs::create_dir(t.path().join("sub")).expect("mkdir");
    gradient(8, 8)
        .save(t.path().join("sub/z.png"))
        .expect("save");
    for mode in [ColorMode::Gray, ColorMode::Rgb] {
        let (d, report) = load_images(&[t.path()], 16, mode).expect("loads");
        assert_eq!(report.loaded, files, "sorted by name, subfolder ignored");
        assert!(report.skipped.is_empty());
        assert_eq!(
            (d.len(), d.width(), d.height(), d.channels()),
            (5, 16, 16, mode.channels())
        );
        assert!(d.data().iter().all(|v| (-1.0..=1.0).contains(v)));
        // All five hold the same picture: lossless formats agree exactly, JPEG closely.
        let png = d.image(0);
        for i in [2, 3, 4] {
            let diff = png
                .iter()
                .zip(d.image(i))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                diff < 0.02,
                "{:?} differs from PNG by {diff}",
                report.loaded[i]
            );
        }
        let jpeg_err: f32 = png
            .iter()
            .zip(d.image(1))
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / png.len() as f32;
        assert!(jpeg_err < 0.1, "JPEG mean error {jpeg_err}");
    }
}

#[test]
fn corrupt_and_non_image_files_are_skipped_and_reported() {
    let t = tempdir();
    let files = write_good_images(t.path());
    let corrupt = t.path().join("0-noise.png");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&corrupt, bytes).expect("write");
    let text = t.path().join("notes.txt");
    std::fs::write(&text, "not an image").expect("write");
    let truncated = t.path().join("t.png");
    let good = std::fs::read(&files[0]).expect("read");
    std::fs::write(&truncated, &good[..good.len() / 2]).expect("write");

    let (d, report) = load_images(&[t.path()], 8, ColorMode::Gray).expect("loads");
    assert_eq!(d.len(), 5);
    assert_eq!(report.loaded.len(), 5);
    let skipped: Vec<&Path> = report.skipped.iter().map(|s| s.path.as_path()).collect();
    assert_eq!(
        skipped,
        vec![corrupt.as_path(), text.as_path(), truncated.as_path()]
    );
    for s in &report.skipped {
        assert!(
            s.reason.ends_with(&s.path.display().to_string()),
            "{}",
            s.reason
        );
    }
    assert!(report.skipped[1].reason.contains("not a recognised image"));
    // The dataset carries the count and reasons, for the CLI's stderr and the app (#18 item 9).
    let w = d.warnings().join("; ");
    assert!(w.contains("skipped 3 of 8 files"), "{w}");
}

#[test]
fn a_truncated_jpeg_is_refused_not_filled_with_grey() {
    // The JPEG decoder fills a cut-off file's missing rows with flat grey and reports success
    // (#18 item 9): such a file is skipped with its reason, and loading it alone fails.
    let t = tempdir();
    let full = t.path().join("full.jpg");
    RgbImage::from_fn(64, 64, |x, y| {
        Rgb([(x * 4) as u8, (y * 4) as u8, ((x ^ y) * 4) as u8])
    })
    .save(&full)
    .expect("save");
    let bytes = std::fs::read(&full).expect("read");
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9]);
    let cut = t.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    // The image crate on its own decodes the cut file without complaint.
    assert!(image::open(&cut).is_ok(), "the decoder alone accepts it");
    let err = load_images(&[&cut], 16, ColorMode::Gray).expect_err("refused");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Trailing padding after the end marker is fine.
    let padded = t.path().join("padded.jpg");
    let mut p = bytes.clone();
    p.extend_from_slice(&[0, 0, 0, b'\n']);
    std::fs::write(&padded, &p).expect("write");
    let (d, report) = load_images(&[t.path()], 16, ColorMode::Gray).expect("loads");
    assert_eq!(d.len(), 2, "{report:?}");
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].reason.contains("truncated"));
    assert!(
        d.warnings()[0].contains("skipped 1 of 3 files"),
        "{:?}",
        d.warnings()
    );
}

#[test]
fn nothing_loadable_is_an_error_that_counts_the_skipped_files() {
    let t = tempdir();
    for n in ["a.txt", "b.png", "c.jpg"] {
        std::fs::write(t.path().join(n), "hello").expect("write");
    }
    let err = load_images(&[t.path()], 8, ColorMode::Gray).expect_err("nothing loads");
    let msg = err.to_string();
    assert!(
        matches!(err, DataError::NothingLoaded { skipped: 3, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("3 file(s) skipped") && msg.contains("a.txt"),
        "{msg}"
    );
}

#[test]
fn empty_folder_missing_path_and_no_paths_are_clear_errors() {
    let t = tempdir();
    let err = load_images(&[t.path()], 8, ColorMode::Gray).expect_err("empty");
    assert!(matches!(err, DataError::EmptyFolder { .. }), "{err}");
    assert_names_path_last(&err, t.path());
    let missing = t.path().join("nope.png");
    let err = load_images(&[&missing], 8, ColorMode::Gray).expect_err("missing");
    assert_names_path_last(&err, &missing);
    let none: [&Path; 0] = [];
    assert!(matches!(
        load_images(&none, 8, ColorMode::Gray),
        Err(DataError::NoInput)
    ));
    let p = t.path().join("x.png");
    gradient(4, 4).save(&p).expect("save");
    assert!(load_images(&[&p], 0, ColorMode::Gray).is_err());
    assert!(load_images(&[&p], 5000, ColorMode::Gray).is_err());
}

#[test]
fn non_square_images_are_centre_cropped() {
    let t = tempdir();
    // 30×10: black sides, white centre 10×10 → the crop is all white.
    let wide = RgbImage::from_fn(30, 10, |x, _| {
        if (10..20).contains(&x) {
            Rgb([255; 3])
        } else {
            Rgb([0; 3])
        }
    });
    let p = t.path().join("wide.png");
    wide.save(&p).expect("save");
    // 10×30 tall: top and bottom thirds red, centre green.
    let tall = RgbImage::from_fn(10, 30, |_, y| {
        if (10..20).contains(&y) {
            Rgb([0, 255, 0])
        } else {
            Rgb([255, 0, 0])
        }
    });
    let q = t.path().join("tall.png");
    tall.save(&q).expect("save");
    let (d, _) = load_images(&[&p, &q], 12, ColorMode::Rgb).expect("loads");
    assert_eq!((d.len(), d.width(), d.height()), (2, 12, 12));
    assert!(d.image(0).iter().all(|&v| v == 1.0));
    let plane = 144;
    let green = d.image(1);
    assert!(green[..plane].iter().all(|&v| v == -1.0), "R");
    assert!(green[plane..2 * plane].iter().all(|&v| v == 1.0), "G");
    assert!(green[2 * plane..].iter().all(|&v| v == -1.0), "B");
    let (g, _) = load_images(&[&q], 12, ColorMode::Gray).expect("loads");
    assert_eq!(g.channels(), 1);
    // Rec. 709 luma of pure green is about 0.72.
    let luma = (g.image(0)[0] + 1.0) / 2.0;
    assert!((luma - 0.715).abs() < 0.02, "{luma}");
}

#[test]
fn a_tiny_image_is_upscaled() {
    let t = tempdir();
    let p = t.path().join("tiny.bmp");
    gradient(3, 5).save(&p).expect("save");
    let (d, report) = load_images(&[&p], 32, ColorMode::Gray).expect("loads");
    assert_eq!((d.len(), d.width(), d.height()), (1, 32, 32));
    assert_eq!(report.loaded, vec![p]);
    assert_eq!(d.name(), "tiny.bmp");
}

#[test]
fn transparent_pixels_become_white() {
    let t = tempdir();
    let p = t.path().join("alpha.png");
    RgbaImage::from_pixel(6, 6, Rgba([0, 0, 0, 0]))
        .save(&p)
        .expect("save");
    let (d, _) = load_images(&[&p], 4, ColorMode::Gray).expect("loads");
    assert!(d.data().iter().all(|&v| v == 1.0));
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid 1×1 PNG whose IHDR is rewritten to claim `w`×`h` (with a correct CRC), so the
/// header announces a huge image while the file is tiny.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    RgbImage::from_pixel(1, 1, Rgb([9, 9, 9]))
        .write_to(&mut buf, image::ImageFormat::Png)
        .expect("encode");
    let mut png = buf.into_inner();
    // Signature (8) + length (4) + "IHDR" (4) + width (4) + height (4) …, CRC over type+data.
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn huge_images_are_refused_before_decoding() {
    let t = tempdir();
    let huge = t.path().join("huge.png");
    std::fs::write(&huge, png_claiming(20_000, 20_000)).expect("write");
    let area = t.path().join("area.png");
    std::fs::write(&area, png_claiming(9_000, 9_000)).expect("write");
    let real = t.path().join("wide.png");
    RgbImage::from_pixel(20_000, 1, Rgb([1, 2, 3]))
        .save(&real)
        .expect("save");
    let ok = t.path().join("ok.png");
    gradient(4, 4).save(&ok).expect("save");

    let (d, report) = load_images(&[t.path()], 8, ColorMode::Gray).expect("ok.png loads");
    assert_eq!(d.len(), 1);
    assert_eq!(report.loaded, vec![ok]);
    assert_eq!(report.skipped.len(), 3);
    let reason = |p: &Path| {
        report
            .skipped
            .iter()
            .find(|s| s.path == p)
            .map(|s| s.reason.clone())
            .expect("skipped")
    };
    assert!(
        reason(&huge).contains("too large (20000×20000"),
        "{}",
        reason(&huge)
    );
    assert!(
        reason(&area).contains("too large (9000×9000"),
        "{}",
        reason(&area)
    );
    assert!(
        reason(&real).contains("too large (20000×1"),
        "{}",
        reason(&real)
    );

    let err = load_images(&[&huge], 8, ColorMode::Gray).expect_err("refused");
    assert!(err.to_string().contains("16384 pixels per side"), "{err}");
}

// ---------------------------------------------------------------- .npy

/// Builds a .npy file by hand.
fn npy_bytes(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn npy_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn header(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n")
}

#[test]
fn npy_round_trip() {
    let t = tempdir();
    let p = t.path().join("x.npy");
    let data: Vec<f32> = (0..2 * 3 * 4 * 5)
        .map(|i| (i as f32 / 60.0) - 1.0)
        .collect();
    write_npy(&p, &[2, 3, 4, 5], &data).expect("writes");
    let d = read_npy(&p).expect("reads");
    assert_eq!(d.shape(), [2, 3, 4, 5]);
    assert_eq!(d.data(), &data[..]);
    assert_eq!(d.name(), "x");

    let digits = bundled("sklearn-digits").expect("loads").take(20);
    write_dataset_npy(&p, &digits).expect("writes");
    let back = read_npy(&p).expect("reads");
    assert_eq!(back.shape(), [20, 1, 8, 8]);
    assert_eq!(back.data(), digits.data());
    assert!(
        write_npy(&p, &[3, 3], &data).is_err(),
        "shape must match the data"
    );
}

#[test]
fn npy_dtypes_and_value_mappings() {
    let t = tempdir();
    // uint8, 3-D: v / 127.5 − 1.
    let p = npy_file(
        t.path(),
        "u8.npy",
        &npy_bytes(1, &header("|u1", "(1, 2, 2)"), &[0, 255, 51, 200]),
    );
    let d = read_npy(&p).expect("reads");
    assert_eq!(d.shape(), [1, 1, 2, 2]);
    assert_eq!(
        d.data(),
        &[-1.0, 1.0, 51.0 / 127.5 - 1.0, 200.0 / 127.5 - 1.0]
    );
    // uint8 holding only 0 and 1: a binary mask (seed 003's array format), 2-D = one image.
    let p = npy_file(
        t.path(),
        "mask.npy",
        &npy_bytes(1, &header("|u1", "(2, 2)"), &[0, 1, 1, 0]),
    );
    assert_eq!(read_npy(&p).expect("reads").data(), &[-1.0, 1.0, 1.0, -1.0]);
    // bool.
    let p = npy_file(
        t.path(),
        "b.npy",
        &npy_bytes(1, &header("|b1", "(1, 1, 2)"), &[1, 0]),
    );
    assert_eq!(read_npy(&p).expect("reads").data(), &[1.0, -1.0]);
    // f64 in [0, 1] → 2v − 1, version 2.0 header.
    let f: Vec<u8> = [0.0f64, 0.25, 1.0, 0.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = npy_file(
        t.path(),
        "f8.npy",
        &npy_bytes(2, &header("<f8", "(1, 1, 2, 2)"), &f),
    );
    assert_eq!(read_npy(&p).expect("reads").data(), &[-1.0, -0.5, 1.0, 0.0]);
    // f32 in [−1, 1] kept, version 3.0, three channels.
    let vals: Vec<f32> = (0..12).map(|i| i as f32 / 6.0 - 1.0).collect();
    let f: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let p = npy_file(
        t.path(),
        "f4.npy",
        &npy_bytes(3, &header("<f4", "(1, 3, 2, 2)"), &f),
    );
    let d = read_npy(&p).expect("reads");
    assert_eq!(d.channels(), 3);
    assert_eq!(d.data(), &vals[..]);
}

#[test]
fn npy_float_out_of_range_names_the_range() {
    let t = tempdir();
    let f: Vec<u8> = [0.0f32, 255.0, 3.0, 1.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = npy_file(
        t.path(),
        "raw.npy",
        &npy_bytes(1, &header("<f4", "(1, 2, 2)"), &f),
    );
    let err = read_npy(&p).expect_err("range");
    assert!(err.to_string().contains("[0, 255]"), "{err}");
    assert_names_path_last(&err, &p);
    let f: Vec<u8> = [0.0f32, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = npy_file(
        t.path(),
        "nan.npy",
        &npy_bytes(1, &header("<f4", "(1, 1, 2)"), &f),
    );
    assert!(matches!(read_npy(&p), Err(DataError::NpyNotFinite { .. })));
}

#[test]
fn npy_with_some_nan_says_how_many_and_where() {
    // Was "values in [NaN, NaN]", which says nothing about the finite part or the culprit.
    let t = tempdir();
    let f: Vec<u8> = [0.25f32, 0.5, f32::NAN, f32::INFINITY, f32::NAN, 0.75]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = npy_file(
        t.path(),
        "somenan.npy",
        &npy_bytes(1, &header("<f4", "(1, 2, 3)"), &f),
    );
    let err = read_npy(&p).expect_err("refused").to_string();
    assert!(!err.contains("[NaN, NaN]"), "{err}");
    assert!(err.contains("2 NaN and 1 infinite"), "{err}");
    assert!(err.contains("index 2"), "{err}");
}

#[test]
fn npy_negative_dimension_is_quoted() {
    // Was "bad dimension ''": the minus sign stopped the word.
    let t = tempdir();
    let p = npy_file(
        t.path(),
        "neg.npy",
        &npy_bytes(1, &header("<f4", "(1, -3, 2)"), &[0u8; 24]),
    );
    let err = read_npy(&p).expect_err("refused").to_string();
    assert!(err.contains("bad dimension '-3'"), "{err}");
}

#[test]
fn npy_wrong_rank_is_refused() {
    let t = tempdir();
    for (name, shape, n) in [
        ("r1.npy", "(4,)", 4),
        ("r5.npy", "(1, 1, 1, 2, 2)", 4),
        ("c2.npy", "(1, 2, 2, 2)", 8),
        ("nhwc.npy", "(1, 2, 2, 4)", 16),
        ("zero.npy", "(0, 2, 2)", 0),
        ("r0.npy", "()", 1),
    ] {
        let p = npy_file(
            t.path(),
            name,
            &npy_bytes(1, &header("|u1", shape), &vec![0; n]),
        );
        let err = read_npy(&p).expect_err("rank");
        assert!(matches!(err, DataError::NpyShape { .. }), "{name}: {err}");
        assert!(err.to_string().contains(shape), "{err}");
        assert_names_path_last(&err, &p);
    }
}

#[test]
fn npy_unsupported_dtypes_are_refused() {
    let t = tempdir();
    for descr in ["<i8", ">f4", "<f2", "<c8"] {
        let p = npy_file(
            t.path(),
            "d.npy",
            &npy_bytes(1, &header(descr, "(1, 2, 2)"), &[0; 32]),
        );
        let err = read_npy(&p).expect_err("dtype");
        assert_eq!(
            err.to_string(),
            format!(
                "unsupported dtype '{descr}' in .npy file (supported: '<f4', '<f8', '|u1', '|b1'): {}",
                p.display()
            )
        );
    }
}

#[test]
fn npy_truncated_bad_magic_fortran_and_bad_header() {
    let t = tempdir();
    let p = t.path().join("ok.npy");
    write_npy(&p, &[2, 4, 4], &[0.5; 32]).expect("writes");
    let good = std::fs::read(&p).expect("read");

    let cut = npy_file(t.path(), "cut.npy", &good[..good.len() - 10]);
    let err = read_npy(&cut).expect_err("truncated");
    assert!(
        matches!(
            err,
            DataError::NpySize {
                expected: 128,
                found: 118,
                ..
            }
        ),
        "{err}"
    );
    assert_names_path_last(&err, &cut);

    let in_header = npy_file(t.path(), "cuthead.npy", &good[..40]);
    let err = read_npy(&in_header).expect_err("truncated header");
    assert!(matches!(err, DataError::NpyHeader { .. }), "{err}");

    let mut bad = good.clone();
    bad[1] = b'X';
    let magic = npy_file(t.path(), "magic.npy", &bad);
    let err = read_npy(&magic).expect_err("magic");
    assert!(err.to_string().contains("NUMPY"), "{err}");
    assert_names_path_last(&err, &magic);

    let f = npy_bytes(
        1,
        "{'descr': '|u1', 'fortran_order': True, 'shape': (1, 2, 2), }\n",
        &[0; 4],
    );
    let fortran = npy_file(t.path(), "f.npy", &f);
    let err = read_npy(&fortran).expect_err("fortran");
    assert!(matches!(err, DataError::NpyFortranOrder { .. }), "{err}");

    let g = npy_bytes(1, "{'descr': '|u1', 'shape': (1, 2, 2), }\n", &[0; 4]);
    let garbled = npy_file(t.path(), "g.npy", &g);
    let err = read_npy(&garbled).expect_err("no fortran_order");
    assert!(err.to_string().contains("fortran_order"), "{err}");

    let v9 = npy_file(
        t.path(),
        "v9.npy",
        &npy_bytes(9, &header("|u1", "(1, 1)"), &[0]),
    );
    assert!(
        read_npy(&v9)
            .expect_err("version")
            .to_string()
            .contains("version 9")
    );

    let missing = t.path().join("missing.npy");
    assert_names_path_last(&read_npy(&missing).expect_err("missing"), &missing);
}

#[test]
fn datasets_from_all_sources_share_one_layout() {
    // A tiny RGB dataset built by hand agrees with its .npy round trip and its RGBA view.
    let d = Dataset::from_u8("rgb", 1, 1, 3, &[255, 0, 128]).expect("valid");
    assert_eq!(d.rgba8(0), vec![255, 0, 128, 255]);
    let t = tempdir();
    let p = t.path().join("rgb.npy");
    write_dataset_npy(&p, &d).expect("writes");
    assert_eq!(read_npy(&p).expect("reads").data(), d.data());
}
