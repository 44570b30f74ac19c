//! Picking the compute device: a real GPU through wgpu when there is one, burn's Flex CPU
//! backend otherwise, and always a reason the user can read in the status bar.
//!
//! Measured on the 2-core development machine (STACK.md §3): with no GPU, wgpu still finds
//! Mesa's llvmpipe/lavapipe (`DeviceType::Cpu`), where burn trains 4–9 steps/s, against about
//! 32 steps/s on Flex. So a software adapter never wins over Flex unless the user insists.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// A hardware GPU if one exists, else the CPU.
    #[default]
    Auto,
    /// wgpu, even on a software adapter; falls back to the CPU only if wgpu cannot start.
    Gpu,
    /// burn's Flex CPU backend.
    Cpu,
}

impl DeviceChoice {
    /// Parses "auto", "gpu" or "cpu".
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "gpu" => Some(Self::Gpu),
            "cpu" => Some(Self::Cpu),
            _ => None,
        }
    }
}

/// Which code trains the UNet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TrainEngine {
    /// The native CPU engine on the CPU, burn on a GPU.
    #[default]
    Auto,
    /// The app's own forward and backward passes on the CPU (`TrainNet`), whatever the device.
    Native,
    /// burn's autodiff on the picked device (Flex on the CPU, wgpu on a GPU).
    Burn,
}

impl TrainEngine {
    /// Parses "auto", "native" or "burn".
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "native" => Some(Self::Native),
            "burn" => Some(Self::Burn),
            _ => None,
        }
    }

    /// Whether a run with this choice on `pick` uses the native engine.
    pub fn is_native_on(self, pick: &DevicePick) -> bool {
        match self {
            Self::Auto => !pick.is_gpu,
            Self::Native => true,
            Self::Burn => false,
        }
    }

    /// The name shown in the status bar and recorded with the run.
    pub fn label(native: bool) -> &'static str {
        if native { "native" } else { "burn" }
    }
}

/// The device picked, and why.
#[derive(Clone, Debug)]
pub struct DevicePick {
    /// The burn device (not yet autodiff).
    pub device: Device,
    /// Short label for the status bar, e.g. "GPU · NVIDIA H100 (Vulkan)" or "CPU · Flex".
    pub label: String,
    /// Why this device was chosen.
    pub reason: String,
    /// Whether this is a wgpu device.
    pub is_gpu: bool,
}

/// A summary of one wgpu adapter.
#[derive(Clone, Debug)]
struct AdapterInfo {
    name: String,
    backend: String,
    is_software: bool,
}

/// Lists the Vulkan/Metal/DX12 adapters. OpenGL is left out: burn does not train on it, and
/// probing EGL while the window's own GL context (the glow renderer) is current makes wgpu-hal
/// panic (`BadAccess`). Any panic while probing counts as "no adapter".
fn probe_adapters() -> Vec<AdapterInfo> {
    std::panic::catch_unwind(probe_primary_adapters).unwrap_or_default()
}

/// Whether a hardware (non-software) Vulkan/Metal/DX12 adapter exists.
pub fn has_hardware_adapter() -> bool {
    probe_adapters().iter().any(|a| !a.is_software)
}

fn probe_primary_adapters() -> Vec<AdapterInfo> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            AdapterInfo {
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                is_software: info.device_type == wgpu::DeviceType::Cpu,
            }
        })
        .collect()
}

/// burn's wgpu runtime can be initialised once per process; keep the outcome.
fn wgpu_device() -> Result<Device, String> {
    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            std::panic::catch_unwind(|| Device::wgpu_options().init().map_err(|e| e.to_string()))
                .unwrap_or_else(|_| Err("wgpu panicked while starting".into()))
        })
        .clone()
}

fn cpu(reason: String) -> DevicePick {
    DevicePick {
        device: Device::flex(),
        label: "CPU · Flex".into(),
        reason,
        is_gpu: false,
    }
}

/// Picks the device for `choice`. Never panics, also without any adapter.
/// Probing adapters can take a second, so call this off the UI thread.
pub fn pick_device(choice: DeviceChoice) -> DevicePick {
    if choice == DeviceChoice::Cpu {
        return cpu("CPU chosen by the user".into());
    }
    let adapters = probe_adapters();
    let hardware = adapters.iter().find(|a| !a.is_software);
    let wanted = match (choice, hardware) {
        (_, Some(hw)) => Some(hw.clone()),
        (DeviceChoice::Gpu, None) => adapters.first().cloned(),
        _ => None,
    };
    let Some(adapter) = wanted else {
        let reason = if adapters.is_empty() {
            "no GPU adapter found, so training runs on the CPU".to_owned()
        } else {
            let names: Vec<_> = adapters
                .iter()
                .map(|a| format!("{} ({})", a.name, a.backend))
                .collect();
            format!(
                "only software adapters found ({}); Flex on the CPU is faster than them",
                names.join(", ")
            )
        };
        return cpu(reason);
    };
    match wgpu_device() {
        Ok(device) => DevicePick {
            device,
            label: format!("GPU · {} ({})", adapter.name, adapter.backend),
            reason: if adapter.is_software {
                "wgpu chosen by the user (software adapter: expect it to be slower than the CPU)"
                    .into()
            } else {
                "hardware GPU adapter found".into()
            },
            is_gpu: true,
        },
        Err(e) => cpu(format!("the GPU could not be started ({e}); using the CPU")),
    }
}
