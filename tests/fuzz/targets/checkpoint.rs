//! Fuzz target `checkpoint`: see `diffusion_lab::fuzz::checkpoint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| diffusion_lab::fuzz::checkpoint(data));
