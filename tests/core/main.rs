//! The core tests: the maths oracles and properties, data, 2-D toys, the forward explorer's logic, presets, the runs folder and the layering of `src/`.

mod data_loaders;
mod data_triangles;
mod forward_explore;
mod fuzz_corpus;
mod layers;
mod ode_samplers;
mod oracles;
mod presets;
mod properties;
mod quality_metrics;
mod runs;
mod safe_files;
mod seed000;
mod ssim_reference;
mod state_json;
mod statistics;
mod terminal_snr;
mod toy_datasets;
mod toy_fields;
mod toy_samplers;
