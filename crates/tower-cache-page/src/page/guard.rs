//! [`Guard`]: every backend operation of the page cache goes through here, past the layer's circuit
//! [`Breaker`] and within its backend timeout.
//!
//! Any failure (an error or a timeout) is logged here and comes back as [`Failed`]: the request is then
//! served by the inner service without the cache. A failure of the backend itself trips the breaker: the
//! cache is bypassed for [`COOLDOWN`](super::breaker::COOLDOWN), then one request at a time probes the
//! backend while the others keep bypassing, so an outage costs at most one slow request per second instead
//! of one per request.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{Cache, Expiry};

use super::breaker::{Admission, Breaker, Probe};
use super::metrics::PageMetrics;

/// A cache operation failed (already logged): serve without the cache.
#[derive(Debug)]
pub(crate) struct Failed;

/// What a read found, and whether it was answered in-process (without I/O): such a backend may hand out
/// the very buffer it stores, which the memo can recognise.
pub(crate) struct Read {
    pub(crate) blob: Option<Bytes>,
    pub(crate) in_process: bool,
}

/// The breaker and the timeout around one layer's backend.
pub(crate) struct Guard {
    cache: Cache,
    breaker: Arc<Breaker>,
    timeout: Option<Duration>,
    metrics: PageMetrics,
}

impl Guard {
    pub(crate) fn new(
        cache: Cache,
        breaker: Arc<Breaker>,
        timeout: Option<Duration>,
        metrics: PageMetrics,
    ) -> Self {
        Guard {
            cache,
            breaker,
            timeout,
            metrics,
        }
    }

    /// The breaker, to share with a reconfigured layer.
    pub(crate) fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// Whether the backend is healthy (one load): only then may the synchronous path read it.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.breaker.is_closed()
    }

    /// Whether a request must go without the cache: open, or another request is probing.
    pub(crate) fn bypassing(&self) -> bool {
        self.breaker.bypassing()
    }

    /// A synchronous read, for the synchronous path while the breaker is closed: `None` when the backend
    /// cannot answer without I/O; a failure is logged (and trips the breaker) and also gives `None`,
    /// leaving the decision to the asynchronous path.
    #[inline]
    pub(crate) fn read_now(&self, made_key: &str) -> Option<Option<Bytes>> {
        match self.cache.raw().get_now(made_key)? {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(key = made_key, %error, "page cache backend failed; serving without the cache");
                if error.is_backend() {
                    self.breaker.failed();
                }
                None
            }
        }
    }

    /// Reads a made key; in-process when the backend can (the memory backend), without a future.
    pub(crate) async fn read(&self, made_key: &str, what: &'static str) -> Result<Read, Failed> {
        let probe = self.admit()?;
        let raw = self.cache.raw();
        let (blob, in_process) = match raw.get_now(made_key) {
            Some(result) => (self.settle(probe, result, what, made_key)?, true),
            None => (
                self.bounded(probe, raw.get(made_key), what, made_key)
                    .await?,
                false,
            ),
        };
        Ok(Read { blob, in_process })
    }

    /// Writes a made key for `ttl` (never zero here: zero timeouts are not stored).
    pub(crate) async fn write(
        &self,
        made_key: &str,
        value: Bytes,
        ttl: Duration,
        what: &'static str,
    ) -> Result<(), Failed> {
        let probe = self.admit()?;
        let op = self.cache.raw().set(made_key, value, Expiry::after(ttl));
        self.bounded(probe, op, what, made_key).await
    }

    /// Stores `value` under a made key for `ttl` only if nothing is there (atomically, on every backend:
    /// Redis `SET NX`, memcached `add`, an SQL insert); whether it stored.
    pub(crate) async fn add(
        &self,
        made_key: &str,
        value: Bytes,
        ttl: Duration,
        what: &'static str,
    ) -> Result<bool, Failed> {
        let probe = self.admit()?;
        let op = self.cache.raw().add(made_key, value, Expiry::after(ttl));
        self.bounded(probe, op, what, made_key).await
    }

    /// Whether a live entry is under a made key.
    pub(crate) async fn exists(&self, made_key: &str, what: &'static str) -> Result<bool, Failed> {
        let probe = self.admit()?;
        let op = self.cache.raw().has_key(made_key);
        self.bounded(probe, op, what, made_key).await
    }

    /// Removes a made key.
    pub(crate) async fn delete(&self, made_key: &str, what: &'static str) -> Result<bool, Failed> {
        let probe = self.admit()?;
        let op = self.cache.raw().delete(made_key);
        self.bounded(probe, op, what, made_key).await
    }

    /// Asks the breaker for one backend operation: `Err` when the cache is to be bypassed, else the probe
    /// to report on when this operation is the one trying a failed backend again.
    fn admit(&self) -> Result<Option<Probe<'_>>, Failed> {
        match self.breaker.admit() {
            Admission::Go => Ok(None),
            Admission::Probe(probe) => Ok(Some(probe)),
            Admission::Refused => Err(Failed),
        }
    }

    /// Awaits a backend operation within the backend timeout; failures are logged and trip the breaker.
    /// `probe` is this operation's, when it tries a failed backend again: its success closes the breaker,
    /// anything else (failure, timeout, cancellation) re-opens it.
    ///
    /// The operation is polled once first: the memory backend answers at once, so no timer is armed for
    /// it. Only an operation still pending is wrapped in a timeout, kept in this future's own state (the
    /// fetch is boxed once already, so a network backend's hit allocates nothing more for its timer).
    async fn bounded<T>(
        &self,
        probe: Option<Probe<'_>>,
        op: impl Future<Output = cache_core::Result<T>>,
        what: &'static str,
        key: &str,
    ) -> Result<T, Failed> {
        let mut op = std::pin::pin!(op);
        let result = match std::future::poll_fn(|cx| Poll::Ready(op.as_mut().poll(cx))).await {
            Poll::Ready(result) => result,
            Poll::Pending => {
                // Over the network: timed, in a span of its own.
                let started = std::time::Instant::now();
                let span = tracing::debug_span!("page_cache.backend", operation = what, key);
                let result = match self.timeout {
                    None => tracing::Instrument::instrument(op, span).await,
                    Some(limit) => {
                        match tokio::time::timeout(limit, tracing::Instrument::instrument(op, span))
                            .await
                        {
                            Ok(result) => result,
                            Err(_) => {
                                tracing::warn!(
                                    operation = what,
                                    key,
                                    timeout = ?limit,
                                    "page cache backend timed out; serving without the cache"
                                );
                                self.metrics.backend(what, started.elapsed(), true);
                                self.breaker.failed();
                                return Err(Failed);
                            }
                        }
                    }
                };
                self.metrics
                    .backend(what, started.elapsed(), result.is_err());
                result
            }
        };
        self.settle(probe, result, what, key)
    }

    /// Reports how an operation went: to the probe, when it was one, and on failure to the log and (when
    /// the backend itself failed) to the breaker.
    fn settle<T>(
        &self,
        probe: Option<Probe<'_>>,
        result: cache_core::Result<T>,
        what: &'static str,
        key: &str,
    ) -> Result<T, Failed> {
        match result {
            Ok(value) => {
                answered(probe);
                Ok(value)
            }
            Err(error) => {
                tracing::warn!(
                    operation = what,
                    key,
                    %error,
                    "page cache backend failed; serving without the cache"
                );
                if error.is_backend() {
                    self.breaker.failed();
                } else {
                    // The backend answered (the request was at fault): it is reachable.
                    answered(probe);
                }
                Err(Failed)
            }
        }
    }
}

/// The backend answered an operation: when it was the probe, the breaker closes.
fn answered(probe: Option<Probe<'_>>) {
    if let Some(probe) = probe {
        probe.succeeded();
    }
}
