//! Sockets handed over by the service manager (`LISTEN_FDS`, as a systemd `.socket` unit
//! does): the daemon serves on them instead of binding, a restart keeps them, and a connection
//! made while no daemon runs waits in their queue and is answered by the next one.

#[path = "support/daemon.rs"]
#[allow(dead_code)]
mod daemon;

use daemon::{Daemon, Setup, Sockets};
use std::io::{Read, Write};

/// A daemon's config in `dir`, on a SQLite file there.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let db = format!("sqlite://{}", dir.join("rr.db").display());
    Setup {
        db: &db,
        smtp_port: 9,
        token: "activation-token-0123456789",
        ..Setup::default()
    }
    .write(dir)
}

/// Writes a GET of `path`; it may be sent before anyone accepts.
fn ask(stream: &mut std::net::TcpStream, path: &str) {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
}

/// The whole answer on `stream`, within 20 s.
fn answer(stream: &mut std::net::TcpStream) -> String {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// A GET of `path` over `stream`, and the whole answer.
fn get(stream: &mut std::net::TcpStream, path: &str) -> String {
    ask(stream, path);
    answer(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_sockets_handed_over_and_refuses_no_connection() {
    let dir = tempfile::tempdir().unwrap();
    let sockets = Sockets::bind(&["api", "metrics"]).await;
    let config = config(dir.path());
    let (api, metrics) = (sockets.port("api"), sockets.port("metrics"));

    let mut daemon = Daemon::start_on(&config, &sockets);
    assert!(
        daemon.log().contains(&format!("127.0.0.1:{api}")),
        "the API is served on the socket handed over: {}",
        daemon.log()
    );
    let mut first = std::net::TcpStream::connect(("127.0.0.1", api)).unwrap();
    assert!(get(&mut first, "/healthz").starts_with("HTTP/1.1 200"));
    let mut scrape = std::net::TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    assert!(get(&mut scrape, "/metrics").contains("replyrelay_emails_sent_total"));

    // No daemon now: the connection is still taken, by the kernel, into the socket's queue.
    daemon.kill();
    let mut waiting = std::net::TcpStream::connect(("127.0.0.1", api))
        .expect("a connection while no daemon runs is queued, not refused");
    ask(&mut waiting, "/healthz");

    let _daemon = Daemon::start_on(&config, &sockets);
    let answer = answer(&mut waiting);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the next daemon answers the queued connection: {answer:?}"
    );
}

#[tokio::test]
async fn sockets_it_cannot_place_stop_it_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());

    let unknown = Sockets::bind(&["imap"]).await;
    let log = Daemon::try_start_on(&config, &unknown)
        .err()
        .expect("refused");
    assert!(
        log.contains("names \\\"imap\\\"") && log.contains("FileDescriptorName"),
        "{log}"
    );

    // The config has no [inbound.smtp] for a socket named smtp to serve.
    let smtp = Sockets::bind(&["api", "smtp"]).await;
    let log = Daemon::try_start_on(&config, &smtp).err().expect("refused");
    assert!(log.contains("no [inbound.smtp]"), "{log}");
}
