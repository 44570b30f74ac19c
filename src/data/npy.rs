//! NumPy `.npy` arrays (seed 003's "array format"), read and written.
//!
//! **Reading** ([`read_npy`]) accepts format versions 1.0, 2.0 and 3.0, C order only, with
//! - shape `H×W` (one gray image), `N×H×W` (N gray images) or `N×C×H×W` with C = 1 or 3
//!   (channel-major, as PyTorch stores images). Channel-last `N×H×W×C` is *not* recognised
//!   (a 4-D array whose second axis is not 1 or 3 is refused): transpose it first with
//!   `a.transpose(0, 3, 1, 2)`. Every size must be positive.
//! - dtype `<f4`, `<f8`, `|u1` (also written `<u1`) or `|b1`. Big-endian and integer types
//!   other than `u1` are refused.
//!
//! Values are mapped to [−1, 1]:
//! - `bool`: false → −1, true → +1.
//! - `uint8`: `v / 127.5 − 1`, except that an array holding only 0 and 1 is read as a binary
//!   mask (0 → −1, 1 → +1), which is how seed 003 stores its black-and-white triangles.
//! - floats: if every value lies in [0, 1] the array is read as `2v − 1`; otherwise, if every
//!   value lies in [−1, 1], it is kept as is; otherwise (or with a NaN or infinity) the file is
//!   refused with the observed range. So a [−1, 1] array that happens to hold no negative value
//!   is read as a [0, 1] array.
//!
//! **Writing** ([`write_npy`]) produces a version 1.0 file of `<f4` values in C order, with the
//! header padded to a multiple of 64 bytes as NumPy does, written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset};

const MAGIC: &[u8] = b"\x93NUMPY";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    U1,
    B1,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        match descr {
            "<f4" => Some(Self::F4),
            "<f8" => Some(Self::F8),
            "|u1" | "<u1" | "u1" => Some(Self::U1),
            "|b1" | "b1" => Some(Self::B1),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Self::F4 => 4,
            Self::F8 => 8,
            Self::U1 | Self::B1 => 1,
        }
    }
}

/// The parsed header dictionary.
#[derive(Debug)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A value of the header's Python literal.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect_byte(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect_byte(b':')?;
        let value = p.value()?;
        match (key.as_str(), value) {
            ("descr", Lit::Str(s)) => descr = Some(s),
            ("fortran_order", Lit::Bool(b)) => fortran = Some(b),
            ("shape", Lit::Tuple(t)) => shape = Some(t),
            (k, v) => return Err(format!("unexpected entry '{k}': {v:?}")),
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect_byte(b'}')?;
            break;
        }
    }
    Ok(Header {
        descr: descr.ok_or("missing 'descr'")?,
        fortran_order: fortran.ok_or("missing 'fortran_order'")?,
        shape: shape.ok_or("missing 'shape'")?,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_byte(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at byte {} of the header",
                c as char, self.i
            ))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!(
                    "expected a string at byte {} of the header",
                    self.i
                ));
            }
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != quote {
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err("unterminated string in the header".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn word(&mut self) -> &[u8] {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn value(&mut self) -> Result<Lit, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'\'' | b'"') => self.string().map(Lit::Str),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.ws();
                    if self.eat(b')') {
                        break;
                    }
                    // A sign is kept so that the message quotes what the file says.
                    let sign = if self.eat(b'-') { "-" } else { "" };
                    let w = self.word();
                    let text =
                        format!("{sign}{}", String::from_utf8_lossy(w).trim_end_matches('L'));
                    let d = text.parse::<usize>().map_err(|_| {
                        if text.is_empty() {
                            format!(
                                "missing dimension in 'shape' at byte {} of the header",
                                self.i
                            )
                        } else {
                            format!(
                                "bad dimension '{text}' in 'shape' (dimensions are whole \
                                 numbers ≥ 0)"
                            )
                        }
                    })?;
                    dims.push(d);
                    self.ws();
                    if !self.eat(b',') {
                        self.expect_byte(b')')?;
                        break;
                    }
                }
                Ok(Lit::Tuple(dims))
            }
            _ => match self.word() {
                b"True" => Ok(Lit::Bool(true)),
                b"False" => Ok(Lit::Bool(false)),
                w => Err(format!(
                    "unexpected value '{}' in the header",
                    String::from_utf8_lossy(w)
                )),
            },
        }
    }
}

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Reads a `.npy` file into a dataset (see the module documentation for what is accepted and
/// how values are mapped). The dataset is named after the file stem.
pub fn read_npy(path: &Path) -> Result<Dataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "array".into());
    let (values, [_, c, h, w]) = parse_npy(&bytes, path, false)?;
    Dataset::new(name, w, h, c, values)
}

/// Reads a `.npy` file of generated samples: like [`read_npy`], except that float values are
/// not checked. NaN and ±∞ are kept (the caller counts and drops those samples), and values
/// outside [−1, 1] are kept as they are. Floats all in [0, 1] are still mapped by `2v − 1`.
/// Returns the values (flat) and the shape [N, C, H, W].
pub fn read_npy_samples(path: &Path) -> Result<(Vec<f32>, [usize; 4]), DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy(&bytes, path, true)
}

/// The values (flat) and the shape [N, C, H, W] of a `.npy` file's bytes.
fn parse_npy(
    bytes: &[u8],
    path: &Path,
    lenient: bool,
) -> Result<(Vec<f32>, [usize; 4]), DataError> {
    let header_err = |reason: String| DataError::NpyHeader {
        reason,
        path: path.to_path_buf(),
    };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(header_err("the file does not start with \\x93NUMPY".into()));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (
            usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
            10usize,
        ),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(header_err("the header is truncated".into()));
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (len as usize, 12)
        }
        _ => {
            return Err(header_err(format!(
                "unsupported format version {major}.{minor}"
            )));
        }
    };
    let data_start = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| header_err("the header is truncated".into()))?;
    let text = std::str::from_utf8(&bytes[start..data_start])
        .map_err(|_| header_err("the header is not valid text".into()))?;
    let header = parse_header(text).map_err(header_err)?;

    let dtype = Dtype::parse(&header.descr).ok_or_else(|| DataError::NpyDtype {
        dtype: header.descr.clone(),
        path: path.to_path_buf(),
    })?;
    if header.fortran_order {
        return Err(DataError::NpyFortranOrder {
            path: path.to_path_buf(),
        });
    }
    let shape_err = || DataError::NpyShape {
        shape: shape_text(&header.shape),
        path: path.to_path_buf(),
    };
    let (n, c, h, w) = match header.shape[..] {
        [h, w] => (1, 1, h, w),
        [n, h, w] => (n, 1, h, w),
        [n, c @ (1 | 3), h, w] => (n, c, h, w),
        _ => return Err(shape_err()),
    };
    if n == 0 || h == 0 || w == 0 {
        return Err(shape_err());
    }
    let count = [n, c, h, w]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(shape_err)?;
    let expected = count.checked_mul(dtype.size()).ok_or_else(shape_err)?;
    let body = &bytes[data_start..];
    if body.len() != expected {
        return Err(DataError::NpySize {
            expected: expected as u64,
            found: body.len() as u64,
            path: path.to_path_buf(),
        });
    }

    let values: Vec<f32> = match dtype {
        Dtype::B1 => collect(body.iter().map(|&b| if b != 0 { 1.0 } else { -1.0 }), count)?,
        Dtype::U1 => {
            if body.iter().all(|&b| b <= 1) {
                collect(body.iter().map(|&b| if b == 1 { 1.0 } else { -1.0 }), count)?
            } else {
                collect(body.iter().map(|&b| super::u8_to_unit(b)), count)?
            }
        }
        Dtype::F4 => map_floats(
            body.chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            count,
            path,
            lenient,
        )?,
        Dtype::F8 => map_floats(
            body.chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            count,
            path,
            lenient,
        )?,
    };
    Ok((values, [n, c, h, w]))
}

/// Maps floats in [0, 1] by `2v − 1`, keeps floats in [−1, 1], refuses anything else (unless
/// `lenient`: then non-finite and out-of-range values are kept as they are).
fn map_floats(
    values: impl Iterator<Item = f64> + Clone,
    count: usize,
    path: &Path,
    lenient: bool,
) -> Result<Vec<f32>, DataError> {
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut nan, mut inf, mut first) = (0usize, 0usize, None);
    for (i, v) in values.clone().enumerate() {
        if !v.is_finite() {
            if v.is_nan() {
                nan += 1;
            } else {
                inf += 1;
            }
            first.get_or_insert(i);
            continue;
        }
        min = min.min(v);
        max = max.max(v);
    }
    if lenient {
        let unit = min >= 0.0 && max <= 1.0;
        return collect(
            values.map(|v| {
                if unit {
                    (2.0 * v - 1.0) as f32
                } else {
                    v as f32
                }
            }),
            count,
        );
    }
    if let Some(first) = first {
        return Err(DataError::NpyNotFinite {
            nan,
            inf,
            first,
            path: PathBuf::from(path),
        });
    }
    let range_err = |min: f64, max: f64| DataError::NpyRange {
        min,
        max,
        path: PathBuf::from(path),
    };
    if min >= 0.0 && max <= 1.0 {
        collect(values.map(|v| (2.0 * v - 1.0) as f32), count)
    } else if min >= -1.0 && max <= 1.0 {
        collect(values.map(|v| v as f32), count)
    } else {
        Err(range_err(min, max))
    }
}

/// The `count` values of an array, in a vector allocated fallibly (an array may be larger
/// than memory once widened to `f32`).
fn collect(values: impl Iterator<Item = f32>, count: usize) -> Result<Vec<f32>, DataError> {
    let mut out = crate::mem::try_with_capacity(count, "the array's values")?;
    out.extend(values);
    Ok(out)
}

/// Writes `data` with the given `shape` as a version 1.0 `.npy` file of `<f4` values
/// (C order), atomically. Fails when the shape's product differs from `data.len()`.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), DataError> {
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&c| c == data.len())
        .ok_or_else(|| {
            DataError::Shape(format!(
                "shape {} does not hold {} values",
                shape_text(shape),
                data.len()
            ))
        })?;
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}",
        shape_text(shape)
    );
    // Pad with spaces so that magic + version + length + header (ending in '\n') is a multiple
    // of 64 bytes.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let header_len = u16::try_from(header.len())
        .map_err(|_| DataError::Shape("the shape is too long for a .npy v1.0 header".into()))?;
    crate::fs::write_atomic(path, |w| {
        w.write_all(MAGIC)?;
        w.write_all(&[1, 0])?;
        w.write_all(&header_len.to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for v in &data[..count] {
            w.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
    .map_err(|source| DataError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a whole dataset as an `N×C×H×W` `<f4` `.npy` file (values in [−1, 1]).
pub fn write_dataset_npy(path: &Path, dataset: &Dataset) -> Result<(), DataError> {
    write_npy(path, &dataset.shape(), dataset.data())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parser_handles_numpy_spellings() {
        let h = parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   \n")
            .expect("parses");
        assert_eq!(h.descr, "<f4");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![2, 3]);
        let h = parse_header("{\"shape\": (5,), \"fortran_order\": True, \"descr\": \"|u1\"}")
            .expect("parses");
        assert_eq!(h.shape, vec![5]);
        assert!(h.fortran_order);
        assert_eq!(
            parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': ()}")
                .expect("parses")
                .shape,
            Vec::<usize>::new()
        );
        assert!(parse_header("{'descr': '<f4'").is_err());
        assert!(parse_header("{'descr': '<f4', 'fortran_order': False}").is_err());
        assert!(parse_header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}").is_err());
    }

    #[test]
    fn written_header_is_aligned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.npy");
        write_npy(&p, &[2, 2], &[0.0, 0.5, -0.5, 1.0]).expect("writes");
        let bytes = std::fs::read(&p).expect("read");
        let hl = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert_eq!((10 + hl) % 64, 0);
        assert_eq!(bytes[10 + hl - 1], b'\n');
        assert_eq!(bytes.len(), 10 + hl + 16);
        assert!(write_npy(&p, &[3], &[0.0]).is_err());
    }
}
