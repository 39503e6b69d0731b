//! Captures the `tracing` events one test emits, so tests can assert that an error or a warning was
//! logged (test support for this workspace; not published).
//!
//! Events go through one process-wide subscriber whose writer hands each formatted line to the capture
//! installed on the emitting thread. Tests that capture use the current-thread runtime, so the code under
//! test runs on the test's thread.
//!
//! Why not a per-test `tracing::subscriber::set_default`: tracing caches each callsite's interest
//! process-wide, and a sibling test thread without a subscriber that reaches a callsite first can cache it
//! as "never", silencing that event for the capturing test too (a flaky `left: 0, right: 1`).
//!
//! ```
//! let (logs, _capture) = test_logs::capture_logs();
//! tracing::warn!(store = "file", "session data corrupted");
//! assert_eq!(logs.lines_with(&["WARN", "session data corrupted"]).len(), 1);
//! ```

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, Once};

/// The log output captured for one test: formatted lines, without timestamps or colours.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }

    /// The captured lines that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .map(str::to_owned)
            .collect()
    }
}

thread_local! {
    /// The capture of the test running on this thread, if it asked for one.
    static CAPTURE: RefCell<Option<Logs>> = const { RefCell::new(None) };
}

/// Ends a capture when dropped. Not `Send`: a capture belongs to the thread that started it.
pub struct CaptureGuard(PhantomData<*const ()>);

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Captures DEBUG and above emitted on this thread until the guard is dropped.
pub fn capture_logs() -> (Logs, CaptureGuard) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only when another subscriber is already global; then nothing is captured and the
        // assertions on the logs say so.
        let _ = tracing_subscriber::fmt()
            .with_writer(ThreadCapture)
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .try_init();
    });
    // A callsite first reached before the subscriber above existed may still be cached as "never".
    tracing::callsite::rebuild_interest_cache();
    let logs = Logs::default();
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(logs.clone()));
    (logs, CaptureGuard(PhantomData))
}

/// The process-wide subscriber's writer: routes each line by the emitting thread.
struct ThreadCapture;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ThreadCapture {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(CAPTURE.with(|capture| capture.borrow().as_ref().map(|logs| logs.0.clone())))
    }
}

/// Writes to one thread's capture, or nowhere when that thread captures nothing.
struct LineWriter(Option<Arc<Mutex<Vec<u8>>>>);

impl io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(sink) = &self.0 {
            lock(sink).extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A test that panicked while holding the buffer must not hide the other tests' logs.
fn lock(buffer: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_threads_events_are_captured_and_only_while_the_guard_lives() {
        let (logs, capture) = capture_logs();
        tracing::error!("mine");
        std::thread::spawn(|| tracing::error!("another thread's"))
            .join()
            .unwrap_or_default();
        drop(capture);
        tracing::error!("after the capture ended");
        assert_eq!(
            logs.lines_with(&["ERROR", "mine"]).len(),
            1,
            "{}",
            logs.text()
        );
        assert!(logs.lines_with(&["another thread's"]).is_empty());
        assert!(logs.lines_with(&["after the capture ended"]).is_empty());
    }
}
