//! [`find`]: the request phase run with awaited reads, for the asynchronous driver and for requests that
//! look the cache up again after waiting (a follower told another process stored the page, a process
//! waiting on another's lease).

use http::{HeaderMap, Method, Uri};

use super::fetch::{Fetch, Found, Step};
use super::guard::Failed;
use super::shared::Shared;

/// Runs the request phase with awaited reads: what the cache has for a request.
pub(crate) async fn find(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Found {
    let mut fetch = Fetch::of(shared, method, uri, headers);
    let mut step = fetch.start();
    loop {
        let read = match step {
            Step::Read { key, what } => match shared.guard.read(key, what).await {
                Ok(read) => read,
                Err(Failed) => return Found::Failed,
            },
            Step::Done(found) => return found,
        };
        step = fetch.resume(read);
    }
}
