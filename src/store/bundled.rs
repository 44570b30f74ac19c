//! The models that ship with the app. Their files are compiled into the binary, so an
//! installed `diffusion-lab` opens on them from any folder: a development checkout's
//! `assets/models/NAME` is used when the working folder has one, otherwise the embedded files
//! are written once into the user's cache folder (atomically) and read from there.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A model shipped with the app.
#[derive(Debug)]
pub struct BundledModel {
    /// Folder name under `assets/models/`.
    pub name: &'static str,
    /// What the menus show.
    pub title: &'static str,
    /// The files of its checkpoint folder.
    files: &'static [(&'static str, &'static [u8])],
}

/// The model the app opens on.
pub const DEFAULT_MODEL: &str = "mnist-canonical";

/// The bundled class-conditional model (classifier-free guidance).
pub const COND_MODEL: &str = "mnist-cond";

macro_rules! model_file {
    ($model:literal, $file:literal) => {
        (
            $file,
            include_bytes!(concat!("../../assets/models/", $model, "/", $file)).as_slice(),
        )
    };
}

/// Every bundled model, the default first.
pub static BUNDLED_MODELS: &[BundledModel] = &[
    BundledModel {
        name: "mnist-canonical",
        title: "MNIST · canonical UNet (EMA weights)",
        files: &[
            model_file!("mnist-canonical", "config.json"),
            model_file!("mnist-canonical", "state.json"),
            model_file!("mnist-canonical", "ema.bpk"),
            model_file!("mnist-canonical", "losses.csv"),
            model_file!("mnist-canonical", "quality.json"),
        ],
    },
    BundledModel {
        name: "mnist-cond",
        title: "MNIST · canonical UNet, class-conditional (ask for a digit)",
        files: &[
            model_file!("mnist-cond", "config.json"),
            model_file!("mnist-cond", "state.json"),
            model_file!("mnist-cond", "ema.bpk"),
            model_file!("mnist-cond", "losses.csv"),
            model_file!("mnist-cond", "quality.json"),
        ],
    },
    BundledModel {
        name: "fashion-canonical",
        title: "Fashion-MNIST · canonical UNet (EMA weights)",
        files: &[
            model_file!("fashion-canonical", "config.json"),
            model_file!("fashion-canonical", "state.json"),
            model_file!("fashion-canonical", "ema.bpk"),
            model_file!("fashion-canonical", "losses.csv"),
            model_file!("fashion-canonical", "quality.json"),
        ],
    },
    BundledModel {
        name: "seed000-folder2",
        title: "MNIST · seed 000's Folder_2: tiny v-objective UNet on log-SNR (+ the additional layer)",
        files: &[
            model_file!("seed000-folder2", "config.json"),
            model_file!("seed000-folder2", "state.json"),
            model_file!("seed000-folder2", "ema.bpk"),
            model_file!("seed000-folder2", "losses.csv"),
            model_file!("seed000-folder2", "quality.json"),
            model_file!("seed000-folder2", "add_layer.weights.bpk"),
            model_file!("seed000-folder2", "add_layer.info.json"),
        ],
    },
    BundledModel {
        name: "seed000-folder1",
        title: "MNIST · seed 000's Folder_1: tiny class-conditional v-objective UNet on log-SNR",
        files: &[
            model_file!("seed000-folder1", "config.json"),
            model_file!("seed000-folder1", "state.json"),
            model_file!("seed000-folder1", "ema.bpk"),
            model_file!("seed000-folder1", "losses.csv"),
            model_file!("seed000-folder1", "quality.json"),
        ],
    },
    BundledModel {
        name: "mnist-tiny",
        title: "MNIST · tiny UNet: what 2,000 steps give",
        files: &[
            model_file!("mnist-tiny", "config.json"),
            model_file!("mnist-tiny", "state.json"),
            model_file!("mnist-tiny", "ema.bpk"),
            model_file!("mnist-tiny", "model.bpk"),
            model_file!("mnist-tiny", "losses.csv"),
            model_file!("mnist-tiny", "quality.json"),
        ],
    },
];

/// The bundled model called `name`.
pub fn bundled_model(name: &str) -> Option<&'static BundledModel> {
    BUNDLED_MODELS.iter().find(|m| m.name == name)
}

/// A model folder named by the user: `bundled:NAME` for a bundled model, else a path.
pub fn resolve_model_dir(spec: &str) -> Result<PathBuf, String> {
    match spec.strip_prefix("bundled:") {
        Some(name) => bundled_dir(name).ok_or_else(|| {
            let names: Vec<&str> = BUNDLED_MODELS.iter().map(|m| m.name).collect();
            format!(
                "'{spec}': no bundled model '{name}' (there are: {}), or the cache folder is \
                 not writable",
                names.join(", ")
            )
        }),
        None => {
            let dir = PathBuf::from(spec);
            if !dir.exists() && bundled_model(spec).is_some() {
                return Err(format!(
                    "'{spec}' is not a folder here; the bundled model of that name is \
                     'bundled:{spec}'"
                ));
            }
            Ok(dir)
        }
    }
}

/// The folder of the default bundled model.
pub fn bundled_model_dir() -> Option<PathBuf> {
    bundled_dir(DEFAULT_MODEL)
}

/// The checkpoint folder of bundled model `name`: `assets/models/NAME` in the working folder
/// if it is there (a development checkout), else the embedded files unpacked into the cache
/// folder. None for an unknown name or when no folder can be written.
pub fn bundled_dir(name: &str) -> Option<PathBuf> {
    let model = bundled_model(name)?;
    let local = Path::new("assets/models").join(name);
    if local.join("state.json").is_file() {
        return Some(local);
    }
    unpack_into(model, &cache_root()).ok()
}

/// FNV-1a over the embedded files, so a new build never reads an older build's copy.
fn fingerprint(model: &BundledModel) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, bytes) in model.files {
        for b in name.bytes().chain(bytes.iter().copied()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The user's cache folder for unpacked models.
fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("diffusion-lab").join("models")
}

/// Unpacks `model` under `root` (once per build): the files go to a temporary folder that
/// is then renamed into place, so a reader never sees half a model.
fn unpack_into(model: &BundledModel, root: &Path) -> std::io::Result<PathBuf> {
    let root = root.to_path_buf();
    let dir = root.join(format!("{}-{:016x}", model.name, fingerprint(model)));
    if dir.join("state.json").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root)?;
    let tmp = root.join(format!(".{}-{}.tmp", model.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    for (name, bytes) in model.files {
        let mut f = std::fs::File::create(tmp.join(name))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process unpacked it first: use theirs.
        Err(_) if dir.join("state.json").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundled_name_without_its_prefix_is_pointed_at_it() {
        // The tests run in the crate's folder, which has no folder of that name.
        let err = resolve_model_dir("fashion-canonical").expect_err("not a folder");
        assert!(err.contains("'bundled:fashion-canonical'"), "{err}");
        assert_eq!(
            resolve_model_dir("runs/mine").expect("a path"),
            PathBuf::from("runs/mine")
        );
    }

    #[test]
    fn every_bundled_model_unpacks_into_a_readable_checkpoint() {
        let cache = tempfile::tempdir().expect("tempdir");
        assert_eq!(BUNDLED_MODELS[0].name, DEFAULT_MODEL);
        for m in BUNDLED_MODELS {
            let dir = unpack_into(m, cache.path()).expect("unpacks");
            let (config, info) = crate::store::read_info(&dir).expect("reads back");
            // Each model names its data set first: mnist-… or fashion-….
            let data = if m.name.starts_with("fashion-") {
                "fashion-mnist"
            } else {
                "mnist"
            };
            assert_eq!(config.data.label(), data, "{}", m.name);
            assert_eq!(info.image_shape, [1, 28, 28]);
            let device = burn::tensor::Device::flex();
            let (_, _, _, ema) =
                crate::store::load_for_inference(&dir, &device).expect("weights load");
            // The EMA weights ship in half precision (`diffusion-lab half`): two bytes a
            // weight and a small header.
            let bytes = std::fs::metadata(dir.join("ema.bpk"))
                .expect("ema.bpk")
                .len();
            let weights = burn::module::Module::num_params(&ema) as u64;
            assert!(
                bytes < 2 * weights + 64 * 1024,
                "{}: ema.bpk has {bytes} bytes for {weights} weights: not f16",
                m.name
            );
            let quality = std::fs::read_to_string(dir.join("quality.json")).expect("quality");
            assert!(
                quality.contains("not comparable with Inception FID"),
                "{}",
                m.name
            );
            // A second call finds the unpacked copy and leaves it alone.
            let modified = std::fs::metadata(dir.join("ema.bpk")).and_then(|m| m.modified());
            assert_eq!(unpack_into(m, cache.path()).expect("again"), dir);
            let again = std::fs::metadata(dir.join("ema.bpk")).and_then(|m| m.modified());
            assert_eq!(modified.ok(), again.ok());
        }
        // No temporary folder is left behind.
        let leftovers = std::fs::read_dir(cache.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
    }
}
