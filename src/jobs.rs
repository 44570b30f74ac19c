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

/// Where a job's thread lives: waiting until its [`Launch`] is started, then running, then
/// ended (joined, or dropped before it started).
#[derive(Default)]
pub struct ThreadSlot(Mutex<Slot>);

#[derive(Default)]
enum Slot {
    #[default]
    Waiting,
    Running(JoinHandle<()>),
    Ended,
}

impl ThreadSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the thread has ended, or will never start. A job still waiting for its launch
    /// is not finished.
    pub fn is_finished(&self) -> bool {
        match &*self.lock() {
            Slot::Waiting => false,
            Slot::Running(h) => h.is_finished(),
            Slot::Ended => true,
        }
    }

    /// Whether the thread is running or has run.
    pub fn started(&self) -> bool {
        !matches!(&*self.lock(), Slot::Waiting)
    }

    /// Joins the thread if it runs; a launch not yet started will never start.
    pub fn join(&self) {
        let slot = std::mem::replace(&mut *self.lock(), Slot::Ended);
        if let Slot::Running(h) = slot {
            let _ = h.join();
        }
    }
}

/// A thread that is ready but not started. Views build their jobs with
/// [`BgJob::prepare`] (and the workers' `prepare`) and hand the launch to the app as a
/// command; the app starts it. The owner of the job keeps the [`ThreadSlot`] and joins it.
/// A launch dropped without being started leaves its job ended, with no result.
#[must_use = "a launch does nothing until it is started"]
pub struct Launch {
    name: String,
    body: Option<Box<dyn FnOnce() + Send>>,
    slot: Arc<ThreadSlot>,
}

impl Launch {
    /// A launch of `body` on a thread named `name`, which `slot` will hold.
    pub fn new(name: &str, slot: Arc<ThreadSlot>, body: impl FnOnce() + Send + 'static) -> Self {
        Self {
            name: name.to_owned(),
            body: Some(Box::new(body)),
            slot,
        }
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the thread. Nothing starts if the job's owner has already been dropped.
    pub fn start(mut self) -> std::io::Result<()> {
        let Some(body) = self.body.take() else {
            return Ok(());
        };
        let mut slot = self.slot.lock();
        if !matches!(&*slot, Slot::Waiting) {
            return Ok(());
        }
        let running = Running::start();
        match std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || {
                let _running = running;
                body();
            }) {
            Ok(h) => {
                *slot = Slot::Running(h);
                Ok(())
            }
            Err(e) => {
                *slot = Slot::Ended;
                Err(e)
            }
        }
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        if self.body.take().is_some() {
            let mut slot = self.slot.lock();
            if matches!(&*slot, Slot::Waiting) {
                *slot = Slot::Ended;
            }
        }
    }
}

/// A job on its own named thread; its result is collected with [`BgJob::take`].
/// Dropping it cancels the job and joins the thread.
pub struct BgJob<T> {
    ctx: Arc<JobCtx>,
    result: Arc<Mutex<Option<T>>>,
    thread: Arc<ThreadSlot>,
}

impl<T: Send + 'static> BgJob<T> {
    /// Runs `work` on a thread named `name` now; `wake` is called on progress and at the end.
    /// (Views use [`BgJob::prepare`] and leave the start to the app.)
    pub fn spawn(
        name: &str,
        wake: Arc<dyn Fn() + Send + Sync>,
        work: impl FnOnce(&JobCtx) -> T + Send + 'static,
    ) -> std::io::Result<Self> {
        let (job, launch) = Self::prepare(name, wake, work);
        launch.start()?;
        Ok(job)
    }

    /// The job and its [`Launch`]: nothing runs until the launch is started. Until then the
    /// job is not finished; a launch dropped unstarted ends it with no result.
    pub fn prepare(
        name: &str,
        wake: Arc<dyn Fn() + Send + Sync>,
        work: impl FnOnce(&JobCtx) -> T + Send + 'static,
    ) -> (Self, Launch) {
        let ctx = Arc::new(JobCtx {
            done: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            wake,
            last_wake: Mutex::new(Instant::now()),
        });
        let result = Arc::new(Mutex::new(None));
        let thread = Arc::new(ThreadSlot::default());
        let (c, r) = (ctx.clone(), result.clone());
        let launch = Launch::new(name, thread.clone(), move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&c)));
            if let Ok(v) = out {
                *r.lock().unwrap_or_else(PoisonError::into_inner) = Some(v);
            }
            c.done.store(usize::MAX, Ordering::SeqCst);
            c.wake();
        });
        (
            Self {
                ctx,
                result,
                thread,
            },
            launch,
        )
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

    /// Whether the thread has ended (finished, cancelled or panicked), or will never start.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.ctx.cancel.store(true, Ordering::SeqCst);
    }

    /// The result, once the thread has ended: None while running, Some(None) if the job
    /// panicked or never started, Some(Some(v)) otherwise.
    pub fn take(&mut self) -> Option<Option<T>> {
        if !self.is_finished() {
            return None;
        }
        self.thread.join();
        Some(
            self.result
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        )
    }

    /// Blocks until the job ends and returns its result (tests and the CLI).
    pub fn wait(self) -> Option<T> {
        self.thread.join();
        self.result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl<T> Drop for BgJob<T> {
    fn drop(&mut self) {
        self.ctx.cancel.store(true, Ordering::SeqCst);
        self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_wake() -> Arc<dyn Fn() + Send + Sync> {
        Arc::new(|| {})
    }

    #[test]
    fn a_prepared_job_runs_only_once_its_launch_is_started() {
        let (job, launch) = BgJob::prepare("t", no_wake(), |_| 7);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!job.is_finished(), "nothing may run before the launch");
        assert_eq!(launch.name(), "t");
        launch.start().expect("thread");
        assert_eq!(job.wait(), Some(7));
    }

    #[test]
    fn a_launch_dropped_unstarted_ends_its_job_without_a_result() {
        let (mut job, launch) = BgJob::prepare("t", no_wake(), |_| 7);
        drop(launch);
        assert!(job.is_finished());
        assert_eq!(job.take(), Some(None));
    }

    #[test]
    fn a_launch_whose_job_was_dropped_starts_nothing() {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let (job, launch) = BgJob::prepare("t", no_wake(), move |_| {
            flag.store(true, Ordering::SeqCst);
        });
        drop(job);
        launch.start().expect("no error");
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !ran.load(Ordering::SeqCst),
            "the work ran after its owner was dropped"
        );
    }

    #[test]
    fn dropping_a_started_job_cancels_and_joins_it() {
        let seen = Arc::new(AtomicBool::new(false));
        let flag = seen.clone();
        let job = BgJob::spawn("t", no_wake(), move |ctx| {
            while !ctx.cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            flag.store(true, Ordering::SeqCst);
        })
        .expect("thread");
        drop(job);
        assert!(
            seen.load(Ordering::SeqCst),
            "drop returned before the job saw its cancel"
        );
    }
}
