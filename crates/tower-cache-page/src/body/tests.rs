//! Tests of the bounded collect and of [`PageBody`].

use super::*;
use http_body_util::{BodyExt, Full, StreamBody};
use std::convert::Infallible;

fn stream(
    chunks: usize,
    size: usize,
) -> StreamBody<impl futures_core_stream::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
    StreamBody::new(futures_core_stream::iter((0..chunks).map(move |i| {
        Ok(Frame::data(Bytes::from(vec![
            u8::try_from(i % 251)
                .unwrap_or(0);
            size
        ])))
    })))
}

mod futures_core_stream {
    pub(crate) use futures_util::stream::{iter, Stream};
}

use futures_util::StreamExt;

/// Chunks from memory behind a declared exact size, which may be a lie.
struct Declared {
    chunks: VecDeque<Bytes>,
    size: u64,
}

impl Body for Declared {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.chunks.pop_front().map(|c| Ok(Frame::data(c))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.size)
    }
}

fn declared(chunks: usize, size: usize, declared: u64) -> Declared {
    Declared {
        chunks: (0..chunks)
            .map(|i| Bytes::from(vec![u8::try_from(i % 251).unwrap_or(0); size]))
            .collect(),
        size: declared,
    }
}

/// Why `body` was not stored under `limit`, and all it then gave the client.
async fn passed_through<B>(body: B, limit: usize) -> (Unstored, Bytes)
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let Collected::PassThrough(body, why) = collect_limited(body, limit).await else {
        panic!("expected pass-through");
    };
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (why, bytes)
}

fn intact(bytes: &[u8], chunk: usize) -> bool {
    bytes
        .chunks(chunk)
        .enumerate()
        .all(|(i, c)| c.iter().all(|b| usize::from(*b) == i % 251))
}

#[tokio::test]
async fn small_bodies_of_known_size_are_collected() {
    match collect_limited(Full::new(Bytes::from_static(b"hello")), 10).await {
        Collected::Complete(bytes) => assert_eq!(&bytes[..], b"hello"),
        Collected::PassThrough(..) => panic!("expected a complete body"),
    }
    match collect_limited(declared(3, 3, 9), 10).await {
        Collected::Complete(bytes) => assert_eq!(bytes.len(), 9),
        Collected::PassThrough(..) => panic!("expected a complete body"),
    }
}

/// A body of unknown size is never read for storing, however small: it may never end. (Until streams
/// were passed through, a short stream was collected and stored.)
#[tokio::test]
async fn streams_are_passed_through_unread() {
    let Collected::PassThrough(body, why) = collect_limited(stream(3, 3), 10).await else {
        panic!("a stream was collected");
    };
    assert_eq!(why, Unstored::Streaming);
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    assert_eq!(bytes.len(), 9);
}

/// An endless stream (one event, then nothing more for ever) is handed on at once, and its first
/// event can be read.
#[tokio::test]
async fn endless_streams_are_handed_on_at_once() {
    let events = futures_util::stream::iter([Ok::<_, Infallible>(Frame::data(
        Bytes::from_static(b"data: first\n\n"),
    ))])
    .chain(futures_util::stream::pending());
    let collected = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        collect_limited(StreamBody::new(events), 1024 * 1024),
    )
    .await;
    let Ok(Collected::PassThrough(mut body, Unstored::Streaming)) = collected else {
        panic!("the endless stream was read, not handed on");
    };
    let first = body.frame().await.and_then(|f| f.ok()?.into_data().ok());
    assert_eq!(first.as_deref(), Some(&b"data: first\n\n"[..]));
}

#[tokio::test]
async fn large_streams_pass_through_intact() {
    let (why, bytes) = passed_through(stream(100, 1000), 4096).await;
    assert_eq!(why, Unstored::Streaming);
    assert_eq!(bytes.len(), 100_000);
    assert!(intact(&bytes, 1000));
}

/// A body that declares a small size but goes on past the limit is answered whole: what was read,
/// then the rest.
#[tokio::test]
async fn bodies_that_outgrow_their_declared_size_pass_through_intact() {
    let (why, bytes) = passed_through(declared(100, 1000, 10), 4096).await;
    assert_eq!(why, Unstored::TooLarge);
    assert_eq!(bytes.len(), 100_000);
    assert!(intact(&bytes, 1000));
}

#[tokio::test]
async fn declared_large_bodies_are_not_read() {
    let body = Full::new(Bytes::from(vec![0u8; 100]));
    let Collected::PassThrough(body, why) = collect_limited(body, 10).await else {
        panic!("expected pass-through");
    };
    assert_eq!(why, Unstored::TooLarge);
    assert_eq!(body.size_hint().exact(), Some(100));
}
