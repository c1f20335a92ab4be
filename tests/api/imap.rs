//! The IMAP poller against a real Dovecot started for the test (skipped where Dovecot is not
//! installed; `.ci/run` installs it).

use crate::helpers::*;
use replyrelay::clock::Clock;
use rstest::rstest;
use rstest_reuse::apply;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A private Dovecot: its own config, mail and port, killed when dropped.
struct Dovecot {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dovecot {
    fn start() -> Option<Dovecot> {
        let binary = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            crate::helpers::skip::skipped(
                "an IMAP test",
                "dovecot is not installed (apt-get install dovecot-imapd)",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Mail processes run as nobody (Dovecot refuses root), so the mail must be theirs.
        let d = dir.path().display();
        open_up(dir.path());
        for sub in [
            "mail",
            "home",
            "mail/replies",
            "mail/replies/tmp",
            "mail/replies/new",
            "mail/replies/cur",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            open_up(&dir.path().join(sub));
        }
        std::fs::write(dir.path().join("passwd"), "replies:{PLAIN}secret\n").unwrap();
        let config = format!(
            r#"
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = rrtest{port}
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"#
        );
        let conf = dir.path().join("dovecot.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .spawn()
            .unwrap();
        // Wait until it accepts connections (it starts in well under a second).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "dovecot did not start: {}",
                std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(Dovecot { child, port, dir })
    }

    fn maildir(&self, folder: &str) -> PathBuf {
        let base = self.dir.path().join("mail/replies");
        if folder == "INBOX" {
            base
        } else {
            base.join(format!(".{folder}"))
        }
    }

    /// Delivers a message into INBOX the way an MDA does: tmp/, then new/.
    fn deliver(&self, raw: &[u8]) {
        let inbox = self.maildir("INBOX");
        let name = format!("{}.test", uuid::Uuid::new_v4().simple());
        std::fs::write(inbox.join("tmp").join(&name), raw).unwrap();
        std::fs::rename(inbox.join("tmp").join(&name), inbox.join("new").join(&name)).unwrap();
    }

    fn count(&self, folder: &str) -> usize {
        ["new", "cur"]
            .iter()
            .map(|s| {
                std::fs::read_dir(self.maildir(folder).join(s))
                    .map(|d| d.count())
                    .unwrap_or(0)
            })
            .sum()
    }
}

/// World-writable, for the unprivileged mail processes of the test Dovecot.
fn open_up(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// Waits (for the poller, another task) until `check` holds, or panics after 20 s.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[apply(backends)]
#[tokio::test]
async fn replies_in_an_imap_mailbox_are_stored_and_moved(#[case] backend: Backend) {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let top = format!(
        "[inbound.imap]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nusername = \"replies\"\npassword = \"secret\"\npoll_interval = \"1s\"\n",
        dovecot.port
    );
    let Some(app) = spawn_custom(backend, &top, "", Clock::manual(t0()), false).await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(5.5).await;
    let email = app.sent().pop().unwrap();

    dovecot.deliver(&reply_to(
        &email,
        "ana@visitor.example",
        "Picked up over IMAP.",
    ));
    let forged = String::from_utf8(reply_to(&email, "ana@visitor.example", "forged"))
        .unwrap()
        .replace("reply+", "reply+x");
    dovecot.deliver(forged.as_bytes());

    until("the reply in the conversation", async || {
        app.conversation("c1").await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "Picked up over IMAP.")
    })
    .await;
    // Dovecot moves a maildir file as link-then-unlink: the copy can show before the original
    // is gone, so INBOX being empty is waited for too.
    until("both messages moved out of INBOX", async || {
        dovecot.count("Processed") == 1
            && dovecot.count("Rejected") == 1
            && dovecot.count("INBOX") == 0
    })
    .await;
    app.worker.run_until_idle().await.unwrap();
    let created = app.hooks.of_type("message.created");
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["data"]["message"]["text"],
        "Picked up over IMAP."
    );
}

/// The mailbox behind an internal CA, over implicit TLS: the poller trusts `[tls] ca_file`, as
/// the relay and the webhooks do (`trust.rs`).
#[tokio::test]
async fn the_imap_poller_trusts_the_ca_file() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path());
    let front = tls_front(([127, 0, 0, 1], dovecot.port).into(), &ca.cert, &ca.key).await;
    let top = format!(
        "[tls]\nca_file = \"{}\"\n[inbound.imap]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"tls\"\nusername = \"replies\"\npassword = \"secret\"\npoll_interval = \"1s\"\n",
        ca.ca_file.display(),
        front.port()
    );
    let Some(app) = spawn_custom(Backend::Sqlite, &top, "", Clock::manual(t0()), false).await
    else {
        return;
    };
    let email = emailed(&app, "c1").await;
    dovecot.deliver(&reply_to(&email, "ana@visitor.example", "Over IMAPS."));
    until("the reply in the conversation", async || {
        app.conversation("c1").await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "Over IMAPS.")
    })
    .await;
}

/// Another mailbox and other folders, polled without IDLE: `mailbox`, `processed_folder`,
/// `rejected_folder` and `idle = false` are obeyed.
#[tokio::test]
async fn the_mailbox_and_folders_are_the_configured_ones() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let replies = dovecot.maildir("Replies");
    for sub in ["", "tmp", "new", "cur"] {
        std::fs::create_dir_all(replies.join(sub)).unwrap();
        open_up(&replies.join(sub));
    }
    let top = format!(
        "[inbound.imap]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nusername = \"replies\"\npassword = \"secret\"\nmailbox = \"Replies\"\nprocessed_folder = \"Done\"\nrejected_folder = \"Refused\"\nidle = false\npoll_interval = \"1s\"\n",
        dovecot.port
    );
    let Some(app) = spawn_custom(Backend::Sqlite, &top, "", Clock::manual(t0()), false).await
    else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let good = reply_to(&email, "ana@visitor.example", "From the Replies folder.");
    let forged = String::from_utf8(good.clone())
        .unwrap()
        .replace("reply+", "reply+x");
    for raw in [good, forged.into_bytes()] {
        let name = format!("{}.test", uuid::Uuid::new_v4().simple());
        std::fs::write(replies.join("tmp").join(&name), raw).unwrap();
        std::fs::rename(
            replies.join("tmp").join(&name),
            replies.join("new").join(&name),
        )
        .unwrap();
    }
    until("both moved to the configured folders", async || {
        dovecot.count("Done") == 1 && dovecot.count("Refused") == 1 && dovecot.count("Replies") == 0
    })
    .await;
    assert_eq!(dovecot.count("INBOX"), 0, "INBOX was not the mailbox");
    let texts = app.conversation("c1").await["messages"].to_string();
    assert!(texts.contains("From the Replies folder."), "{texts}");
}
