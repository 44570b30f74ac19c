//! Fuzz target `run_card`: see `diffusion_lab::fuzz::run_card`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| diffusion_lab::fuzz::run_card(data));
