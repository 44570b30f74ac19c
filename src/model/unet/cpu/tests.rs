//! Unit tests of the CPU UNet's own allocation paths.

use super::*;

#[test]
fn an_activation_too_large_for_memory_is_an_error_not_an_abort() {
    // 2^38 images of 1024×1024 pixels, one channel: 2^60 bytes, more than any address
    // space.
    let e =
        std::hint::black_box(Act::scratch(1 << 38, 1 << 10, 1 << 10, 1)).expect_err("2^60 bytes");
    assert_eq!(e.bytes, 1 << 60);
    assert!(
        e.to_string()
            .starts_with("could not allocate 1099511627776 MiB for activations: "),
        "{e}"
    );
    // A shape whose size overflows usize fails as well instead of wrapping to a small one.
    assert!(std::hint::black_box(Act::scratch(usize::MAX, 2, 1, 1)).is_err());
    // The pool goes on serving after a failure.
    let a = Act::scratch(2, 3, 4, 5).expect("120 floats");
    assert_eq!(a.data.len(), 120);
    assert_eq!(a.try_clone().expect("a copy").data.len(), 120);
}
