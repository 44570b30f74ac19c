//! Ending the process by signal without losing work (#17, #19): SIGINT (Ctrl+C), SIGTERM
//! (`kill`, shutdown) and SIGHUP (logout) set a flag instead of killing the process, so
//! `train` and `study` save a checkpoint and exit, and the app closes its window the same way
//! as the close button (which stops and joins every worker; the trainer saves). A second
//! signal of the same kind ends the process at once, with the shell's code 128 + signal; the
//! last checkpoint is still intact then, because every save is atomic.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

struct Flags {
    any: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Option<Flags>> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing). Returns false where
/// signals cannot be caught (not on Unix, or registration failed), so the default actions stay.
pub fn install() -> bool {
    FLAGS.get_or_init(register).is_some()
}

#[cfg(unix)]
fn register() -> Option<Flags> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    let any = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // Registered first, so it sees the flag as the previous signal left it: the first
        // signal only sets the flag, a second one exits.
        flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&any)).ok()?;
        flag::register_usize(sig, Arc::clone(&which), sig as usize).ok()?;
        flag::register(sig, Arc::clone(&any)).ok()?;
    }
    Some(Flags { any, which })
}

#[cfg(not(unix))]
fn register() -> Option<Flags> {
    None
}

/// The signal that asked the process to stop, if one arrived since [`install`].
pub fn requested() -> Option<i32> {
    let f = FLAGS.get()?.as_ref()?;
    if f.any.load(Ordering::SeqCst) {
        i32::try_from(f.which.load(Ordering::SeqCst)).ok()
    } else {
        None
    }
}

/// The signal's name, e.g. "SIGINT" for 2.
pub fn name(sig: i32) -> String {
    match sig {
        1 => "SIGHUP (logout)".into(),
        2 => "SIGINT (Ctrl+C)".into(),
        15 => "SIGTERM".into(),
        s => format!("signal {s}"),
    }
}

/// The shell's exit code for a process ended by `sig`: 128 + sig (130 for Ctrl+C).
pub fn exit_code(sig: i32) -> u8 {
    u8::try_from(128 + sig.clamp(0, 127)).unwrap_or(1)
}
