//! Fuzz target `image`: see `diffusion_lab::fuzz::image`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| diffusion_lab::fuzz::image(data));
