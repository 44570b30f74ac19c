//! Long work off the UI thread: one background-job type with a named thread, progress, cancel,
//! panic capture, throttled wake-ups and a join on drop. Every background task uses it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a running job sees: where to report progress and whether to stop.
pub struct JobCtx {
    done: AtomicUsize,
    total: AtomicUsize,
    cancel: AtomicBool,
    wake: Arc<dyn Fn() + Send + Sync>,
    last_wake: Mutex<Instant>,
}

impl JobCtx {
    /// Sets the amount of work.
    pub fn set_total(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Reports `done` units finished (waking the UI at most ~30 times a second); returns
    /// false once the job should stop.
    pub fn set_done(&self, done: usize) -> bool {
        self.done.store(done, Ordering::Relaxed);
        let mut last = self
            .last_wake
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= Duration::from_millis(33) {
            *last = Instant::now();
            (self.wake)();
        }
        !self.cancelled()
    }

    /// Whether cancel was requested.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The cancel flag itself (for loops that poll it).
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    /// Wakes the UI now.
    pub fn wake(&self) {
        (self.wake)();
    }
}

/// Job threads that have started and not yet ended, in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How many job threads are running now (tests check that closing the app leaves none).
pub fn running_jobs() -> usize {
    RUNNING.load(Ordering::SeqCst)
}

/// Counts a job thread as running until it is dropped, even if the job panics.
struct Running;

impl Running {
    fn start() -> Self {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A job on its own named thread; its result is collected with [`BgJob::take`].
/// Dropping it cancels the job and joins the thread.
pub struct BgJob<T> {
    ctx: Arc<JobCtx>,
    result: Arc<Mutex<Option<T>>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> BgJob<T> {
    /// Runs `work` on a thread named `name`; `wake` is called on progress and at the end.
    pub fn spawn(
        name: &str,
        wake: Arc<dyn Fn() + Send + Sync>,
        work: impl FnOnce(&JobCtx) -> T + Send + 'static,
    ) -> std::io::Result<Self> {
        let ctx = Arc::new(JobCtx {
            done: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            wake,
            last_wake: Mutex::new(Instant::now()),
        });
        let result = Arc::new(Mutex::new(None));
        let (c, r) = (ctx.clone(), result.clone());
        let running = Running::start();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _running = running;
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&c)));
                if let Ok(v) = out {
                    *r.lock().unwrap_or_else(PoisonError::into_inner) = Some(v);
                }
                c.done.store(usize::MAX, Ordering::SeqCst);
                c.wake();
            })?;
        Ok(Self {
            ctx,
            result,
            thread: Some(thread),
        })
    }

    /// (done, total) so far; done is clamped to total.
    pub fn progress(&self) -> (usize, usize) {
        let total = self.ctx.total.load(Ordering::Relaxed);
        let done = self.ctx.done.load(Ordering::Relaxed).min(total);
        (done, total)
    }

    /// The fraction done, in [0, 1].
    pub fn fraction(&self) -> f32 {
        let (d, t) = self.progress();
        if t == 0 { 0.0 } else { d as f32 / t as f32 }
    }

    /// Whether the thread has ended (finished, cancelled or panicked).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.ctx.cancel.store(true, Ordering::SeqCst);
    }

    /// The result, once the thread has ended: None while running, Some(None) if the job
    /// panicked, Some(Some(v)) otherwise.
    pub fn take(&mut self) -> Option<Option<T>> {
        if !self.is_finished() {
            return None;
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Some(
            self.result
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        )
    }

    /// Blocks until the job ends and returns its result (tests and the CLI).
    pub fn wait(mut self) -> Option<T> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl<T> Drop for BgJob<T> {
    fn drop(&mut self) {
        self.ctx.cancel.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
