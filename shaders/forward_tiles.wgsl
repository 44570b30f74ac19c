// Forward-process tiles: for every tile k and pixel, value = a·A + b·B over the channels, then a
// colour map to RGBA8. Used by the forward explorer (src/explore/gpu.rs) when the wgpu renderer
// is active; src/explore/tiles.rs computes the same values and pixels on the CPU.
//
// Typical tiles: x_t = √ᾱ·x₀ + √(1−ᾱ)·ε (A = x₀, B = ε), the noise part √(1−ᾱ)·ε (a = 0), and,
// for the step-by-step chain, x_t − √ᾱ·x₀ (A = chain x_t, B = x₀, a = 1, b = −√ᾱ).
//
// Planes are C×H×W, channel-major, stored one after the other in `planes` (plane_len floats
// each). Values go to `values` (tile k at k·plane_len), pixels to `rgba` (tile k at k·H·W,
// one little-endian u32 R | G<<8 | B<<16 | A<<24 per pixel, row-major).

struct Dims {
    width: u32,
    height: u32,
    channels: u32,
    plane_len: u32,
    n_tiles: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Tile {
    a: f32,
    b: f32,
    a_plane: u32,
    b_plane: u32,
    // 0: grayscale / RGB data map, [−1, 1] → [0, 255]; 1: diverging blue–white–red on ±range.
    color_map: u32,
    range: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> tiles: array<Tile>;
@group(0) @binding(2) var<storage, read> planes: array<f32>;
@group(0) @binding(3) var<storage, read_write> values: array<f32>;
@group(0) @binding(4) var<storage, read_write> rgba: array<u32>;

// Round half up, as the CPU path does with (v + 0.5).floor().
fn to_byte(v: f32) -> u32 {
    return u32(floor(clamp(v, 0.0, 255.0) + 0.5));
}

fn data_byte(v: f32) -> u32 {
    return to_byte((v + 1.0) * 127.5);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    let k = gid.z;
    if (x >= dims.width || y >= dims.height || k >= dims.n_tiles) {
        return;
    }
    let tile = tiles[k];
    let plane = dims.width * dims.height;
    let p = y * dims.width + x;
    var v = vec3<f32>(0.0, 0.0, 0.0);
    for (var c = 0u; c < dims.channels; c = c + 1u) {
        let i = c * plane + p;
        let value = tile.a * planes[tile.a_plane * dims.plane_len + i]
            + tile.b * planes[tile.b_plane * dims.plane_len + i];
        values[k * dims.plane_len + i] = value;
        v[c] = value;
    }
    var r: u32;
    var g: u32;
    var b: u32;
    if (tile.color_map == 0u) {
        if (dims.channels == 1u) {
            r = data_byte(v.x);
            g = r;
            b = r;
        } else {
            r = data_byte(v.x);
            g = data_byte(v.y);
            b = data_byte(v.z);
        }
    } else {
        // One scalar per pixel: the value, or the channel sum / √3 (unit variance for white noise).
        var s = v.x;
        if (dims.channels != 1u) {
            s = (v.x + v.y + v.z) * 0.57735026;
        }
        let u = clamp(s / tile.range, -1.0, 1.0);
        let white = vec3<f32>(247.0, 247.0, 247.0);
        var end = vec3<f32>(178.0, 24.0, 43.0);
        if (u < 0.0) {
            end = vec3<f32>(33.0, 102.0, 172.0);
        }
        let col = white + abs(u) * (end - white);
        r = to_byte(col.x);
        g = to_byte(col.y);
        b = to_byte(col.z);
    }
    rgba[k * plane + p] = r | (g << 8u) | (b << 16u) | (255u << 24u);
}
