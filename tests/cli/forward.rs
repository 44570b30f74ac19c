//! `diffusion-lab forward`, run as a real process: strips of the right size, .npy of the right
//! shape, every data source, and clean usage errors (exit code 2, the culprit named).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use crate::common;

fn run(args: &[&str]) -> Output {
    common::cli("forward", args)
}

fn text(b: &[u8]) -> String {
    common::text(b)
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    common::cli_ok("forward", args)
}

#[track_caller]
fn usage_error(args: &[&str], culprit: &str) {
    common::cli_usage_error("forward", args, culprit);
}

fn png_size(p: &Path) -> (u32, u32) {
    let img = image::open(p).unwrap();
    (img.width(), img.height())
}

/// The shape and f32 values of a .npy file written by the command.
fn read_f32_npy(p: &Path) -> (String, Vec<f32>) {
    let bytes = std::fs::read(p).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..10 + len].to_vec()).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    let values = bytes[10 + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, values)
}

#[test]
fn mnist_strip_has_the_right_size_and_npy_the_right_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (png, npy) = (dir.path().join("strip.png"), dir.path().join("xt.npy"));
    let out = ok(&[
        "--data",
        "mnist",
        "--index",
        "3",
        "--kind",
        "cosine",
        "--t",
        "0,250,500,1000",
        "--seed",
        "7",
        "--out",
        png.to_str().unwrap(),
        "--npy",
        npy.to_str().unwrap(),
    ]);
    // 4 columns of 28×28 tiles at scale 2 with 2-pixel gaps; one row.
    assert_eq!(png_size(&png), (4 * 56 + 5 * 2, 56 + 2 * 2));
    assert!(
        out.contains("cosine T=1000 s=0.008: t = 0, 250, 500, 1000"),
        "{out}"
    );
    let (shape, values) = read_f32_npy(&npy);
    assert_eq!(shape, "4, 1, 28, 28");
    assert_eq!(values.len(), 4 * 784);
    // Column 0 is t = 0: the image itself.
    let mnist = diffusion_lab::data::bundled("mnist").unwrap();
    assert_eq!(&values[..784], mnist.image(3));
    // Reproducible: the same seed gives the same file.
    let npy2 = dir.path().join("again.npy");
    ok(&[
        "--data",
        "mnist",
        "--index",
        "3",
        "--kind",
        "cosine",
        "--t",
        "0,250,500,1000",
        "--seed",
        "7",
        "--out",
        png.to_str().unwrap(),
        "--npy",
        npy2.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&npy).unwrap(), std::fs::read(&npy2).unwrap());
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 3, "no temporary files are left behind");
}

#[test]
fn comparison_rows_share_one_eps_and_log_snr_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (png, npy) = (dir.path().join("cmp.png"), dir.path().join("cmp.npy"));
    let out = ok(&[
        "--data",
        "triangles-binary",
        "--index",
        "9999",
        "--also",
        "cosine",
        "--columns",
        "5",
        "--spacing",
        "log-snr",
        "--scale",
        "1",
        "--out",
        png.to_str().unwrap(),
        "--npy",
        npy.to_str().unwrap(),
    ]);
    assert_eq!(png_size(&png), (5 * 32 + 6 * 2, 2 * 32 + 3 * 2));
    assert!(out.contains("linear T=1000: t = 0, "), "{out}");
    assert!(out.contains("one shared ε"), "{out}");
    let (shape, v) = read_f32_npy(&npy);
    assert_eq!(shape, "10, 1, 32, 32");
    // Both rows start at t = 0, the same data.
    assert_eq!(v[..1024], v[5 * 1024..6 * 1024]);
}

#[test]
fn the_chain_flag_gives_different_pixels_from_the_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("s.png");
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    let base = ["--data", "sklearn-digits", "--t", "0,300", "--out"];
    let mut args: Vec<&str> = base.to_vec();
    args.extend([png.to_str().unwrap(), "--npy", a.to_str().unwrap()]);
    ok(&args);
    let mut args: Vec<&str> = base.to_vec();
    args.extend([
        png.to_str().unwrap(),
        "--npy",
        b.to_str().unwrap(),
        "--chain",
    ]);
    let out = ok(&args);
    assert!(out.contains("step-by-step chain"), "{out}");
    let (_, va) = read_f32_npy(&a);
    let (_, vb) = read_f32_npy(&b);
    assert_eq!(va[..64], vb[..64], "t = 0 is the data either way");
    assert_ne!(va[64..], vb[64..]);
}

#[test]
fn user_image_file_folder_and_npy_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("imgs");
    std::fs::create_dir(&folder).unwrap();
    for k in 0..2u8 {
        let img = image::RgbImage::from_fn(100, 80, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 3) as u8, 60 * k])
        });
        img.save(folder.join(format!("p{k}.png"))).unwrap();
    }
    let png = dir.path().join("out.png");
    let out_s = png.to_str().unwrap();
    // One file: 64×64 RGB by default.
    let file = folder.join("p1.png");
    ok(&[
        "--data",
        file.to_str().unwrap(),
        "--t",
        "100",
        "--scale",
        "1",
        "--out",
        out_s,
    ]);
    assert_eq!(png_size(&png), (64 + 4, 64 + 4));
    // A folder, gray, 16 pixels, a 2×2 grid (two images, two black cells, which stderr states).
    let npy = dir.path().join("g.npy");
    let o = run(&[
        "--data",
        folder.to_str().unwrap(),
        "--size",
        "16",
        "--color",
        "gray",
        "--grid",
        "2",
        "--t",
        "0",
        "--scale",
        "1",
        "--out",
        out_s,
        "--npy",
        npy.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("--grid 2 has 4 cells but the data has only 2 image(s) from --index 0; the other 2 cell(s) are black"),
        "{err}"
    );
    assert_eq!(png_size(&png), (32 + 4, 32 + 4));
    assert_eq!(read_f32_npy(&npy).0, "4, 1, 16, 16");
    // A file in the folder that does not decode is skipped, and stderr says so and why.
    std::fs::write(folder.join("zz.png"), "not a picture").unwrap();
    let o = run(&[
        "--data",
        folder.to_str().unwrap(),
        "--t",
        "1",
        "--out",
        out_s,
    ]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: --data: skipped 1 of 3 files:"),
        "{err}"
    );
    assert!(err.contains("zz.png"), "{err}");
    std::fs::remove_file(folder.join("zz.png")).unwrap();
    // A .npy array of three 8×8 images in [0, 1].
    let arr = dir.path().join("arr.npy");
    let data: Vec<f32> = (0..3 * 64).map(|k| (k % 64) as f32 / 63.0).collect();
    diffusion_lab::data::write_npy(&arr, &[3, 1, 8, 8], &data).unwrap();
    ok(&[
        "--data",
        arr.to_str().unwrap(),
        "--index",
        "2",
        "--t",
        "5,6",
        "--out",
        out_s,
    ]);
    assert_eq!(png_size(&png), (2 * 16 + 3 * 2, 16 + 4));
    usage_error(
        &[
            "--data",
            arr.to_str().unwrap(),
            "--index",
            "3",
            "--t",
            "5",
            "--out",
            out_s,
        ],
        "--index",
    );
    // A corrupt image names --data.
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"not a png").unwrap();
    usage_error(
        &["--data", bad.to_str().unwrap(), "--t", "5", "--out", out_s],
        "--data",
    );
}

#[test]
fn bad_data_index_and_t_are_usage_errors_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    let out = png.to_str().unwrap();
    usage_error(
        &["--data", "no-such-set", "--t", "5", "--out", out],
        "--data",
    );
    usage_error(
        &[
            "--data", "mnist", "--index", "10000", "--t", "5", "--out", out,
        ],
        "--index",
    );
    usage_error(
        &["--data", "mnist", "--index", "-1", "--t", "5", "--out", out],
        "--index",
    );
    usage_error(
        &[
            "--data",
            "triangles-down",
            "--index",
            "10000",
            "--t",
            "1",
            "--out",
            out,
        ],
        "--index",
    );
    usage_error(&["--data", "mnist", "--t", "1001", "--out", out], "--t");
    usage_error(&["--data", "mnist", "--t", "5,-3", "--out", out], "--t");
    usage_error(&["--data", "mnist", "--t", "abc", "--out", out], "--t");
    usage_error(
        &[
            "--data", "mnist", "--steps", "50", "--t", "60", "--out", out,
        ],
        "--t",
    );
    usage_error(&["--data", "mnist", "--out", out], "--t");
    usage_error(
        &[
            "--data",
            "mnist",
            "--t",
            "5",
            "--beta-end",
            "2",
            "--out",
            out,
        ],
        "--beta-end",
    );
    usage_error(
        &["--data", "mnist", "--columns", "1", "--out", out],
        "--columns",
    );
    usage_error(
        &["--data", "mnist", "--t", "5", "--scale", "0", "--out", out],
        "--scale",
    );
    usage_error(
        &["--data", "mnist", "--t", "5", "--grid", "9", "--out", out],
        "--grid",
    );
    usage_error(&["--t", "5", "--out", out], "--data");
    assert!(!png.exists(), "nothing is written for a refused command");
}

#[test]
fn an_unwritable_output_fails_with_exit_code_1() {
    let out = run(&[
        "--data",
        "sklearn-digits",
        "--t",
        "5",
        "--out",
        "/nonexistent-dir/x.png",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("/nonexistent-dir/x.png"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
