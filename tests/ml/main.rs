//! The network tests: the UNet (burn and the CPU forward pass), training, checkpoints, sampling for the player, studies and the 2-D MLP worker.

mod cpu_unet;
mod forward_gpu;
mod gpu_train;
mod guidance;
mod learned_sigma;
mod model_unet;
mod native_train;
mod player;
mod quality;
mod seed000;
mod study;
mod toy_train;
mod train;
