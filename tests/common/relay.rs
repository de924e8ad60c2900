//! A TCP relay on 127.0.0.1 that can be cut and restored: a real Redis or S3 server behind a
//! port the test can take away (connections refused) and give back, to test outages and starts
//! while a dependency is away without touching the shared servers.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A relay from a free local port to `target`.
pub struct Relay {
    /// The address clients connect to.
    pub addr: SocketAddr,
    up: Arc<watch::Sender<bool>>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// A relay to `target`, up or down from the start.
    pub async fn start(target: SocketAddr, up: bool) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let up = Arc::new(watch::channel(up).0);
        let accept = {
            let up = Arc::clone(&up);
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if !*up.borrow() {
                        drop(client); // refused: closed at once
                        continue;
                    }
                    let mut down = up.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = down.wait_for(|up| !*up) => {} // cut: both sides dropped
                        }
                    });
                }
            })
        };
        Relay { addr, up, accept }
    }

    /// Cuts every connection and refuses new ones (`false`), or relays again (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
