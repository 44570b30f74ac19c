//! The terminal-SNR warning (#15 §4.1): a schedule whose ᾱ_T exceeds 1e-3 ends short of pure
//! noise. References are NumPy float64 products of the schedule formula
//! β_t = β₁ + (β_T − β₁)·u^p, u = (t − 1)/(T − 1), β₁ = 1e-4, β_T = 0.02, T = 1000:
//!
//! ```python
//! import numpy as np
//! u = np.arange(1000) / 999
//! for p in [1, 1.5, 2, 10]:
//!     print(p, repr(np.prod(1 - (1e-4 + (0.02 - 1e-4) * u**p))))
//! ```
#![allow(clippy::unwrap_used)]

use diffusion_lab::diffusion::schedule::{TERMINAL_ALPHA_BAR_LIMIT, terminal_snr_warning};
use diffusion_lab::diffusion::{ScheduleKind, ScheduleSpec};

/// ᾱ_T of the power schedule with exponent p (p = 1 is linear), from NumPy.
const POWER_ALPHA_BAR_T: [(f64, f64); 4] = [
    (1.0, 4.0358297653756754e-05),
    (1.5, 0.0002996669849909264),
    (2.0, 0.001139265864027648),
    (10.0, 0.14557807099661943),
];

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs(),
        "{what}: {got} vs NumPy's {want}"
    );
}

#[test]
fn linear_ends_in_noise_and_power_10_does_not() {
    assert_eq!(TERMINAL_ALPHA_BAR_LIMIT, 1e-3);
    let linear = ScheduleSpec::new(ScheduleKind::Linear, 1000)
        .table()
        .unwrap()
        .badges();
    close("linear ᾱ_T", linear.alpha_bar_final, POWER_ALPHA_BAR_T[0].1);
    assert!(!linear.terminal_snr_warning, "linear ᾱ_T ≈ 4.0e-5");
    for (p, want) in POWER_ALPHA_BAR_T {
        let spec = ScheduleSpec {
            power: p,
            ..ScheduleSpec::new(ScheduleKind::Power, 1000)
        };
        let b = spec.table().unwrap().badges();
        close(&format!("power {p} ᾱ_T"), b.alpha_bar_final, want);
        // Power 2 (ᾱ_T = 1.14e-3) is just over the limit; 1.5 (3.0e-4) is under it.
        assert_eq!(b.terminal_snr_warning, p >= 2.0, "power {p}: ᾱ_T = {want}");
    }
    // Power 10: x_T keeps √0.1456 = 38 % of x₀, as the schedule-study lesson says.
    let (_, ab) = POWER_ALPHA_BAR_T[3];
    assert!((ab.sqrt() - 0.38).abs() < 0.005);
    // The cosine schedule ends near zero (2.43e-9, digest §3.2): no warning.
    let cosine = ScheduleSpec::new(ScheduleKind::Cosine, 1000)
        .table()
        .unwrap();
    assert!(!cosine.badges().terminal_snr_warning);
}

#[test]
fn the_warning_is_strictly_above_the_limit() {
    assert!(!terminal_snr_warning(0.0));
    assert!(!terminal_snr_warning(1e-3));
    assert!(terminal_snr_warning(1.0001e-3));
    assert!(terminal_snr_warning(f64::NAN));
}
