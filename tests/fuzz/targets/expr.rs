//! Fuzz target `expr`: see `diffusion_lab::fuzz::expr`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| diffusion_lab::fuzz::expr(data));
