//! A small network saved as a folder of two files: `weights.bpk` (burn's record) and
//! `info.json` (its shape and provenance), written atomically. The noisy classifier and seed
//! 000's additional layer are kept this way.

use burn::module::Module;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::Path;

/// Writes `net`'s weights and `info` into `dir` (created if missing) under the names
/// `<prefix>weights.bpk` and `<prefix>info.json`.
pub fn save<M: Module, I: Serialize>(
    dir: &Path,
    prefix: &str,
    net: &M,
    info: &I,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let bytes = net
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| format!("cannot encode the weights: {e}"))?;
    let info = serde_json::to_string_pretty(info).map_err(|e| e.to_string())?;
    for (name, data) in [
        (format!("{prefix}weights.bpk"), bytes.to_vec()),
        (format!("{prefix}info.json"), info.into_bytes()),
    ] {
        let p = dir.join(name);
        crate::fs::write_atomic(&p, |w| w.write_all(&data))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Reads the two files of [`save`] from `dir`; `what` names the kind of folder in errors.
pub fn read(dir: &Path, prefix: &str, what: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |f: String| {
        std::fs::read(dir.join(&f))
            .map_err(|e| format!("{} is not {what} folder: {f}: {e}", dir.display()))
    };
    Ok((
        read(format!("{prefix}weights.bpk"))?,
        read(format!("{prefix}info.json"))?,
    ))
}

/// Parses `info.json`'s bytes; `name` names the source in errors.
pub fn parse_info<I: DeserializeOwned>(info: &[u8], name: &str) -> Result<I, String> {
    serde_json::from_slice(info).map_err(|e| format!("{name}: info.json is corrupt: {e}"))
}

/// Loads `weights` (a `weights.bpk`'s bytes) into `net`, which `info.json` shaped.
pub fn load_weights<M: Module>(net: M, weights: Vec<u8>, name: &str) -> Result<M, String> {
    let record =
        burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(weights))
            .map_err(|e| format!("{name}: weights.bpk is corrupt or truncated: {e}"))?
            .cast_to_module_dtype();
    net.try_load_record(record)
        .map_err(|e| format!("{name}: weights.bpk does not match info.json: {e}"))
}
