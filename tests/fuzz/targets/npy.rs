//! Fuzz target `npy`: see `diffusion_lab::fuzz::npy`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| diffusion_lab::fuzz::npy(data));
