//! [`Hit`]: a stored page on its way to the client.

use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderValue, AGE, CONTENT_LENGTH};
use http::Response;
use http_body::Body;

use super::entry::StoredPage;
use crate::body::PageBody;
use crate::CACHE_STATUS;

/// A stored page to answer with.
pub(crate) struct Hit {
    /// Shared with the memo when it keeps the page decoded; taken over when it is this hit's alone.
    pub(crate) page: Arc<StoredPage>,
    pub(crate) now: SystemTime,
    pub(crate) head: bool,
    pub(crate) status: Option<HeaderValue>,
}

impl Hit {
    /// A page a concurrent request stored just now.
    pub(crate) fn published(page: StoredPage, head: bool, status: Option<HeaderValue>) -> Self {
        Hit {
            page: Arc::new(page),
            now: SystemTime::now(),
            head,
            status,
        }
    }

    /// The response: the stored status and headers, `Age`, `Cache-Status`; HEAD gets no body but the
    /// length. The body is the stored blob's bytes, not a copy.
    // Inlined into its callers: the hit is then built where it is consumed, not copied to a call.
    #[inline(always)]
    pub(crate) fn into_response<B: Body>(self) -> Response<PageBody<B>> {
        let page = Arc::try_unwrap(self.page).unwrap_or_else(|shared| StoredPage::clone(&shared));
        let StoredPage {
            stored_at,
            status: code,
            mut headers,
            body,
            ..
        } = page;
        let age = self
            .now
            .duration_since(stored_at)
            .map_or(0, |d| d.as_secs());
        headers.insert(AGE, age_value(age));
        if let Some(status) = self.status {
            headers.insert(CACHE_STATUS, status);
        }
        let body = if self.head {
            if !headers.contains_key(CONTENT_LENGTH) {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
            PageBody::empty()
        } else {
            PageBody::full(body)
        };
        let mut response = Response::new(body);
        *response.status_mut() = code;
        *response.headers_mut() = headers;
        response
    }
}

/// `Age` as a header value; the common small ages without an allocation.
fn age_value(age: u64) -> HeaderValue {
    const SMALL: [&str; 16] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
    ];
    match usize::try_from(age).ok().and_then(|i| SMALL.get(i)) {
        Some(small) => HeaderValue::from_static(small),
        None => HeaderValue::from(age),
    }
}
