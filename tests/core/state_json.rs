//! Issue #18: `state.json` with non-finite losses (an empty t bucket is NaN) reads back, and
//! so do files from older versions that wrote `null` for them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::diffusion::Rng;
use diffusion_lab::store::checkpoint::{CheckpointInfo, FORMAT_VERSION, LossHistory, ValPoint};
use proptest::prelude::*;

fn loss() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -10.0f32..10.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(0.0f32),
    ]
}

fn history() -> impl Strategy<Value = LossHistory> {
    (
        prop::collection::vec((0usize..100_000, loss()), 0..8),
        prop::collection::vec((0usize..100_000, loss(), loss(), loss()), 0..4),
        prop::collection::vec(
            (0usize..100_000, prop::collection::vec(loss(), 0..12)),
            0..6,
        ),
    )
        .prop_map(|(train, val, by_t)| LossHistory {
            train,
            val: val
                .into_iter()
                .map(|(step, mean, min, max)| ValPoint {
                    step,
                    mean,
                    min,
                    max,
                })
                .collect(),
            by_t,
        })
}

/// A history as bit patterns: train, validation, by-t rows.
type Bits = (
    Vec<(usize, u32)>,
    Vec<(usize, [u32; 3])>,
    Vec<(usize, Vec<u32>)>,
);

/// Same bits, so NaN equals NaN.
fn bits(h: &LossHistory) -> Bits {
    (
        h.train.iter().map(|&(s, v)| (s, v.to_bits())).collect(),
        h.val
            .iter()
            .map(|v| (v.step, [v.mean.to_bits(), v.min.to_bits(), v.max.to_bits()]))
            .collect(),
        h.by_t
            .iter()
            .map(|(s, row)| (*s, row.iter().map(|v| v.to_bits()).collect()))
            .collect(),
    )
}

/// NaN of either sign and payload reads back as the canonical NaN.
fn canonical(h: &LossHistory) -> LossHistory {
    let c = |v: f32| if v.is_nan() { f32::NAN } else { v };
    LossHistory {
        train: h.train.iter().map(|&(s, v)| (s, c(v))).collect(),
        val: h
            .val
            .iter()
            .map(|v| ValPoint {
                step: v.step,
                mean: c(v.mean),
                min: c(v.min),
                max: c(v.max),
            })
            .collect(),
        by_t: h
            .by_t
            .iter()
            .map(|(s, row)| (*s, row.iter().map(|&v| c(v)).collect()))
            .collect(),
    }
}

proptest! {
    #[test]
    fn state_json_round_trips_any_history(history in history(), seed in any::<u64>()) {
        let info = CheckpointInfo {
            format_version: FORMAT_VERSION,
            step: 7,
            image_shape: [1, 16, 16],
            rng: Rng::seed(seed),
            lr_override: None,
            history: history.clone(),
            device: "CPU".into(),
            t_sampler: None,
        };
        let json = serde_json::to_string_pretty(&info).unwrap();
        let back: CheckpointInfo = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(bits(&back.history), bits(&canonical(&history)));
        prop_assert_eq!(back.step, 7);
    }
}

#[test]
fn old_state_json_with_null_losses_loads_as_nan() {
    let info = CheckpointInfo {
        format_version: FORMAT_VERSION,
        step: 3,
        image_shape: [1, 16, 16],
        rng: Rng::seed(1),
        lr_override: None,
        history: LossHistory {
            train: vec![(1, 0.5)],
            val: vec![],
            by_t: vec![(2, vec![0.25, 0.75])],
        },
        device: "CPU".into(),
        t_sampler: None,
    };
    // What earlier versions wrote for an empty bin.
    let json = serde_json::to_string(&info)
        .unwrap()
        .replace("0.75", "null");
    let back: CheckpointInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(back.history.by_t[0].1[0], 0.25);
    assert!(back.history.by_t[0].1[1].is_nan());
}
