//! SIGKILL at random moments: `replyrelay serve` is killed again and again while thousands of
//! emails go out and visitors' replies come in, and restarted each time (as systemd would).
//! Afterwards every email has reached the SMTP sink and every reply the conversation; an email
//! that arrived twice did so only across a kill, with the same Message-ID; no reply is posted
//! twice. On SQLite, and on PostgreSQL when `REPLYRELAY_TEST_POSTGRES_URL` is set.
//!
//! The moments are drawn from a seed printed at the start; `REPLYRELAY_CRASH_SEED` replays one.

#[path = "support/daemon.rs"]
#[allow(dead_code)]
mod daemon;
#[path = "api/helpers/mod.rs"]
#[allow(dead_code)]
mod helpers;

use chrono::Utc;
use daemon::{due_conversation, Daemon, Setup, Sockets};
use helpers::{database_url, Backend, Received, SmtpSink};
use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use rand::{Rng, SeedableRng};
use rstest::rstest;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "crash-token-0123456789";
/// Conversations made due; every second visitor answers the email.
const CONVERSATIONS: usize = 2000;

/// The daemon under test and how to bring it back.
struct Victim {
    daemon: Mutex<Option<Daemon>>,
    dir: PathBuf,
    db: String,
    sink_port: u16,
    /// The API's and the SMTP listener's sockets, bound once: every restart serves on them,
    /// and a connection made while no daemon runs waits in their queue.
    sockets: Sockets,
    /// Restarts so far; each daemon says `gen{N}.test` in EHLO, so the sink knows which
    /// process delivered what.
    generation: AtomicUsize,
}

impl Victim {
    fn start(&self) -> Daemon {
        let generation = self.generation.load(Ordering::SeqCst);
        let config = Setup {
            db: &self.db,
            smtp_port: self.sink_port,
            token: TOKEN,
            delivery: "retry_initial = \"1s\"",
            smtp: &format!("helo_name = \"gen{generation}.test\""),
            extra: "[inbound.smtp]\nlisten = \"127.0.0.1:0\"\nhostname = \"mx.test\"",
        }
        .write(&self.dir);
        Daemon::start_on(&config, &self.sockets)
    }

    /// SIGKILL, then start again.
    fn kill_and_restart(&self) {
        let mut daemon = self.daemon.lock().unwrap();
        if let Some(d) = daemon.as_mut() {
            d.kill();
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        *daemon = Some(self.start());
    }

    fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.sockets.port("api"))
    }
}

/// Posts the events in batches, each until the daemon (whichever is running) takes it: a
/// batch cut off by a kill is simply sent again, which events are built to allow.
async fn post_events(api: String, due: chrono::DateTime<Utc>, taken: Arc<AtomicUsize>) {
    let client = reqwest::Client::new();
    let events: Vec<Value> = (0..CONVERSATIONS)
        .flat_map(|i| due_conversation(i, due))
        .collect();
    for batch in events.chunks(400) {
        loop {
            let sent = client
                .post(format!("{api}/v1/events"))
                .bearer_auth(TOKEN)
                .json(&json!({ "events": batch }))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 200 => {
                    taken.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Ok(r) if r.status().is_server_error() => {}
                Ok(r) => panic!("{}: {}", r.status(), r.text().await.unwrap()),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The visitor's answer to `email`, sent until the listener says `250`, over a fresh
/// connection after any failure: what a sending MTA does.
async fn reply_until_accepted(port: u16, email: &Received, i: usize) {
    let from = format!("visitor{i}@example.com");
    let raw = helpers::reply_to(email, &from, &format!("Reply {i}, thanks."));
    let to = email.header("Reply-To").unwrap();
    let to = match to.split_once('<') {
        Some((_, rest)) => rest.trim_end_matches('>').to_string(),
        None => to,
    };
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    loop {
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            tcp.set_nodelay(true)?;
            let hello = ClientId::Domain("mail.visitor.example".into());
            let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
                .await
                .map_err(std::io::Error::other)?;
            conn.send(&envelope, &raw)
                .await
                .map_err(std::io::Error::other)?;
            let _ = conn.quit().await;
            Ok::<_, std::io::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) if e.to_string().contains("permanent") => panic!("reply {i} refused: {e}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The conversation through the API of whichever daemon is running.
async fn conversation(client: &reqwest::Client, api: &str, i: usize) -> Option<Value> {
    let r = client
        .get(format!("{api}/v1/conversations/c{i}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

/// The kills a run meets at least (SECURITY.md's figure): the work is not done before.
const MIN_KILLS: usize = 8;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_email_and_no_reply(#[case] backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database_url(backend, dir.path()).await else {
        return;
    };
    let seed: u64 = std::env::var("REPLYRELAY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("crash seed {seed} (REPLYRELAY_CRASH_SEED={seed} replays these moments)");

    let sink = SmtpSink::start().await;
    let victim = Victim {
        daemon: Mutex::new(None),
        dir: dir.path().to_path_buf(),
        db,
        sink_port: sink.port,
        sockets: Sockets::bind(&["api", "smtp"]).await,
        generation: AtomicUsize::new(0),
    };
    *victim.daemon.lock().unwrap() = Some(victim.start());
    let victim = Arc::new(victim);

    // The killer: at random moments, SIGKILL and restart, until the work is done.
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    // Each daemon is killed at a random moment once it has done some work (an email delivered,
    // a batch of events or a reply taken): under any load, the kills fall among the work, and
    // never only on daemons still starting up.
    let taken = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (victim, done, kills) = (victim.clone(), done.clone(), kills.clone());
        let (delivered, taken) = (sink.received_count(), taken.clone());
        let work = move || delivered() + taken.load(Ordering::SeqCst);
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            while !done.load(Ordering::SeqCst) {
                let before = work();
                // Once everything is delivered and answered there is no more work to wait for:
                // an idle daemon is killed too (its successor's recovery is work of its own),
                // or a run whose work outpaced its kills would wait for ever.
                let idle = std::time::Instant::now() + Duration::from_secs(2);
                while work() == before
                    && !done.load(Ordering::SeqCst)
                    && std::time::Instant::now() < idle
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(Duration::from_millis(rng.gen_range(150..1200)));
                if done.load(Ordering::SeqCst) {
                    break;
                }
                victim.kill_and_restart();
                kills.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    // Events in, emails out, and every second visitor answers the email they got.
    let events = tokio::spawn(post_events(victim.api(), Utc::now(), taken.clone()));
    let mut answered = HashSet::new();
    let mut replies = tokio::task::JoinSet::new();
    let mut delivered = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    // However fast the work goes, it goes on until enough kills have met it: replies keep
    // coming in (and retried sends, webhooks, the next restart's recovery) meanwhile.
    while delivered.len() < CONVERSATIONS || kills.load(Ordering::SeqCst) < MIN_KILLS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {CONVERSATIONS} visitors emailed, {} of {MIN_KILLS} kills made (seed {seed})",
            delivered.len(),
            kills.load(Ordering::SeqCst)
        );
        for email in sink.received() {
            let i: usize = email.rcpt_to[0]
                .trim_start_matches("visitor")
                .split('@')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            delivered.insert(i);
            if i.is_multiple_of(2) && answered.insert(i) {
                let port = victim.sockets.port("smtp");
                let taken = taken.clone();
                replies.spawn(async move {
                    reply_until_accepted(port, &email, i).await;
                    taken.fetch_add(1, Ordering::SeqCst);
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    events.await.unwrap();
    while let Some(r) = replies.join_next().await {
        r.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    let kills = kills.load(Ordering::SeqCst);
    eprintln!("{kills} kills");
    assert!(
        kills >= MIN_KILLS,
        "too few kills to prove anything: {kills}"
    );

    // Let the last daemon settle what the killed ones left: every email marked sent, every
    // reply in its thread.
    let client = reqwest::Client::new();
    let api = victim.api();
    let mut unsettled: Vec<usize> = (0..CONVERSATIONS).collect();
    let mut threads: HashMap<usize, Value> = HashMap::new();
    while !unsettled.is_empty() {
        if tokio::time::Instant::now() > deadline {
            let example = conversation(&client, &api, unsettled[0]).await;
            panic!(
                "{} conversations never settled (seed {seed}), e.g. {example:?}",
                unsettled.len()
            );
        }
        let mut still = Vec::new();
        for i in unsettled {
            let settled = conversation(&client, &api, i).await.filter(|c| {
                c["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["forwarded"]["status"] == "sent")
            });
            match settled {
                Some(c) => {
                    threads.insert(i, c);
                }
                None => still.push(i),
            }
        }
        unsettled = still;
        if !unsettled.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Emails: each visitor got theirs; a second copy only from another process (across a
    // kill), with the same Message-ID.
    let mut copies: HashMap<String, Vec<Received>> = HashMap::new();
    for email in sink.received() {
        copies
            .entry(email.rcpt_to[0].clone())
            .or_default()
            .push(email);
    }
    assert_eq!(copies.len(), CONVERSATIONS, "every visitor got an email");
    let mut twice = 0;
    for (rcpt, emails) in &copies {
        if emails.len() == 1 {
            continue;
        }
        twice += 1;
        let ids: HashSet<String> = emails
            .iter()
            .map(|e| e.header("Message-ID").unwrap())
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "{rcpt}: a resend keeps its Message-ID: {ids:?}"
        );
        let gens: HashSet<&str> = emails.iter().map(|e| e.helo.as_str()).collect();
        assert_eq!(
            gens.len(),
            emails.len(),
            "{rcpt} delivered twice by one process, not across a kill: {gens:?}"
        );
    }
    // At most the pool's connections' worth of emails in flight per kill.
    assert!(
        twice <= kills * 4,
        "{twice} delivered twice over {kills} kills"
    );
    eprintln!("{twice} emails delivered twice, each across a kill");

    // Replies: each in its thread exactly once, as the visitor's.
    for i in (0..CONVERSATIONS).step_by(2) {
        let thread = &threads[&i];
        let posted: Vec<&Value> = thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["source"] == "email")
            .collect();
        assert_eq!(posted.len(), 1, "c{i}: {posted:?}");
        assert_eq!(posted[0]["author"], "visitor");
        assert!(
            posted[0]["text"]
                .as_str()
                .unwrap()
                .starts_with(&format!("Reply {i}, thanks.")),
            "c{i}: {posted:?}"
        );
    }
}
