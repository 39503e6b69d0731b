//! [`PageBody`]: the response body of the page cache and conditional-GET layers, and the bounded collect
//! that decides whether a body is stored.
//!
//! Only a body that declares its exact size (`size_hint().exact()`), and a size within the limit, is read
//! in for storing. Any other body (a stream: server-sent events, long polling, a chunked download) is
//! handed to the client at once, each frame as the handler produces it, and is never stored; Django never
//! caches a streaming response either. Reading such a body first would hold back the response headers
//! until it ends, which for an endless event stream is never.
//!
//! A body that declared a size within the limit is read frame by frame. If it ends within the limit (and
//! has no trailers) it is stored and answered from memory. If it goes over after all, or carries
//! trailers, the frames read so far are answered first and the rest of the stream after them: memory
//! stays bounded by the limit whatever the body does.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response that went through [`CachePageService`](crate::CachePageService) or
    /// [`ConditionalGetService`](crate::ConditionalGetService): a cached or collected body from memory, the inner body
    /// untouched, or the frames already read followed by the rest of the inner body.
    pub struct PageBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B>
    where
        B: Body,
    {
        Full { data: Option<Bytes> },
        Inner { #[pin] body: B },
        // Boxed: it is rare (large, trailers, errors) and by far the largest, and every response (a cache
        // hit too) is moved around at the size of the largest variant.
        Prefixed { state: Box<Prefixed<B>> },
    }
}

/// The frames already read, then the error met or the rest of the inner body.
struct Prefixed<B: Body> {
    prefix: VecDeque<Frame<Bytes>>,
    rest: Option<Pin<Box<B>>>,
    error: Option<B::Error>,
}

impl<B: Body> PageBody<B> {
    /// A body of `data` from memory.
    pub(crate) fn full(data: Bytes) -> Self {
        PageBody {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// An empty body (HEAD, 304, 412).
    pub(crate) fn empty() -> Self {
        PageBody {
            kind: Kind::Full { data: None },
        }
    }

    /// The inner body as it is.
    pub(crate) fn inner(body: B) -> Self {
        PageBody {
            kind: Kind::Inner { body },
        }
    }

    /// A body that fails with `error` when read.
    pub(crate) fn failed(error: B::Error) -> Self {
        PageBody::prefixed(VecDeque::new(), None, Some(error))
    }

    /// `data`, then `trailers`.
    pub(crate) fn with_trailers(data: Bytes, trailers: http::HeaderMap) -> Self {
        PageBody::prefixed(
            VecDeque::from([Frame::data(data), Frame::trailers(trailers)]),
            None,
            None,
        )
    }

    fn prefixed(
        prefix: VecDeque<Frame<Bytes>>,
        rest: Option<Pin<Box<B>>>,
        error: Option<B::Error>,
    ) -> Self {
        PageBody {
            kind: Kind::Prefixed {
                state: Box::new(Prefixed {
                    prefix,
                    rest,
                    error,
                }),
            },
        }
    }
}

impl<B: Body> std::fmt::Debug for PageBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Full { .. } => "Full",
            Kind::Inner { .. } => "Inner",
            Kind::Prefixed { .. } => "Prefixed",
        };
        f.debug_struct("PageBody").field("kind", &kind).finish()
    }
}

fn to_bytes<D: Buf>(mut data: D) -> Bytes {
    // `Bytes::copy_to_bytes` is a cheap split, so an inner `Bytes` body is never copied.
    data.copy_to_bytes(data.remaining())
}

impl<B> Body for PageBody<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Inner { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map(|f| f.map_data(to_bytes)))),
            KindProj::Prefixed { state } => {
                let Prefixed {
                    prefix,
                    rest,
                    error,
                } = &mut **state;
                if let Some(frame) = prefix.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(error) = error.take() {
                    *rest = None;
                    return Poll::Ready(Some(Err(error)));
                }
                let Some(body) = rest.as_mut() else {
                    return Poll::Ready(None);
                };
                match body.as_mut().poll_frame(cx) {
                    Poll::Ready(None) => {
                        *rest = None;
                        Poll::Ready(None)
                    }
                    Poll::Ready(Some(frame)) => {
                        Poll::Ready(Some(frame.map(|f| f.map_data(to_bytes))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Prefixed { state } => {
                let Prefixed {
                    prefix,
                    rest,
                    error,
                } = &**state;
                prefix.is_empty()
                    && error.is_none()
                    && rest.as_ref().is_none_or(|b| b.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body } => body.size_hint(),
            Kind::Prefixed { state } => {
                let Prefixed { prefix, rest, .. } = &**state;
                let buffered: u64 = prefix
                    .iter()
                    .filter_map(|f| f.data_ref().map(|d| d.len() as u64))
                    .sum();
                let rest = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
                let mut hint = SizeHint::new();
                hint.set_lower(buffered.saturating_add(rest.lower()));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(buffered.saturating_add(upper));
                }
                hint
            }
        }
    }
}

/// The outcome of reading a body up to a limit.
pub(crate) enum Collected<B: Body> {
    /// The whole body, within the limit, without trailers.
    Complete(Bytes),
    /// Not storable: the body to answer with (which replays what was read, if anything, and continues
    /// with the rest), and why it was not stored.
    PassThrough(PageBody<B>, Unstored),
}

/// Why a body was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unstored {
    /// Its size is not known up front: a stream, handed on as it comes.
    Streaming,
    /// Larger than the limit (declared or found while reading), or with trailers or a read error.
    TooLarge,
}

impl Unstored {
    /// The `detail` of `Cache-Status`.
    pub(crate) fn detail(self) -> &'static str {
        match self {
            Unstored::Streaming => "streaming",
            Unstored::TooLarge => "too-large",
        }
    }
}

/// Reads `body` for storing when it declares an exact size within `limit` bytes, and while it stays
/// within that limit; any other body is passed through unread.
pub(crate) async fn collect_limited<B: Body>(body: B, limit: usize) -> Collected<B> {
    match body.size_hint().exact() {
        None => return Collected::PassThrough(PageBody::inner(body), Unstored::Streaming),
        Some(size) if size > limit as u64 => {
            return Collected::PassThrough(PageBody::inner(body), Unstored::TooLarge);
        }
        Some(_) => {}
    }
    let mut body = Box::pin(body);
    let mut frames: VecDeque<Frame<Bytes>> = VecDeque::new();
    let mut total = 0usize;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(error)) => {
                return Collected::PassThrough(
                    PageBody::prefixed(frames, None, Some(error)),
                    Unstored::TooLarge,
                );
            }
            Some(Ok(frame)) => {
                let frame = frame.map_data(to_bytes);
                match frame.data_ref() {
                    Some(data) => {
                        total = total.saturating_add(data.len());
                        frames.push_back(frame);
                        if total > limit {
                            return Collected::PassThrough(
                                PageBody::prefixed(frames, Some(body), None),
                                Unstored::TooLarge,
                            );
                        }
                    }
                    None => {
                        // Trailers are not stored: answer with everything as read.
                        frames.push_back(frame);
                        return Collected::PassThrough(
                            PageBody::prefixed(frames, Some(body), None),
                            Unstored::TooLarge,
                        );
                    }
                }
            }
        }
    }
    Collected::Complete(concat(frames, total))
}

fn concat(mut frames: VecDeque<Frame<Bytes>>, total: usize) -> Bytes {
    if frames.len() == 1 {
        if let Some(Ok(data)) = frames.pop_front().map(Frame::into_data) {
            return data;
        }
        return Bytes::new();
    }
    let mut out = BytesMut::with_capacity(total);
    for frame in frames {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    out.freeze()
}

#[cfg(test)]
mod tests;
