//! The outbound client against Postfix's own SMTP server test program, `smtp-sink`: messages
//! go through whole over kept connections, with commands pipelined where it offers PIPELINING
//! (its default) and one at a time where it does not (`-p`). Each message it takes is dumped to
//! a file, read back here.

#[path = "support/skip.rs"]
mod skip;

use replyrelay::config::{SmtpConfig, SmtpSecurity, Transport as TransportConfig};
use replyrelay::outbound::Transport;
use replyrelay::trust::Trust;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// Postfix's smtp-sink on a free loopback port, dumping each transaction into `dir`.
struct Sink {
    child: Child,
    port: u16,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_sink(dir: &Path, pipelining: bool) -> Option<Sink> {
    let program = Path::new("/usr/sbin/smtp-sink");
    if !program.exists() {
        skip::skipped(
            "postfix_relay",
            "smtp-sink not installed (apt-get install postfix)",
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(program);
    command.args(["-u", "nobody", "-d"]).arg(dir.join("%M."));
    if !pipelining {
        command.arg("-p");
    }
    let child = command
        .arg(format!("127.0.0.1:{port}"))
        .arg("16")
        .spawn()
        .unwrap();
    // Killed and waited for when dropped, whatever happens next.
    let sink = Sink { child, port };
    // Listening once a connection is taken.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(sink);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("smtp-sink did not start on port {port}");
}

/// Sends `n` messages over two connections kept open, and returns what the sink dumped.
async fn send_through(pipelining: bool, n: usize) -> Option<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    // The sink drops its privileges to `nobody`, who must be able to write the dumps.
    Command::new("chmod")
        .arg("777")
        .arg(dir.path())
        .status()
        .unwrap();
    let sink = smtp_sink(dir.path(), pipelining)?;
    let config = TransportConfig::Smtp(SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        pool_size: 2,
        timeout: Duration::from_secs(10),
        helo_name: Some("relay-test.example".into()),
    });
    let transport = Transport::from_config(&config, &Trust::new(Vec::new()).unwrap()).unwrap();
    let sends = (0..n).map(|i| {
        let raw = format!(
            "From: support@acme.example\r\nTo: visitor{i}@example.com\r\nSubject: Reply {i}\r\n\
             Message-ID: <m{i}@acme.example>\r\n\r\nHello {i}\r\n.a line that starts with a dot\r\n"
        );
        let transport = transport.clone();
        async move {
            let to = format!("visitor{i}@example.com");
            transport
                .send("bounces@acme.example", &to, raw.as_bytes())
                .await
        }
    });
    for answer in futures_util::future::join_all(sends).await {
        let answer = answer.expect("taken");
        assert!(answer.starts_with("250"), "{answer}");
    }
    drop(sink);
    let dumps = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned())
        .collect();
    Some(dumps)
}

/// Checks that every message came whole, from the bounce address to its recipient.
fn assert_whole(dumps: &[String], n: usize) {
    assert_eq!(dumps.len(), n);
    for i in 0..n {
        // smtp-sink's dump: the envelope as `X-…-Args` lines, then the message with LF ends.
        let dump = (dumps.iter())
            .find(|d| d.contains(&format!("Subject: Reply {i}\n")))
            .unwrap_or_else(|| panic!("message {i} not dumped: {dumps:?}"));
        assert!(
            dump.contains("X-Mail-Args: <bounces@acme.example>"),
            "{dump}"
        );
        assert!(
            dump.contains(&format!("X-Rcpt-Args: <visitor{i}@example.com>")),
            "{dump}"
        );
        assert!(dump.contains(&format!("Hello {i}")), "{dump}");
        // The dot-stuffed line arrives as written.
        assert!(dump.contains("\n.a line that starts with a dot"), "{dump}");
    }
}

#[tokio::test]
async fn messages_go_through_pipelined_to_postfix() {
    if let Some(dumps) = send_through(true, 6).await {
        assert_whole(&dumps, 6);
    }
}

#[tokio::test]
async fn messages_go_through_one_command_at_a_time_where_postfix_offers_no_pipelining() {
    if let Some(dumps) = send_through(false, 6).await {
        assert_whole(&dumps, 6);
    }
}
