//! Over a real socket: hyper parses the request line before axum sees it, so the URI limit must
//! be below hyper's own (414 without a body beyond 65,534 bytes of request target).
//!
//! hyper also answers 431 without a body once a request head outgrows its ~400 KiB read buffer,
//! but whether a given head does depends on how the kernel splits it into reads (a 500 KiB head
//! that arrives in one read is parsed and answered 200), so no test asserts it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// Sends `head` (a raw HTTP/1.1 request head) and returns the raw answer.
async fn raw(state: &AppState, head: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serve = axum::serve(listener, app(state.clone()));
    let server = tokio::spawn(async move { serve.await });
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    server.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
}

#[tokio::test]
async fn our_uri_limit_answers_before_hyper_does() {
    let f = fixture().await;
    let ours = raw(
        &f.state,
        get(&format!("/healthz?x={}", "a".repeat(10 * 1024))),
    )
    .await;
    assert!(ours.starts_with("HTTP/1.1 414"), "{ours}");
    assert!(ours.contains("StatPort.UriTooLong"), "{ours}");
    let hypers = raw(
        &f.state,
        get(&format!("/healthz?x={}", "a".repeat(70 * 1024))),
    )
    .await;
    assert!(hypers.starts_with("HTTP/1.1 414"), "{hypers}");
    assert!(
        !hypers.contains("StatPort"),
        "hyper answers beyond 64 KiB itself"
    );
}
