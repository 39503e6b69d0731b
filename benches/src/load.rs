//! An HTTP/1.1 keep-alive load generator: a fixed number of connections, each sending one request at a time
//! for a fixed time after a warm-up, each request with its own bytes (so its own `Cookie`), every response
//! checked for a `200` and timed. Errors are counted, not fatal: a store that fails under load is a result.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{get_request, Wire};

/// How a run drives an app.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Connections sending at once (each one request at a time).
    pub connections: usize,
    /// Time sent but not measured first: the store's caches, the server's buffers and the connections'
    /// TCP windows settle before the clock starts.
    pub warm_up: Duration,
    /// The measured time.
    pub duration: Duration,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `200` responses completed within the measured time.
    pub ok: u64,
    /// Responses other than `200`, and failed exchanges, in the whole run (warm-up included: an error is
    /// worth reporting whenever it happens).
    pub errors: u64,
    /// `200` responses in the whole run (warm-up and the requests still in flight at the end included):
    /// how many times a counting handler counted.
    pub answered: u64,
    /// The measured time.
    pub window: Duration,
    /// The duration of each exchange completed within the measured time, sorted.
    pub latencies: Vec<Duration>,
    /// The first error, for the report.
    pub first_error: Option<String>,
}

impl Outcome {
    /// `200` responses per second of the measured time.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    /// The `q` quantile (`0.5`, `0.99`) of the measured exchanges' durations, `None` without any.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies.get(rank.saturating_sub(1)).copied()
    }

    fn absorb(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.answered += other.answered;
        self.latencies.extend(other.latencies);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

/// Which of `requests` connection `i` of `connections` sends, in turn: `i`, `i + connections`,
/// `i + 2 × connections`, … — or, with fewer requests than connections, request `i % requests.len()` alone
/// (one session's cookie on every connection: a browser's parallel requests).
fn schedule(requests: &[Vec<u8>], connections: usize, i: usize) -> Vec<Vec<u8>> {
    if requests.len() >= connections {
        requests
            .iter()
            .skip(i)
            .step_by(connections)
            .cloned()
            .collect()
    } else {
        requests
            .get(i % requests.len().max(1))
            .cloned()
            .into_iter()
            .collect()
    }
}

/// Drives the app at `addr` with `requests` (whole HTTP/1.1 requests, see [`get_request`]) spread over
/// `load.connections` connections (connection `i` sends requests `i`, `i + connections`, …; with fewer requests than connections, request `i % requests.len()` alone), tasks of the current runtime. The connections
/// are opened before the clock starts; one that fails is opened again (the failure counted).
///
/// # Panics
///
/// When `requests` is empty or a first connection cannot be opened (a broken setup, not a result).
pub async fn run(addr: SocketAddr, requests: &[Vec<u8>], load: &Load) -> Outcome {
    assert!(!requests.is_empty(), "a load run needs requests");
    let connections = load.connections.max(1);
    let mut wires = Vec::with_capacity(connections);
    for _ in 0..connections {
        wires.push(Wire::connect(addr).await.expect("connect to loopback"));
    }
    let started = Instant::now();
    let measured_from = started + load.warm_up;
    let end = measured_from + load.duration;
    let tasks: Vec<_> = wires
        .into_iter()
        .enumerate()
        .map(|(i, wire)| {
            let mine = schedule(requests, connections, i);
            tokio::spawn(drive(addr, wire, mine, measured_from, end))
        })
        .collect();
    let mut outcome = Outcome {
        window: load.duration,
        ..Outcome::default()
    };
    for task in tasks {
        match task.await {
            Ok(part) => outcome.absorb(part),
            Err(error) => outcome.error(format!("load task: {error}")),
        }
    }
    outcome.latencies.sort_unstable();
    outcome
}

/// One connection's part of [`run`]: `requests` in turn until `end`.
async fn drive(
    addr: SocketAddr,
    mut wire: Wire,
    requests: Vec<Vec<u8>>,
    measured_from: Instant,
    end: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    for request in requests.iter().cycle() {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        // The status, and what went wrong when it is not a `200` (read before the buffer is reused);
        // whether the connection broke.
        let (result, broken) = match wire.exchange(request).await {
            Ok(reply) if reply.status == 200 => (Ok(()), false),
            Ok(reply) => (
                Err(format!(
                    "status {}: {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)])
                )),
                false,
            ),
            Err(error) => (Err(error.to_string()), true),
        };
        let done = Instant::now();
        let measured = done >= measured_from && done < end;
        if measured {
            outcome.latencies.push(done - sent);
        }
        match result {
            Ok(()) => {
                outcome.answered += 1;
                outcome.ok += u64::from(measured);
            }
            Err(what) => outcome.error(what),
        }
        if broken {
            // A fresh connection: the old one is closed or out of step.
            match Wire::connect(addr).await {
                Ok(fresh) => wire = fresh,
                Err(error) => {
                    outcome.error(format!("reconnect: {error}"));
                    break;
                }
            }
        }
    }
    outcome
}

/// Sends `GET path` without a cookie on `wire` and returns the session cookie the response sets, as the
/// `name=value` pair a `Cookie` header carries.
pub async fn log_in(wire: &mut Wire, path: &str) -> io::Result<Vec<u8>> {
    let reply = wire.exchange(&get_request(path, None)).await?;
    if reply.status != 200 {
        return Err(io::Error::other(format!("log-in status {}", reply.status)));
    }
    let set_cookie = reply
        .header("set-cookie")
        .ok_or_else(|| io::Error::other("log-in without a Set-Cookie"))?;
    let pair = set_cookie.split(';').next().unwrap_or_default().trim();
    Ok(pair.as_bytes().to_vec())
}

/// [`log_in`] `count` times on `parallel` connections at once: `count` sessions' cookies.
pub async fn log_in_many(
    addr: SocketAddr,
    path: &'static str,
    count: usize,
    parallel: usize,
) -> io::Result<Vec<Vec<u8>>> {
    let parallel = parallel.clamp(1, count.max(1));
    let tasks: Vec<_> = (0..parallel)
        .map(|i| {
            // Connection `i` logs in for sessions `i`, `i + parallel`, …
            let mine = (i..count).step_by(parallel).count();
            tokio::spawn(async move {
                let mut wire = Wire::connect(addr).await?;
                let mut cookies = Vec::with_capacity(mine);
                for _ in 0..mine {
                    cookies.push(log_in(&mut wire, path).await?);
                }
                Ok::<_, io::Error>(cookies)
            })
        })
        .collect();
    let mut cookies = Vec::with_capacity(count);
    for task in tasks {
        cookies.extend(task.await.map_err(io::Error::other)??);
    }
    Ok(cookies)
}

/// What a [`burst`] saw.
#[derive(Debug, Default)]
pub struct Burst {
    /// `200` responses.
    pub ok: u64,
    /// Other responses and failed exchanges.
    pub errors: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
}

/// Sends `request` once on each of `count` fresh connections, all at once (the connections are opened
/// first), and waits for every response: a crowd arriving together.
///
/// # Errors
///
/// When a connection cannot be opened (a broken setup, not a result).
pub async fn burst(addr: SocketAddr, request: &[u8], count: usize) -> io::Result<Burst> {
    let mut wires = Vec::with_capacity(count);
    for _ in 0..count {
        wires.push(Wire::connect(addr).await?);
    }
    let tasks: Vec<_> = wires
        .into_iter()
        .map(|mut wire| {
            let request = request.to_vec();
            tokio::spawn(async move {
                match wire.exchange(&request).await {
                    Ok(reply) if reply.status == 200 => Ok(()),
                    Ok(reply) => Err(format!("status {}", reply.status)),
                    Err(error) => Err(error.to_string()),
                }
            })
        })
        .collect();
    let mut seen = Burst::default();
    for task in tasks {
        match task.await {
            Ok(Ok(())) => seen.ok += 1,
            Ok(Err(what)) => {
                seen.errors += 1;
                seen.first_error.get_or_insert(what);
            }
            Err(error) => {
                seen.errors += 1;
                seen.first_error
                    .get_or_insert(format!("burst task: {error}"));
            }
        }
    }
    Ok(seen)
}
