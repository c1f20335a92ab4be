//! Loading and checking the config file.

use super::*;
use crate::domain::Mode;
use chrono::TimeDelta;

fn errors(text: &str) -> Vec<String> {
    match parse(text, "rr.toml", Path::new(".")) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

const SITE: &str = "[[site]]\nid = \"acme\"\napi_tokens = [\"0123456789abcdef\"]\n";

#[test]
fn builtin_defaults_work() {
    let c = builtin();
    assert_eq!(c.sites.len(), 1);
    assert_eq!(c.sites[0].api_tokens, vec![DEV_TOKEN.to_string()]);
    assert!(matches!(c.delivery.transport, Transport::Maildir(_)));
    assert_eq!(c.sites[0].triggers.after_departure, TimeDelta::minutes(5));
    assert_eq!(
        c.sites[0].triggers.batch_quiet,
        TimeDelta::seconds(5),
        "the demo's"
    );
}

#[test]
fn top_level_defaults_and_site_overrides() {
    let text = format!("after_departure = \"2m\"\nmode = \"transcript\"\n{SITE}mode = \"off\"\n");
    let c = parse(&text, "rr.toml", Path::new(".")).unwrap();
    assert_eq!(c.sites[0].triggers.after_departure, TimeDelta::minutes(2));
    assert_eq!(c.sites[0].triggers.mode, Mode::Off);
}

#[test]
fn every_unknown_key_is_reported_with_its_line() {
    let text = format!("aftr_idle = \"5m\"\n[api]\nlisen = \"x\"\n{SITE}sendr = \"a@b.co\"\n");
    assert_eq!(
        errors(&text),
        vec![
            "rr.toml:1: aftr_idle: unknown key",
            "rr.toml:3: api.lisen: unknown key",
            "rr.toml:7: site[0].sendr: unknown key",
        ]
    );
}

#[test]
fn bad_values_name_line_and_key() {
    let e = errors(&format!("{SITE}after_idle = \"soon\"\n"));
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("rr.toml:4: site[0].after_idle:"), "{e:?}");
    let e = errors(&format!("{SITE}sender = \"nobody\"\nlocale = \"??\"\n"));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("rr.toml:4: site[0].sender:"), "{e:?}");
    assert!(e[1].starts_with("rr.toml:5: site[0].locale:"), "{e:?}");
}

#[test]
fn a_helo_name_must_be_a_host_name() {
    let smtp = "[delivery.smtp]\nhost = \"127.0.0.1\"\n";
    let e = errors(&format!("{smtp}helo_name = \"a b\\r\\nMAIL\"\n{SITE}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("rr.toml:3: delivery.smtp.helo_name:"),
        "{e:?}"
    );
    assert!(errors(&format!("{smtp}helo_name = \"mx1.example.com\"\n{SITE}")).is_empty());
}

#[test]
fn secrets_from_env() {
    std::env::set_var("RR_TEST_TOKEN", "from-the-environment-1");
    let text = "[[site]]\nid = \"a\"\napi_tokens = [{ env = \"RR_TEST_TOKEN\" }]\n";
    let c = parse(text, "rr.toml", Path::new(".")).unwrap();
    assert_eq!(
        c.sites[0].api_tokens,
        vec!["from-the-environment-1".to_string()]
    );
    assert!(c.site_by_token("from-the-environment-1").is_some());
    assert!(c.site_by_token("from-the-environment-2").is_none());
}

#[test]
fn a_bad_value_in_any_section_names_its_own_line_and_key() {
    let text = format!(
        "[api]\nmax_connections = \"many\"\n[database]\nurl = 5\n[secrets]\ntoken_keys = 5\n[delivery]\nlease = 5\n\
         [delivery.smtp]\nhost = \"127.0.0.1\"\nport = \"x\"\n\
         [inbound]\nmax_parts = \"x\"\n[inbound.smtp]\nmax_connections = \"x\"\n\
         [inbound.imap]\nhost = \"h\"\nusername = \"u\"\nport = -1\n{SITE}"
    );
    let e = errors(&text);
    let at: Vec<&str> = e.iter().map(|e| e.split(": ").next().unwrap()).collect();
    assert_eq!(
        at,
        vec![
            "rr.toml:2",
            "rr.toml:4",
            "rr.toml:6",
            "rr.toml:8",
            "rr.toml:11",
            "rr.toml:13",
            "rr.toml:15",
            "rr.toml:19"
        ],
        "{e:#?}"
    );
    let keys: Vec<&str> = e.iter().map(|e| e.split(": ").nth(1).unwrap()).collect();
    assert_eq!(
        keys,
        vec![
            "api.max_connections",
            "database.url",
            "secrets.token_keys",
            "delivery.lease",
            "delivery.smtp.port",
            "inbound.max_parts",
            "inbound.smtp.max_connections",
            "inbound.imap.port"
        ]
    );
}

/// README's configuration reference, the first TOML block after its heading.
fn readme_reference() -> toml::Table {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```toml\n# Site defaults")
        .expect("the reference block")
        + 8;
    let end = start + readme[start..].find("```").expect("its end");
    toml::from_str(&readme[start..end]).expect("README's reference is valid TOML")
}

#[test]
fn readme_states_the_built_in_defaults() {
    use defaults as D;
    let t = readme_reference();
    let at = |path: &str| -> toml::Value {
        let mut v = toml::Value::Table(t.clone());
        for k in path.split('.') {
            v = v
                .get(k)
                .unwrap_or_else(|| panic!("README lacks {path}"))
                .clone();
        }
        v
    };
    let dur = |path: &str| humantime::parse_duration(at(path).as_str().unwrap()).unwrap();
    let int = |path: &str| at(path).as_integer().unwrap() as u64;
    let text = |path: &str| at(path).as_str().unwrap().to_string();
    let boolean = |path: &str| at(path).as_bool().unwrap();
    let policy = serde_json::to_value(D::SENDER_POLICY).unwrap();
    let mode = serde_json::to_value(D::MODE).unwrap();
    assert_eq!(text("mode"), mode.as_str().unwrap());
    assert_eq!(dur("after_departure"), D::AFTER_DEPARTURE);
    assert_eq!(dur("after_idle"), D::AFTER_IDLE);
    assert_eq!(dur("batch_quiet"), D::BATCH_QUIET);
    assert_eq!(dur("reach_window"), D::REACH_WINDOW);
    assert_eq!(int("max_unanswered"), D::MAX_UNANSWERED as u64);
    assert_eq!(int("context_messages"), D::CONTEXT_MESSAGES as u64);
    assert_eq!(int("short_conversation"), D::SHORT_CONVERSATION as u64);
    assert_eq!(boolean("transcript_on_close"), D::TRANSCRIPT_ON_CLOSE);
    assert_eq!(text("sender"), D::SENDER);
    assert_eq!(text("reply_domain"), D::REPLY_DOMAIN);
    assert_eq!(boolean("from_agent"), D::FROM_AGENT);
    assert_eq!(text("locale"), D::LOCALE);
    assert_eq!(text("sender_policy"), policy.as_str().unwrap());
    assert_eq!(text("api.listen"), D::API_LISTEN);
    assert_eq!(int("api.max_connections"), D::API_MAX_CONNECTIONS as u64);
    assert_eq!(dur("api.idle_timeout"), D::API_IDLE_TIMEOUT);
    assert_eq!(dur("api.request_timeout"), D::API_REQUEST_TIMEOUT);
    assert_eq!(text("database.url"), D::DATABASE_URL);
    assert_eq!(text("delivery.maildir"), D::MAILDIR);
    assert_eq!(dur("delivery.retry_initial"), D::RETRY_INITIAL);
    assert_eq!(dur("delivery.retry_max"), D::RETRY_MAX);
    assert_eq!(dur("delivery.give_up_after"), D::GIVE_UP_AFTER);
    assert_eq!(
        int("delivery.soft_bounce_limit"),
        u64::from(D::SOFT_BOUNCE_LIMIT)
    );
    assert_eq!(dur("delivery.soft_bounce_span"), D::SOFT_BOUNCE_SPAN);
    assert_eq!(dur("delivery.lease"), D::LEASE);
    assert_eq!(
        int("delivery.smtp.port"),
        D::smtp_port(D::SMTP_SECURITY) as u64
    );
    assert_eq!(int("delivery.smtp.pool_size"), D::SMTP_POOL_SIZE as u64);
    assert_eq!(dur("delivery.smtp.timeout"), D::SMTP_TIMEOUT);
    assert_eq!(int("inbound.max_message_size"), D::MAX_MESSAGE_SIZE as u64);
    assert_eq!(int("inbound.max_parts"), D::MAX_PARTS as u64);
    assert_eq!(
        int("inbound.max_attachment_size"),
        D::MAX_ATTACHMENT_SIZE as u64
    );
    assert_eq!(text("inbound.smtp.listen"), D::LISTENER_LISTEN);
    assert_eq!(
        int("inbound.smtp.max_connections"),
        D::LISTENER_MAX_CONNECTIONS as u64
    );
    assert_eq!(dur("inbound.smtp.idle_timeout"), D::LISTENER_IDLE_TIMEOUT);
    assert_eq!(
        dur("inbound.smtp.session_timeout"),
        D::LISTENER_SESSION_TIMEOUT
    );
    assert_eq!(
        int("inbound.imap.port"),
        D::imap_port(D::IMAP_SECURITY) as u64
    );
    assert_eq!(text("inbound.imap.mailbox"), D::IMAP_MAILBOX);
    assert_eq!(
        text("inbound.imap.processed_folder"),
        D::IMAP_PROCESSED_FOLDER
    );
    assert_eq!(
        text("inbound.imap.rejected_folder"),
        D::IMAP_REJECTED_FOLDER
    );
    assert_eq!(dur("inbound.imap.poll_interval"), D::IMAP_POLL_INTERVAL);
    assert_eq!(boolean("inbound.imap.idle"), D::IMAP_IDLE);
}

#[test]
fn a_value_of_the_wrong_type_hides_no_other_problem() {
    let text = format!(
        "after_idle = 5\nsendr = \"x@y.example\"\n[api]\nmax_connections = \"many\"\n\
         {SITE}sender = \"nobody\"\n"
    );
    let e = errors(&text);
    let keys: Vec<&str> = e.iter().map(|e| e.split(": ").nth(1).unwrap()).collect();
    assert_eq!(
        keys,
        // The wrong types first, then the unknown key, then what the values mean.
        vec![
            "after_idle",
            "api.max_connections",
            "sendr",
            "site[0].sender"
        ],
        "{e:#?}"
    );
}

#[test]
fn a_ca_file_is_read_at_load_and_a_bad_one_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
    // Relative to the config file's folder: the certificate written there is the one read.
    let text = format!("[tls]\nca_file = \"ca.pem\"\n{SITE}");
    let c = parse(&text, "rr.toml", dir.path()).unwrap();
    assert_eq!(c.extra_roots, vec![ca.cert.der().clone()]);
    let e = errors(&format!("[tls]\nca_file = \"/nonexistent/ca.pem\"\n{SITE}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("rr.toml:2: tls.ca_file: cannot read"),
        "{e:?}"
    );
}

#[test]
fn config_errors_name_the_key_and_never_show_a_secret() {
    // Secrets of the wrong shape or type: each refused, named by key, its value never shown.
    let text = "[secrets]\ntoken_keys = [\"short-SECRET-1\"]\n\
        [delivery.smtp]\nhost = \"127.0.0.1\"\npassword = [\"SECRET-2\"]\n\
        [[site]]\nid = \"acme\"\napi_tokens = [\"SECRET-3\"]\n\
        webhook_url = \"https://platform.example/hooks\"\nwebhook_secret = \"SECRET-4\"\n";
    let e = errors(text);
    assert!(e.len() >= 3, "{e:#?}");
    for key in ["token_keys", "password", "api_tokens"] {
        assert!(e.iter().any(|l| l.contains(key)), "{key} named: {e:#?}");
    }
    assert!(e.iter().all(|l| !l.contains("SECRET")), "{e:#?}");
}

#[test]
fn secrets_from_a_file_and_a_systemd_credential() {
    let dir = tempfile::tempdir().unwrap();
    // A file relative to the config's folder, its final newline dropped.
    std::fs::write(
        dir.path().join("key.txt"),
        "key-from-a-file-0123456789-0123456789\n",
    )
    .unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("smtp"), "password-from-systemd\n").unwrap();
    // Only this test reads CREDENTIALS_DIRECTORY in this binary.
    std::env::set_var("CREDENTIALS_DIRECTORY", &credentials);
    let text = format!(
        "[secrets]\ntoken_keys = [{{ file = \"key.txt\" }}]\n\
         [delivery.smtp]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword = {{ credential = \"smtp\" }}\n{SITE}"
    );
    let c = parse(&text, "rr.toml", dir.path()).unwrap();
    assert_eq!(
        c.token_keys,
        vec![b"key-from-a-file-0123456789-0123456789".to_vec()]
    );
    let Transport::Smtp(smtp) = &c.delivery.transport else {
        panic!("an SMTP transport");
    };
    assert_eq!(smtp.password.as_deref(), Some("password-from-systemd"));
    // A missing one is an error naming the key and the file, not the daemon's silence.
    let missing = format!("[secrets]\ntoken_keys = [{{ file = \"nope.txt\" }}]\n{SITE}");
    let e = match parse(&missing, "rr.toml", dir.path()) {
        Ok(_) => panic!("a missing secret file is an error"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
    };
    assert!(
        e.iter()
            .any(|l| l.contains("token_keys") && l.contains("nope.txt")),
        "{e:?}"
    );
}

#[test]
fn a_relative_sqlite_path_is_taken_from_the_config_files_folder() {
    let base = Path::new("/etc/replyrelay");
    let table = [
        ("sqlite://r.db", "sqlite:///etc/replyrelay/r.db"),
        (
            "sqlite:state/r.db?mode=rwc",
            "sqlite:///etc/replyrelay/state/r.db?mode=rwc",
        ),
        ("sqlite:///var/lib/r.db", "sqlite:///var/lib/r.db"),
        ("sqlite::memory:", "sqlite::memory:"),
        ("postgres://u@h/db", "postgres://u@h/db"),
    ];
    for (url, want) in table {
        assert_eq!(super::resolve::anchored_sqlite(url, base), want, "{url}");
    }
    // Without a file, the working directory.
    assert_eq!(
        super::resolve::anchored_sqlite("sqlite://replyrelay.db", Path::new("")),
        "sqlite://replyrelay.db"
    );
}

#[test]
fn retention_is_a_duration_or_off() {
    let c = parse(
        &format!("[retention]\nemail_bodies = \"off\"\nconversations = \"2y\"\n{SITE}"),
        "rr.toml",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(c.retention.email_bodies, None);
    assert!(c.retention.conversations.is_some());
    assert_eq!(builtin().retention.email_bodies, D_BODIES);
    let e = errors(&format!(
        "[retention]\nemail_bodies = \"soon\"\nconversations = \"0s\"\n{SITE}"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("rr.toml:2: retention.email_bodies:"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("rr.toml:3: retention.conversations:"),
        "{e:?}"
    );
}

const D_BODIES: Option<std::time::Duration> = super::defaults::RETENTION_EMAIL_BODIES;

#[test]
fn allowed_origins_are_origins_as_browsers_send_them() {
    use super::site::origin_problem;
    for ok in [
        "https://shop.example",
        "http://127.0.0.1:8080",
        "http://localhost:3000",
        "https://[::1]:8443",
        "http://[::1]",
    ] {
        assert_eq!(origin_problem(ok), None, "{ok}");
    }
    for bad in [
        "shop.example",
        "ftp://shop.example",
        "https://shop.example/",
        "https://shop.example/chat",
        "https://Shop.example",
        "https://shop.example:443",
        "http://shop.example:80",
        "https://shop.example:99999",
        "https://",
    ] {
        assert!(origin_problem(bad).is_some(), "{bad}");
    }
    let e = errors(&SITE.replace(
        "[[site]]",
        "[[site]]\nallowed_origins = [\"https://shop.example/\"]",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("allowed_origins") && e[0].contains("no path"),
        "{e:?}"
    );
}

#[test]
fn a_brand_is_checked_for_contrast_and_a_logo_for_its_address() {
    let good =
        format!("{SITE}brand_color = \"#c2410c\"\nlogo_url = \"https://acme.example/logo.png\"\n");
    let config = parse(&good, "rr.toml", Path::new(".")).unwrap();
    let site = &config.sites[0];
    assert_eq!(site.brand.light.to_string(), "#c2410c");
    assert_ne!(
        site.brand.dark, site.brand.light,
        "a lighter shade for dark mode"
    );
    assert_eq!(
        site.logo_url.as_deref(),
        Some("https://acme.example/logo.png")
    );
    // Unset: the default colour, no logo.
    let plain = parse(SITE, "rr.toml", Path::new(".")).unwrap();
    assert_eq!(plain.sites[0].brand, crate::brand::Brand::default());
    assert_eq!(plain.sites[0].logo_url, None);

    let e = errors(&format!(
        "{SITE}brand_color = \"#ffcc00\"\nlogo_url = \"javascript:alert(1)\"\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("rr.toml:4: site[0].brand_color:"), "{e:?}");
    assert!(
        e[0].contains("4.5:1") && e[0].contains("nearest shade"),
        "{e:?}"
    );
    assert!(e[1].starts_with("rr.toml:5: site[0].logo_url:"), "{e:?}");
    let e = errors(&format!("{SITE}brand_color = \"orange\"\n"));
    assert!(e[0].contains("#rrggbb"), "{e:?}");
}
