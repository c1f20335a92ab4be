//! The `replyrelay` command itself: config checking, and `serve` with no config file at all.

#[path = "api/helpers/mod.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn replyrelay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_replyrelay"))
}

#[test]
fn check_config_refuses_a_template_that_fails_as_it_renders() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    // Compiles; fails only when rendered, in the branch every email takes.
    std::fs::write(
        templates.join("email.txt"),
        "{% if v.messages %}{{ v.intro | no_such_filter }}{% endif %}",
    )
    .unwrap();
    let path = dir.path().join("replyrelay.toml");
    std::fs::write(
        &path,
        "templates = \"templates\"\n[[site]]\nid = \"acme\"\napi_tokens = [\"acme-token-0123456789\"]\n",
    )
    .unwrap();
    let out = replyrelay()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("site `acme`: its templates fail to render"),
        "{stderr}"
    );
    assert!(stderr.contains("no_such_filter"), "{stderr}");
    // Fixed, it passes.
    std::fs::write(templates.join("email.txt"), "{{ v.intro }}").unwrap();
    let out = replyrelay()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut api = None;
    let mut line = String::new();
    let mut coloured = false;
    while api.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        coloured |= line.contains('\u{1b}');
        if let Some(rest) = line.trim().strip_prefix("API       ") {
            api = Some(rest.to_string());
        }
        line.clear();
    }
    let api = api.expect("serve prints its API address");
    assert!(!coloured, "no colour codes in a log that is not a terminal");
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

/// `replyrelay ingest` as an MTA pipe transport runs it, and `replyrelay inspect`.
#[test]
fn ingest_exit_codes_and_inspect() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("replyrelay.toml");
    // The platform's webhook endpoint: counts message.created posts.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let created = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let hook_url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let seen = created.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |body: String| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(body);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    std::fs::write(
        &config_path,
        format!(
            r#"
[api]
listen = "127.0.0.1:0"
[metrics]
listen = "127.0.0.1:0"
[database]
url = "sqlite://{}"
[delivery]
maildir = "outbox"
[secrets]
token_keys = ["cli-test-key-0123456789-0123456789-01234"]
[inbound]
max_message_size = 4000
[[site]]
id = "acme"
name = "Acme"
api_tokens = ["acme-token-0123456789"]
sender = "support@acme.example"
reply_domain = "reply.acme.example"
webhook_url = "{hook_url}"
webhook_secret = "cli-webhook-secret-0123"
"#,
            dir.path().join("rr.db").display()
        ),
    )
    .unwrap();
    let config = replyrelay::config::load_file(&config_path).unwrap();

    // A conversation emailed by the daemon (in-process), whose email we then answer.
    let (email, base, worker) = rt.block_on(async {
        let app = replyrelay::app::Application::build(config, replyrelay::clock::Clock::System)
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let worker = app.worker();
        tokio::spawn(app.run(false, std::future::pending()));
        let ago = |m: i64| (chrono::Utc::now() - chrono::TimeDelta::minutes(m)).to_rfc3339();
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/events"))
            .bearer_auth("acme-token-0123456789")
            .json(&serde_json::json!({"events": [
                {"type": "visitor", "conversation": "c1", "visitor": {"id": "v", "email": "ana@visitor.example"}},
                {"type": "presence", "conversation": "c1", "state": "left", "at": ago(10)},
                {"type": "message", "conversation": "c1", "at": ago(2), "message": {"id": "a", "author": "agent", "text": "Hello Ana"}}
            ]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        worker.run_until_idle().await.unwrap();
        let file = std::fs::read_dir(dir.path().join("outbox/new")).unwrap().next().unwrap().unwrap();
        (std::fs::read_to_string(file.path()).unwrap(), base, worker)
    });
    let header = |name: &str| {
        email
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
            .unwrap()
    };
    let (reply_to, message_id) = (header("Reply-To"), header("Message-ID"));
    let reply = format!(
        "From: Ana <ana@visitor.example>\r\nTo: {reply_to}\r\nSubject: Re: hi\r\nMessage-ID: <r1@visitor.example>\r\nIn-Reply-To: {message_id}\r\n\r\nThanks Sam!\r\n\r\n> Hello Ana\r\n"
    );
    let ingest = |input: &str, recipient: &str| {
        let mut child = replyrelay()
            .arg("--config")
            .arg(&config_path)
            .args([
                "ingest",
                "--sender",
                "ana@visitor.example",
                "--recipient",
                recipient,
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8(out.stderr).unwrap();
        // The MTA shows what ingest writes as the delivery's status: one plain line.
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(!said.contains('\x1b'), "{said}");
        (out.status.code(), said)
    };
    let (code, said) = ingest(&reply, &reply_to);
    assert_eq!(code, Some(0), "stored");
    assert!(said.starts_with("ingest: stored as message "), "{said}");
    let (code, said) = ingest(&reply, &reply_to);
    assert_eq!(code, Some(0), "a duplicate is fine too");
    assert!(said.contains("already stored"), "{said}");
    let forged = reply
        .replace("reply+", "reply+zz")
        .replace(&message_id, "<nothing@else>");
    let (code, said) = ingest(&forged, "reply+zzabc@reply.acme.example");
    assert_eq!(code, Some(67), "unknown recipient");
    assert!(said.starts_with("ingest: refused: 550"), "{said}");
    let huge = format!("{reply}{}", "x".repeat(5000));
    assert_eq!(ingest(&huge, &reply_to).0, Some(65), "bad data");

    let conv: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/v1/conversations/c1"))
            .bearer_auth("acme-token-0123456789")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let texts: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["Hello Ana", "Thanks Sam!"]);
    // The daemon's worker posts the webhook the ingest process queued.
    rt.block_on(worker.run_until_idle()).unwrap();
    let bodies = created.lock().unwrap().clone();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\"message.created\"") && b.contains("Thanks Sam!")),
        "{bodies:?}"
    );

    // A database that cannot be reached: try again later.
    let down = dir.path().join("down.toml");
    std::fs::write(
        &down,
        std::fs::read_to_string(&config_path).unwrap().replace(
            &format!("sqlite://{}", dir.path().join("rr.db").display()),
            "postgres://nobody@127.0.0.1:1/none",
        ),
    )
    .unwrap();
    let mut child = replyrelay()
        .arg("--config")
        .arg(&down)
        .args(["ingest", "--recipient", &reply_to])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(reply.as_bytes())
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(75), "try later");

    // inspect: with the config, it routes; without any config, it still classifies and trims.
    let file = dir.path().join("reply.eml");
    std::fs::write(&file, &reply).unwrap();
    let out = replyrelay()
        .arg("--config")
        .arg(&config_path)
        .args(["inspect", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "reply");
    assert_eq!(v["text"], "Thanks Sam!");
    assert_eq!(v["routing"]["site"], "acme");
    assert_eq!(v["routing"]["conversation"], "c1");
    assert_eq!(v["verification"]["token"], "valid");
    assert_eq!(v["verification"]["sender"], "match");

    let empty = tempfile::tempdir().unwrap();
    let out = replyrelay()
        .current_dir(empty.path())
        .args(["inspect", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "unroutable");
    assert_eq!(v["text"], "Thanks Sam!");
    assert_eq!(v["routing"]["error"], "no database: no site matched");
    assert!(
        !empty.path().join("replyrelay.db").exists(),
        "inspect creates no database"
    );
}

/// `preview` writes the sample email in the language asked for; `send-test` sends it through
/// the configured relay and prints the relay's answer.
#[test]
fn preview_and_send_test() {
    let dir = tempfile::tempdir().unwrap();
    let out = replyrelay()
        .current_dir(dir.path())
        .args(["preview", "--locale", "es-MX", "--out", "pv"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.path().join("pv/email.html")).unwrap();
    assert!(
        html.contains("lang=\"es\"") && html.contains("Responde a este correo"),
        "{html}"
    );
    let eml = std::fs::read(dir.path().join("pv/email.eml")).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&eml).unwrap();
    assert_eq!(parsed.subject(), Some("Tu conversación con Example Site"));
    assert!(std::fs::read_to_string(dir.path().join("pv/email.txt"))
        .unwrap()
        .starts_with("## Responde encima de esta l"));
    // Where Chromium is installed, the phone-width and dark-mode screenshots beside them.
    if std::path::Path::new("/usr/bin/chromium").exists() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        for shot in ["pv/email-phone.png", "pv/email-dark.png"] {
            let png = std::fs::read(dir.path().join(shot)).unwrap_or_default();
            assert!(png.starts_with(b"\x89PNG"), "{shot}: {stdout}");
        }
    } else {
        helpers::skip::skipped(
            "preview's screenshots",
            "chromium is not installed (apt-get install chromium)",
        );
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = rt.block_on(helpers::SmtpSink::start());
    let config = dir.path().join("replyrelay.toml");
    std::fs::write(
        &config,
        format!(
            "[delivery.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n[[site]]\nid = \"acme\"\nname = \"Acme\"\napi_tokens = [\"acme-token-0123456789\"]\nsender = \"support@acme.example\"\n",
            sink.port
        ),
    )
    .unwrap();
    let out = replyrelay()
        .arg("--config")
        .arg(&config)
        .args(["send-test", "--to", "ops@acme.example", "--locale", "de"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("250"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rt.block_on(sink.wait_for(1, 10));
    assert_eq!(got[0].rcpt_to, vec!["ops@acme.example"]);
    assert!(got[0]
        .text()
        .contains("Antworten Sie oberhalb dieser Zeile"));
}

#[test]
fn suppressions_are_listed_and_lifted_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}?mode=rwc", dir.path().join("r.db").display());
    let path = dir.path().join("replyrelay.toml");
    std::fs::write(
        &path,
        format!("[database]\nurl = \"{db}\"\n[[site]]\nid = \"acme\"\napi_tokens = [\"acme-token-0123456789\"]\n"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = replyrelay()
            .args(args)
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        (
            out.status.code(),
            stdout,
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    assert_eq!(run(&["migrate"]).0, Some(0));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(helpers::execute(
        &db,
        "INSERT INTO suppressions (site_id, email, reason, at) VALUES
           ('acme', 'ana@visitor.example', 'hard_bounce', 1772445600000),
           ('acme', 'bo@visitor.example', 'unsubscribed', 1772445660000)",
    ));

    let (code, out, _) = run(&["suppressions", "list", "--reason", "hard_bounce"]);
    assert_eq!(code, Some(0));
    // Inserted as an older release did: no cause kept.
    assert_eq!(
        out,
        "ana@visitor.example\thard_bounce\t2026-03-02T10:00:00+00:00\t-\n"
    );
    let (code, out, _) = run(&["suppressions", "list", "bo@", "--json"]);
    assert_eq!(code, Some(0));
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["reason"], "unsubscribed");
    let (code, _, err) = run(&["suppressions", "list", "--reason", "spam"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not one of"), "{err}");

    let (code, out, _) = run(&["suppressions", "lift", "ANA@visitor.example"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("lifted ana@visitor.example"), "{out}");
    let (_, out, _) = run(&["suppressions", "list"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let (code, _, err) = run(&["suppressions", "lift", "ana@visitor.example"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not suppressed"), "{err}");
}

#[test]
fn relative_paths_follow_the_config_file_not_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(conf.join("templates")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(conf.join("templates/email.txt"), "{{ site_name }}\n").unwrap();
    std::fs::write(
        conf.join("token-key"),
        "key-0123456789-0123456789-0123456789\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("replyrelay.toml"),
        "[database]\nurl = \"sqlite://state/replyrelay.db?mode=rwc\"\n\
         [delivery]\ntransport = \"maildir\"\nmaildir = \"mail\"\n\
         [secrets]\ntoken_keys = [{ file = \"token-key\" }]\n\
         [[site]]\nid = \"acme\"\nname = \"Acme\"\napi_tokens = [\"acme-token-0123456789\"]\n\
         sender = \"support@acme.example\"\ntemplates = \"templates\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(conf.join("state")).unwrap();
    // Run from another folder, naming the config by a relative path as an operator might.
    let run = |args: &[&str]| {
        let out = replyrelay()
            .current_dir(&elsewhere)
            .args(["--config", "../etc/replyrelay.toml"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["check-config"]);
    run(&["migrate"]);
    run(&["send-test", "--to", "ops@acme.example"]);
    assert!(conf.join("state/replyrelay.db").exists());
    let sent = std::fs::read_dir(conf.join("mail/new")).unwrap().count();
    assert_eq!(sent, 1);
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing is written where the command ran"
    );
}

/// A command whose output goes to a reader that has stopped (`| head -1`, a pager closed
/// early) ends there, as Unix tools do, instead of panicking on the write.
#[test]
fn output_to_a_reader_that_has_stopped_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/inbound/plain.eml");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = replyrelay()
        .current_dir(dir.path())
        .args(["inspect", "--json", seed])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}
