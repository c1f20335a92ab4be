//! The `replyrelay` command itself: config checking, and `serve` with no config file at all.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn replyrelay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_replyrelay"))
}

#[test]
fn check_config_names_file_line_and_key_of_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replyrelay.toml");
    std::fs::write(
        &path,
        "after_idle = \"half an hour\"\n\
         [delivery]\ntransport = \"pigeon\"\n\
         [[site]]\nid = \"acme\"\napi_tokens = [\"short\"]\nsendr = \"x@acme.example\"\nmode = \"loud\"\n",
    )
    .unwrap();
    let out = replyrelay()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let file = path.display().to_string();
    // Type errors are all found in one run, each at its own line.
    assert!(
        stderr.contains(&format!("{file}:1: after_idle:")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:8: site[0].mode:")),
        "{stderr}"
    );

    std::fs::write(
        &path,
        "[delivery]\ntransport = \"pigeon\"\n[[site]]\nid = \"acme\"\napi_tokens = [\"short\"]\nsendr = \"x@acme.example\"\n",
    )
    .unwrap();
    let out = replyrelay()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{file}:6: site[0].sendr: unknown key"),
            format!("{file}:2: delivery.transport: `pigeon` is not a transport: use `maildir` or `smtp`"),
            format!("{file}:5: site[0].api_tokens[0]: an API token needs at least 16 characters"),
        ],
        "{stderr}"
    );

    std::fs::write(
        &path,
        "[[site]]\nid = \"acme\"\napi_tokens = [\"0123456789abcdef\"]\n",
    )
    .unwrap();
    let out = replyrelay()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("OK (1 site(s))"));
}

/// README's quickstart: no config file, post the printed events, find the email in ./outbox.
#[test]
fn serve_without_config_writes_emails_to_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = replyrelay()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut api = None;
    let mut line = String::new();
    while api.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim().strip_prefix("API       ") {
            api = Some(rest.to_string());
        }
        line.clear();
    }
    let api = api.expect("serve prints its API address");
    // Keep draining stderr so the daemon never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

    let ago = |m: i64| (chrono::Utc::now() - chrono::TimeDelta::minutes(m)).to_rfc3339();
    let body = serde_json::json!({"events": [
        {"type": "visitor", "conversation": "c1", "visitor": {"id": "v1", "email": "ana@example.com", "name": "Ana"}},
        {"type": "message", "conversation": "c1", "at": ago(12), "message": {"id": "m1", "author": "visitor", "text": "Do you ship to Spain?"}},
        {"type": "presence", "conversation": "c1", "state": "left", "at": ago(10)},
        {"type": "message", "conversation": "c1", "at": ago(2), "message": {"id": "m2", "author": "agent", "name": "Sam", "text": "Yes, in 3 days!"}}
    ]});
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{api}/v1/events"))
            .bearer_auth("dev-token")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);

    // Wait for the daemon (another process) to write the file, up to 20 s.
    let new = dir.path().join("outbox/new");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let email = loop {
        let files: Vec<_> = std::fs::read_dir(&new)
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        if let Some(f) = files.first() {
            break std::fs::read_to_string(f.path()).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no email in outbox/new"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(email.contains("To: Ana <ana@example.com>"), "{email}");
    assert!(email.contains("Yes, in 3 days!"), "{email}");
    assert!(dir.path().join("replyrelay.db").exists());
}
