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

    /// Starts a proxy in front of the server `url` names, `scheme://[user[:password]@]host[:port][/…][?…]`
    /// (`default_port` when it names none), and returns it with the same URL pointing at the proxy: the
    /// way to put a `TEST_*_URL` server behind a proxy.
    pub async fn in_front_of(url: &str, default_port: u16) -> io::Result<(Self, String)> {
        let invalid =
            |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {url}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("a server URL needs a scheme"))?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
        let host = if has_port {
            host.to_owned()
        } else {
            format!("{host}:{default_port}")
        };
        let upstream = tokio::net::lookup_host(&host)
            .await?
            .next()
            .ok_or_else(|| invalid("the server's host has no address"))?;
        let proxy = FaultProxy::start(upstream).await?;
        let through = format!("{scheme}://{userinfo}{}{tail}", proxy.addr());
        Ok((proxy, through))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn in_front_of_keeps_the_url_but_the_address() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = upstream.local_addr().expect("addr").port();
        let url = format!("postgres://user:secret@127.0.0.1:{port}/db?sslmode=disable");
        let (proxy, through) = FaultProxy::in_front_of(&url, 5432).await.expect("proxy");
        assert_eq!(
            through,
            format!("postgres://user:secret@{}/db?sslmode=disable", proxy.addr())
        );

        // Bytes go through to the server the URL named.
        let server = tokio::spawn(async move {
            let (mut socket, _) = upstream.accept().await.expect("accept");
            let mut buf = [0; 4];
            socket.read_exact(&mut buf).await.expect("read");
            socket.write_all(&buf).await.expect("echo");
        });
        let mut client = TcpStream::connect(proxy.addr()).await.expect("connect");
        client.write_all(b"ping").await.expect("write");
        let mut buf = [0; 4];
        client.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");
        server.await.expect("server");

        // No port: the default one; no path or user.
        let (proxy, through) = FaultProxy::in_front_of("redis://127.0.0.1", port)
            .await
            .expect("proxy");
        assert_eq!(through, format!("redis://{}", proxy.addr()));
        assert!(FaultProxy::in_front_of("127.0.0.1:1", 1).await.is_err());
    }
}
