//! The in-memory image dataset every loader produces.

use super::DataError;
use crate::diffusion::Rng;

/// A stack of equally sized images, stored as `f32` in [−1, 1].
///
/// All images live in one `Vec<f32>`; image `i` is the slice
/// `data[i * pixels_per_image() .. (i + 1) * pixels_per_image()]`, laid out channel-major
/// (C×H×W: the whole first channel row by row, then the next channel). −1 is black /
/// background for gray sets, +1 is white / ink.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<f32>,
    labels: Option<Vec<u32>>,
    classes: Option<Vec<String>>,
    /// What loading left out or could only partly read (e.g. files skipped in a folder), for
    /// the CLI's stderr and the app's status line.
    warnings: Vec<String>,
}

/// Maps an 8-bit value to [−1, 1]: `v / 127.5 − 1` (0 → −1, 255 → +1).
pub fn u8_to_unit(v: u8) -> f32 {
    f32::from(v) / 127.5 - 1.0
}

/// Maps a value in [−1, 1] to 8 bits, rounding and clamping: `round((x + 1) · 127.5)`.
/// NaN maps to 0.
pub fn unit_to_u8(x: f32) -> u8 {
    let v = ((x + 1.0) * 127.5).round();
    if v.is_nan() {
        0
    } else {
        v.clamp(0.0, 255.0) as u8
    }
}

impl Dataset {
    /// A dataset of `data.len() / (channels · height · width)` images.
    ///
    /// Fails when a size is 0, `channels` is not 1 or 3, `data` is empty or not a whole number
    /// of images, or a value is not finite. Values are not clamped.
    pub fn new(
        name: impl Into<String>,
        width: usize,
        height: usize,
        channels: usize,
        data: Vec<f32>,
    ) -> Result<Self, DataError> {
        if width == 0 || height == 0 {
            return Err(DataError::Shape(format!(
                "images must be at least 1×1, got {width}×{height}"
            )));
        }
        if channels != 1 && channels != 3 {
            return Err(DataError::Shape(format!(
                "images must have 1 or 3 channels, got {channels}"
            )));
        }
        let per = width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(channels))
            .ok_or_else(|| DataError::Shape("image size overflows".into()))?;
        if data.is_empty() || !data.len().is_multiple_of(per) {
            return Err(DataError::Shape(format!(
                "{} values are not a whole, non-zero number of {channels}×{height}×{width} images",
                data.len()
            )));
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Shape(format!(
                "value {} at position {pos} is not finite",
                data[pos]
            )));
        }
        Ok(Self {
            name: name.into(),
            width,
            height,
            channels,
            data,
            labels: None,
            classes: None,
            warnings: Vec::new(),
        })
    }

    /// Records a warning about how the data was loaded.
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// The warnings recorded while loading (empty when everything loaded as it is).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A dataset from 8-bit values (same layout), mapped with [`u8_to_unit`].
    pub fn from_u8(
        name: impl Into<String>,
        width: usize,
        height: usize,
        channels: usize,
        data: &[u8],
    ) -> Result<Self, DataError> {
        Self::new(
            name,
            width,
            height,
            channels,
            data.iter().map(|&v| u8_to_unit(v)).collect(),
        )
    }

    /// Attaches one class id per image and, optionally, the class names.
    ///
    /// Fails when the number of labels differs from [`len`](Self::len) or, with names, a label
    /// has no name.
    pub fn with_labels(
        mut self,
        labels: Vec<u32>,
        classes: Option<Vec<String>>,
    ) -> Result<Self, DataError> {
        if labels.len() != self.len() {
            return Err(DataError::Shape(format!(
                "{} labels for {} images",
                labels.len(),
                self.len()
            )));
        }
        if let Some(names) = &classes
            && let Some(bad) = labels.iter().find(|&&l| l as usize >= names.len())
        {
            return Err(DataError::Shape(format!(
                "label {bad} has no class name ({} classes)",
                names.len()
            )));
        }
        self.labels = Some(labels);
        self.classes = classes;
        Ok(self)
    }

    /// The dataset's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// 1 (gray) or 3 (RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.data.len() / self.pixels_per_image()
    }

    /// True when the dataset holds no image (never the case for a constructed dataset).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Values per image: channels · height · width.
    pub fn pixels_per_image(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The shape of the whole stack, `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.len(), self.channels, self.height, self.width]
    }

    /// All values, image after image (N×C×H×W).
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Takes the values out (N×C×H×W).
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Image `i` (C×H×W values in [−1, 1]).
    ///
    /// # Panics
    /// When `i >= len()`, like slice indexing; use [`get`](Self::get) to avoid it.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.pixels_per_image();
        &self.data[i * n..(i + 1) * n]
    }

    /// Image `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        let n = self.pixels_per_image();
        self.data
            .get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }

    /// Class ids, one per image, when the dataset has them.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }

    /// Class names indexed by class id, when the dataset has them.
    pub fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    /// The class name of image `i`, when known.
    pub fn class_name(&self, i: usize) -> Option<&str> {
        let label = *self.labels.as_ref()?.get(i)?;
        self.classes
            .as_ref()?
            .get(label as usize)
            .map(String::as_str)
    }

    /// Image `i` as RGBA8 (row-major, 4 bytes per pixel, alpha 255), ready for a texture.
    /// Gray images are repeated into R, G and B; values map [−1, 1] → [0, 255] with rounding
    /// and clamping ([`unit_to_u8`]).
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn rgba8(&self, i: usize) -> Vec<u8> {
        let img = self.image(i);
        let plane = self.width * self.height;
        let mut out = Vec::with_capacity(plane * 4);
        for p in 0..plane {
            if self.channels == 1 {
                let v = unit_to_u8(img[p]);
                out.extend_from_slice(&[v, v, v, 255]);
            } else {
                out.extend_from_slice(&[
                    unit_to_u8(img[p]),
                    unit_to_u8(img[plane + p]),
                    unit_to_u8(img[2 * plane + p]),
                    255,
                ]);
            }
        }
        out
    }

    /// The images at `indices`, in that order (repeats allowed), with their labels.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, DataError> {
        if indices.is_empty() {
            return Err(DataError::InvalidParameter {
                name: "subset",
                reason: "a dataset needs at least one image".into(),
            });
        }
        let len = self.len();
        let mut data = crate::mem::try_with_capacity(
            indices.len() * self.pixels_per_image(),
            "the data set's images",
        )?;
        for &i in indices {
            let img = self
                .get(i)
                .ok_or(DataError::IndexOutOfRange { index: i, len })?;
            data.extend_from_slice(img);
        }
        let labels = self
            .labels
            .as_ref()
            .map(|l| indices.iter().map(|&i| l[i]).collect());
        Ok(Self {
            name: self.name.clone(),
            width: self.width,
            height: self.height,
            channels: self.channels,
            data,
            labels,
            classes: self.classes.clone(),
            warnings: self.warnings.clone(),
        })
    }

    /// The first `n` images (all of them when `n >= len()`; at least one).
    pub fn take(&self, n: usize) -> Self {
        let n = n.clamp(1, self.len().max(1));
        let mut out = self.clone();
        out.data.truncate(n * self.pixels_per_image());
        if let Some(l) = &mut out.labels {
            l.truncate(n);
        }
        out
    }

    /// `n` images spread evenly over the set (image ⌊i·len/n⌋ for i < n; all of them when
    /// `n >= len()`; at least one). The bundled MNIST and Fashion-MNIST are stored sorted by
    /// class, so their first n images would all be one class; these keep every class.
    pub fn spread(&self, n: usize) -> Self {
        let len = self.len();
        let n = n.clamp(1, len.max(1));
        if n >= len {
            return self.clone();
        }
        let idx: Vec<usize> = (0..n).map(|i| i * len / n).collect();
        self.subset(&idx).unwrap_or_else(|_| self.take(n))
    }

    /// The variance of each pixel across the images, averaged over the pixels: Var(x₀), the
    /// statistic the forward process scales as Var(x_t) = ᾱ_t·Var(x₀) + 1 − ᾱ_t. 0 for fewer
    /// than 2 images.
    pub fn mean_pixel_variance(&self) -> f64 {
        let (n, p) = (self.len(), self.pixels_per_image());
        if n < 2 || p == 0 {
            return 0.0;
        }
        let mut total = 0.0;
        for j in 0..p {
            let (mut s, mut ss) = (0.0f64, 0.0f64);
            for i in 0..n {
                let v = f64::from(self.data[i * p + j]);
                s += v;
                ss += v * v;
            }
            let mean = s / n as f64;
            total += (ss / n as f64 - mean * mean).max(0.0) * n as f64 / (n - 1) as f64;
        }
        total / p as f64
    }

    /// A deterministic train / held-out split.
    ///
    /// The images are shuffled by a Fisher–Yates pass driven by `Rng::seed(seed)`; the first
    /// `round(frac_val · len)` shuffled indices (at least 1 and at most `len − 1`) become the
    /// held-out set. Both parts keep the original order of their images. Returns
    /// `(train, held_out)`. Fails when `frac_val` is not strictly inside (0, 1) or the dataset
    /// has fewer than 2 images.
    pub fn split(&self, frac_val: f64, seed: u64) -> Result<(Self, Self), DataError> {
        if !(frac_val > 0.0 && frac_val < 1.0) {
            return Err(DataError::InvalidParameter {
                name: "held-out fraction",
                reason: format!("must lie strictly between 0 and 1, got {frac_val}"),
            });
        }
        let len = self.len();
        if len < 2 {
            return Err(DataError::InvalidParameter {
                name: "held-out fraction",
                reason: format!("a split needs at least 2 images, the dataset has {len}"),
            });
        }
        let n_val = ((frac_val * len as f64).round() as usize).clamp(1, len - 1);
        let mut order: Vec<usize> = (0..len).collect();
        let mut rng = Rng::seed(seed);
        for i in (1..len).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut val = order[..n_val].to_vec();
        let mut train = order[n_val..].to_vec();
        val.sort_unstable();
        train.sort_unstable();
        Ok((self.subset(&train)?, self.subset(&val)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        // 5 gray 2×1 images: image i holds [i/10, -i/10].
        let data = (0..5)
            .flat_map(|i| [i as f32 / 10.0, -(i as f32) / 10.0])
            .collect();
        Dataset::new("tiny", 2, 1, 1, data)
            .and_then(|d| d.with_labels(vec![0, 1, 0, 1, 0], Some(vec!["a".into(), "b".into()])))
            .expect("valid")
    }

    #[test]
    fn spread_takes_evenly_spaced_images_with_their_labels() {
        let d = tiny().spread(2);
        // ⌊i·5/2⌋ for i = 0, 1: images 0 and 2.
        assert_eq!(d.len(), 2);
        assert_eq!(d.image(1), &[0.2, -0.2]);
        assert_eq!(d.labels(), Some(&[0u32, 0][..]));
        // ⌊0⌋, ⌊5/3⌋, ⌊10/3⌋: images 0, 1 and 3.
        assert_eq!(tiny().spread(3).labels(), Some(&[0u32, 1, 1][..]));
        assert_eq!(tiny().spread(9).len(), 5);
    }

    #[test]
    fn u8_mapping_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(unit_to_u8(u8_to_unit(v)), v);
        }
        assert_eq!(u8_to_unit(0), -1.0);
        assert_eq!(u8_to_unit(255), 1.0);
        assert_eq!(unit_to_u8(7.0), 255);
        assert_eq!(unit_to_u8(-7.0), 0);
        assert_eq!(unit_to_u8(f32::NAN), 0);
    }

    #[test]
    fn shape_checks() {
        assert!(Dataset::new("x", 2, 2, 2, vec![0.0; 8]).is_err());
        assert!(Dataset::new("x", 2, 2, 1, vec![0.0; 7]).is_err());
        assert!(Dataset::new("x", 2, 2, 1, vec![]).is_err());
        assert!(Dataset::new("x", 0, 2, 1, vec![0.0; 4]).is_err());
        assert!(Dataset::new("x", 1, 1, 1, vec![f32::NAN]).is_err());
        let d = Dataset::new("x", 2, 2, 3, vec![0.0; 24]).expect("ok");
        assert_eq!(d.len(), 2);
        assert_eq!(d.shape(), [2, 3, 2, 2]);
        assert!(d.get(2).is_none());
        assert!(d.clone().with_labels(vec![0], None).is_err());
        assert!(d.with_labels(vec![0, 2], Some(vec!["a".into()])).is_err());
    }

    #[test]
    fn rgba_of_gray_and_rgb() {
        let g = Dataset::new("g", 2, 1, 1, vec![-1.0, 1.0]).expect("ok");
        assert_eq!(g.rgba8(0), vec![0, 0, 0, 255, 255, 255, 255, 255]);
        // RGB planes: R = [1, -1], G = [-1, 1], B = [0, 2 (clamped)].
        let c = Dataset::new("c", 2, 1, 3, vec![1.0, -1.0, -1.0, 1.0, 0.0, 2.0]).expect("ok");
        assert_eq!(c.rgba8(0), vec![255, 0, 128, 255, 0, 255, 255, 255]);
    }

    #[test]
    fn subset_take_and_labels() {
        let d = tiny();
        let s = d.subset(&[3, 1, 3]).expect("ok");
        assert_eq!(s.len(), 3);
        assert_eq!(s.image(0), d.image(3));
        assert_eq!(s.labels(), Some(&[1, 1, 1][..]));
        assert_eq!(s.class_name(0), Some("b"));
        assert!(d.subset(&[5]).is_err());
        assert!(d.subset(&[]).is_err());
        assert_eq!(d.take(2).len(), 2);
        assert_eq!(d.take(99).len(), 5);
        assert_eq!(d.take(2).labels(), Some(&[0, 1][..]));
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let d = tiny();
        let (a, b) = d.split(0.4, 7).expect("ok");
        let (a2, b2) = d.split(0.4, 7).expect("ok");
        assert_eq!((a.len(), b.len()), (3, 2));
        assert_eq!(a, a2);
        assert_eq!(b, b2);
        // Each image's first value identifies it; together the parts hold every image once.
        let mut ids: Vec<i32> = a
            .data()
            .chunks(2)
            .chain(b.data().chunks(2))
            .map(|c| (c[0] * 10.0).round() as i32)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        assert!(d.split(0.0, 1).is_err());
        assert!(d.split(1.0, 1).is_err());
        assert!(d.split(f64::NAN, 1).is_err());
        assert_eq!(d.split(0.01, 1).expect("ok").1.len(), 1);
    }
}
