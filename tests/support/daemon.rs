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
        Self::try_start(config, listen, env, &Sockets::default())
            .unwrap_or_else(|log| panic!("daemon exited before listening: {log}"))
    }

    /// Starts it on sockets the test bound once, handed over as systemd's socket units do
    /// (`LISTEN_FDS`): every restart gets the same ports, and nothing else can take them in
    /// between.
    pub fn start_on(config: &Path, sockets: &Sockets) -> Daemon {
        Self::try_start_on(config, sockets)
            .unwrap_or_else(|log| panic!("daemon exited before listening: {log}"))
    }

    /// `replyrelay serve` with no config file at all, in `dir` (a newcomer's first run): the
    /// built-in defaults, a SQLite file and a maildir there; API and metrics on free ports.
    pub fn start_without_config(dir: &Path) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_replyrelay"));
        command
            .current_dir(dir)
            .env_remove("REPLYRELAY_CONFIG")
            .args(["--log-json", "serve", "--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn,replyrelay=info")
            .stderr(Stdio::piped());
        Self::spawned(command).unwrap_or_else(|log| panic!("daemon exited before listening: {log}"))
    }

    /// [`Daemon::start_on`], or what the daemon logged if it exited before listening.
    pub fn try_start_on(config: &Path, sockets: &Sockets) -> Result<Daemon, String> {
        Self::try_start(config, "127.0.0.1:0", &[], sockets)
    }

    fn try_start(
        config: &Path,
        listen: &str,
        env: &[(&str, &str)],
        sockets: &Sockets,
    ) -> Result<Daemon, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_replyrelay"));
        command
            .arg("--config")
            .arg(config)
            .args(["--log-json", "serve", "--listen", listen])
            .env("RUST_LOG", "warn,replyrelay=info")
            .envs(env.iter().copied())
            .stderr(Stdio::piped());
        sockets.hand_to(&mut command);
        Self::spawned(command)
    }

    /// Spawns `command` and waits for the line that says where its API listens.
    fn spawned(mut command: Command) -> Result<Daemon, String> {
        let mut child = command.spawn().unwrap();
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

/// Listening sockets bound once by a test and handed to each daemon it starts.
#[derive(Default)]
pub struct Sockets {
    /// Each with its `FileDescriptorName=` (`api`, `smtp`, `metrics`).
    listeners: Vec<(&'static str, std::net::TcpListener)>,
}

impl Sockets {
    /// Loopback listeners for these roles, with the accept queue the daemon gives its own.
    pub async fn bind(names: &[&'static str]) -> Sockets {
        let mut listeners = Vec::new();
        for &name in names {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let listener = socket.listen(4096).unwrap().into_std().unwrap();
            listeners.push((name, listener));
        }
        Sockets { listeners }
    }

    /// The port of the socket named `name`.
    pub fn port(&self, name: &str) -> u16 {
        let (_, l) = self.listeners.iter().find(|(n, _)| *n == name).unwrap();
        l.local_addr().unwrap().port()
    }

    /// Puts the sockets at descriptors 3, 4, ... of the child, with `LISTEN_FDS` and
    /// `LISTEN_FDNAMES` saying what they are.
    fn hand_to(&self, command: &mut Command) {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        if self.listeners.is_empty() {
            return;
        }
        let names: Vec<&str> = self.listeners.iter().map(|(n, _)| *n).collect();
        command
            .env("LISTEN_FDS", names.len().to_string())
            .env("LISTEN_FDNAMES", names.join(":"))
            .env_remove("LISTEN_PID");
        let fds: Vec<i32> = self.listeners.iter().map(|(_, l)| l.as_raw_fd()).collect();
        assert!(fds.len() <= 8, "at most 8 sockets are staged");
        // SAFETY: between fork and exec only fcntl and dup2 are called, both async-signal-safe,
        // on descriptors this process owns; nothing allocates.
        unsafe {
            command.pre_exec(move || {
                // First out of the way of 3, 4, ... (a source may sit on a target), then into
                // place; dup2's copies lose close-on-exec, the staged ones keep it.
                let mut staged = [0i32; 8];
                for (i, &fd) in fds.iter().enumerate() {
                    staged[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
                    if staged[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (i, &fd) in staged[..fds.len()].iter().enumerate() {
                    if libc::dup2(fd, 3 + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
}

/// A loopback port on which nothing listens, held for the test's life so nothing else can
/// listen there: a bound socket that never listens refuses every connection.
pub async fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
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
