//! Fuzz target `preset`: see `diffusion_lab::fuzz::preset`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| diffusion_lab::fuzz::preset(data));
