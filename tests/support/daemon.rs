//! `replyrelay serve` as a child process, for the tests that kill it, restart it or run several
//! on one database: what an operator's systemd would do to it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running daemon; killed when dropped.
pub struct Daemon {
    pub child: Child,
    /// The base URL of its API, as it logged it.
    pub api: String,
    /// Everything it logged so far (JSON lines).
    log: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread reading its log, done once the process is gone and the pipe is drained.
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// Starts `replyrelay serve` with this config and waits until its API and SMTP listener are
    /// bound (it logs "replyrelay listening" after both). `listen` overrides `[api] listen`.
    pub fn start(config: &Path, listen: &str) -> Daemon {
        Self::start_with_env(config, listen, &[])
    }

    pub fn start_with_env(config: &Path, listen: &str, env: &[(&str, &str)]) -> Daemon {
        // A port from `free_port` was free when picked, and is picked again for a restart: if
        // another process took it meanwhile, the daemon cannot bind and says so; start again
        // once it is released, for a while, then fail with what the daemon said.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            match Self::try_start(config, listen, env) {
                Ok(daemon) => return daemon,
                Err(log) if log.contains("in use") && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(log) => panic!("daemon exited before listening: {log}"),
            }
        }
    }

    fn try_start(config: &Path, listen: &str, env: &[(&str, &str)]) -> Result<Daemon, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_replyrelay"))
            .arg("--config")
            .arg(config)
            .args(["--log-json", "serve", "--listen", listen])
            .env("RUST_LOG", "warn,replyrelay=info")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let api = loop {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                return Err(log.lock().unwrap().clone());
            }
            log.lock().unwrap().push_str(&line);
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(addr) = v["fields"]["addr"].as_str() {
                break format!("http://{addr}");
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        let kept = log.clone();
        let drain = std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                kept.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Ok(Daemon {
            child,
            api,
            log,
            drain: Some(drain),
        })
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight stays where it was. Returns
    /// once everything it wrote before dying is in [`Daemon::log`].
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago, for a daemon that must keep its address across
/// restarts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What goes into a test daemon's `replyrelay.toml`.
#[derive(Default)]
pub struct Setup<'a> {
    pub db: &'a str,
    /// The relay (`[delivery.smtp] port`).
    pub smtp_port: u16,
    /// The API token of the one site, `acme`.
    pub token: &'a str,
    /// More lines under `[delivery]`.
    pub delivery: &'a str,
    /// More lines under `[delivery.smtp]`.
    pub smtp: &'a str,
    /// More sections, before `[[site]]`.
    pub extra: &'a str,
}

impl Setup<'_> {
    /// Writes the config into `dir` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let Setup {
            db,
            smtp_port,
            token,
            delivery,
            smtp,
            extra,
        } = self;
        let path = dir.join("replyrelay.toml");
        std::fs::write(
            &path,
            format!(
                r#"
[metrics]
listen = "127.0.0.1:0"

[database]
url = "{db}"

[delivery]
lease = "3s"
{delivery}

[delivery.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
{smtp}

[secrets]
token_keys = ["shared-key-0123456789-0123456789-0123456789"]

{extra}

[[site]]
id = "acme"
name = "Acme"
api_tokens = ["{token}"]
sender = "support@acme.example"
reply_domain = "reply.acme.example"
"#
            ),
        )
        .unwrap();
        path
    }
}

/// Events that make conversation `i` due at `due`: its visitor left long enough before, and
/// the agent's reply is exactly one quiet period old then.
pub fn due_conversation(i: usize, due: DateTime<Utc>) -> Vec<Value> {
    let c = format!("c{i}");
    let t = |back: TimeDelta| (due - back).to_rfc3339();
    vec![
        json!({"type": "visitor", "conversation": c, "visitor": {"id": format!("v{i}"), "email": format!("visitor{i}@example.com")}}),
        json!({"type": "message", "conversation": c, "at": t(TimeDelta::minutes(7)), "message": {"id": "q", "author": "visitor", "text": "Hello?"}}),
        json!({"type": "presence", "conversation": c, "state": "left", "at": t(TimeDelta::minutes(6))}),
        json!({"type": "message", "conversation": c, "at": t(TimeDelta::seconds(60)), "message": {"id": "a", "author": "agent", "text": format!("Answer {i}")}}),
    ]
}
