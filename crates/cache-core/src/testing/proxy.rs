//! [`FaultProxy`]: a TCP proxy a test puts between a client and a real server to make the server fail on
//! demand (drop connections, or hang) and come back — the way to test timeouts and reconnection against a
//! real server without stopping it for everyone else.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the proxy treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward bytes both ways: the server is reachable.
    Forward,
    /// Close every open connection and every new one at once: the server is down.
    Refuse,
    /// Keep connections open but never answer: the server hangs (tests timeouts).
    Blackhole,
}

/// A loopback TCP proxy in front of `upstream`, controlled by [`FaultProxy::set_mode`]. Stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<FaultMode>>,
    accept_loop: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` (a free port) forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(watch::Sender::new(FaultMode::Forward));
        let accept_loop = tokio::spawn(accept(listener, upstream, Arc::clone(&mode)));
        Ok(FaultProxy {
            addr,
            mode,
            accept_loop,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how current and future connections are treated.
    pub fn set_mode(&self, mode: FaultMode) {
        // Only a real change notifies, so re-setting the current mode never cuts a healthy connection.
        self.mode.send_if_modified(|current| {
            let changed = *current != mode;
            *current = mode;
            changed
        });
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.mode.send_replace(FaultMode::Refuse);
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, mode: Arc<watch::Sender<FaultMode>>) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(serve(client, upstream, mode.subscribe()));
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<FaultMode>) {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            FaultMode::Refuse => return,
            FaultMode::Blackhole => {
                // Hold the connection without reading it until the mode changes; then drop it, as a
                // restarted server would.
                let _ = mode.changed().await;
                return;
            }
            FaultMode::Forward => {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = copy_bidirectional(&mut client, &mut server) => return,
                    changed = mode.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        // Any change away from forwarding cuts this connection's link to the server; in
                        // blackhole mode the client socket is kept open (and silent) by the next turn.
                        drop(server);
                    }
                }
            }
        }
    }
}
