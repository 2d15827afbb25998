//! A wiretap for tests: a TCP relay on loopback in front of a server that keeps every byte the
//! client sent, which is what anyone on the path between the two would see.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Tap {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    relay: tokio::task::JoinHandle<()>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

impl Tap {
    /// Relays every connection to `upstream`, recording what the client sends (bound before this
    /// returns).
    pub async fn start(upstream: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recording = seen.clone();
        let relay = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, recording.clone()));
            }
        });
        Tap { addr, seen, relay }
    }

    /// Everything clients have sent so far, all connections in order of arrival.
    pub fn client_bytes(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }

    /// Whether `needle` occurs in what clients sent.
    pub fn saw(&self, needle: &[u8]) -> bool {
        !needle.is_empty() && self.seen.lock().unwrap().windows(needle.len()).any(|w| w == needle)
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, seen: Arc<Mutex<Vec<u8>>>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upstream_leg = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Recorded before it is passed on, so it is in the log by the time the server answers.
            seen.lock().unwrap().extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream_leg = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream_leg, downstream_leg);
}
