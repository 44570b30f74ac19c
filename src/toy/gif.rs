//! The 2-D animation as a GIF: each recorded frame of the particle cloud drawn as dots (with
//! the data faintly behind), written atomically.

use super::sampling::Frame;
use image::{Rgba, RgbaImage};
use std::path::Path;

/// How a frame is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GifStyle {
    /// Side of the square image in pixels.
    pub size: u32,
    /// The view is [−half, half]².
    pub half: f64,
    /// Delay between frames in milliseconds.
    pub delay_ms: u32,
}

impl Default for GifStyle {
    fn default() -> Self {
        Self {
            size: 320,
            half: 2.5,
            delay_ms: 60,
        }
    }
}

fn plot(img: &mut RgbaImage, points: &[f64], style: &GifStyle, colour: Rgba<u8>, radius: i64) {
    let s = f64::from(style.size);
    for p in points.chunks_exact(2) {
        let px = ((p[0] + style.half) / (2.0 * style.half) * s) as i64;
        let py = ((style.half - p[1]) / (2.0 * style.half) * s) as i64;
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                let (x, y) = (px + dx, py + dy);
                if x >= 0 && y >= 0 && x < i64::from(style.size) && y < i64::from(style.size) {
                    img.put_pixel(x as u32, y as u32, colour);
                }
            }
        }
    }
}

/// Renders one frame: white background, axes through the origin, `data` in light grey and the
/// particles in blue.
pub fn render_frame(frame: &Frame, data: &[f64], style: &GifStyle) -> RgbaImage {
    let mut img = RgbaImage::from_pixel(style.size, style.size, Rgba([255, 255, 255, 255]));
    let mid = style.size / 2;
    for i in 0..style.size {
        img.put_pixel(i, mid, Rgba([225, 225, 225, 255]));
        img.put_pixel(mid, i, Rgba([225, 225, 225, 255]));
    }
    plot(&mut img, data, style, Rgba([200, 200, 200, 255]), 0);
    plot(&mut img, &frame.points, style, Rgba([30, 90, 200, 255]), 1);
    img
}

/// Writes `frames` as a looping GIF at `path`, atomically.
pub fn save_gif(
    path: &Path,
    frames: &[Frame],
    data: &[f64],
    style: &GifStyle,
) -> std::io::Result<()> {
    if frames.is_empty() {
        return Err(std::io::Error::other("there are no frames to export"));
    }
    crate::fs::write_atomic(path, |file| {
        let mut enc = image::codecs::gif::GifEncoder::new_with_speed(file, 10);
        enc.set_repeat(image::codecs::gif::Repeat::Infinite)
            .map_err(std::io::Error::other)?;
        for (i, f) in frames.iter().enumerate() {
            // Hold the last frame so the result can be seen before the loop restarts.
            let delay = if i + 1 == frames.len() {
                style.delay_ms * 20
            } else {
                style.delay_ms
            };
            let frame = image::Frame::from_parts(
                render_frame(f, data, style),
                0,
                0,
                image::Delay::from_numer_denom_ms(delay, 1),
            );
            enc.encode_frame(frame).map_err(std::io::Error::other)?;
        }
        Ok(())
    })
}
