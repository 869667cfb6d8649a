//! [`TickThreads`]: where match tasks run.
//!
//! A match's tick is due at a fixed instant, 30 times a second. On the
//! node's main runtime its timer competes with every socket reader and
//! writer of the node: under load a woken match waits its turn in the
//! run queue behind a burst of writers, and its tick starts late although
//! the core has time to spare. So matches run on threads of their own,
//! each with a single-threaded runtime that has nothing else to do: when a
//! deadline passes, the operating system wakes the thread and the tick
//! runs, whatever the sockets are doing. A match reaches sessions only
//! through channels and outboxes, which work across runtimes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// More tick threads than this is a configuration mistake: each steps
/// thousands of players.
pub const MAX_TICK_THREADS: usize = 64;

/// The threads match tasks run on.
#[derive(Debug)]
pub struct TickThreads {
    /// Empty when matches share the caller's runtime.
    threads: Vec<TickThread>,
}

/// One dedicated thread and its runtime.
#[derive(Debug)]
struct TickThread {
    handle: Handle,
    /// Matches running on it, so new ones go to the least busy thread.
    running: Arc<AtomicUsize>,
    /// Dropping it stops the thread's runtime, once the last match on it is
    /// done (every match holds the directory that holds this).
    _stop: oneshot::Sender<()>,
}

impl TickThreads {
    /// Matches run as ordinary tasks of the runtime that spawns them: for
    /// tests that drive a match with a paused clock, and for embedders that
    /// want no extra threads.
    pub fn shared() -> Self {
        TickThreads {
            threads: Vec::new(),
        }
    }

    /// `n` dedicated threads (`0` is [`TickThreads::shared`]).
    ///
    /// # Errors
    /// When `n` is over [`MAX_TICK_THREADS`], or the operating system refuses
    /// a thread or its runtime.
    pub fn start(n: usize) -> std::io::Result<Self> {
        if n > MAX_TICK_THREADS {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("at most {MAX_TICK_THREADS} are allowed"),
            ));
        }
        let threads = (0..n)
            .map(|i| {
                let runtime = Builder::new_current_thread().enable_time().build()?;
                let handle = runtime.handle().clone();
                let (stop, stopped) = oneshot::channel::<()>();
                std::thread::Builder::new()
                    .name(format!("skirmish-tick-{i}"))
                    .spawn(move || {
                        // Runs the matches spawned onto it until the sender
                        // is dropped; dropping the runtime then drops any
                        // match still on it.
                        let _ = runtime.block_on(stopped);
                    })?;
                Ok(TickThread {
                    handle,
                    running: Arc::new(AtomicUsize::new(0)),
                    _stop: stop,
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(TickThreads { threads })
    }

    /// Runs `task` on the thread with the fewest matches (or on the current
    /// runtime when shared).
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(thread) = self
            .threads
            .iter()
            .min_by_key(|t| t.running.load(Ordering::Relaxed))
        else {
            tokio::spawn(task);
            return;
        };
        let running = Arc::clone(&thread.running);
        running.fetch_add(1, Ordering::Relaxed);
        let counted = async move {
            let _done = Decrement(running);
            task.await;
        };
        // The thread lives as long as `self` (a panicking match is caught
        // by its runtime, not the thread), so the task always runs.
        thread.handle.spawn(counted);
    }

    /// Dedicated threads (0 when shared).
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Whether matches share the caller's runtime.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
}

/// Counts a match as done when its task ends or is dropped.
struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn matches_run_on_the_least_busy_dedicated_thread() {
        let threads = TickThreads::start(2).expect("threads");
        assert_eq!(threads.len(), 2);
        let (names_tx, mut names) = tokio::sync::mpsc::unbounded_channel();
        let (release_tx, release) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let names_tx = names_tx.clone();
            let mut release = release.clone();
            threads.spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = names_tx.send(name);
                // Timers work on the thread's own runtime.
                tokio::time::sleep(Duration::from_millis(1)).await;
                let _ = release.wait_for(|go| *go).await;
            });
        }
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(names.recv().await.flatten().expect("a named thread"));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "skirmish-tick-0",
                "skirmish-tick-0",
                "skirmish-tick-1",
                "skirmish-tick-1"
            ]
        );
        release_tx.send_replace(true);
        for _ in 0..200 {
            if threads
                .threads
                .iter()
                .all(|t| t.running.load(Ordering::Relaxed) == 0)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("finished matches are still counted as running");
    }

    #[tokio::test]
    async fn shared_threads_spawn_on_the_callers_runtime() {
        let threads = TickThreads::shared();
        assert!(threads.is_empty());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let caller = std::thread::current().id();
        threads.spawn(async move {
            let _ = tx.send(std::thread::current().id());
        });
        // A current-thread test runtime runs its tasks on this thread.
        assert_eq!(rx.await.expect("ran"), caller);
    }
}
