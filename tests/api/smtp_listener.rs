//! The SMTP/LMTP listener, spoken to by real clients over loopback.

use crate::helpers::*;
use replyrelay::clock::Clock;
use rstest::rstest;
use rstest_reuse::apply;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[apply(backends)]
#[tokio::test]
async fn smtplib_delivers_a_reply_that_is_stored_before_the_250(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let rcpt = email.header("Reply-To").unwrap();
    let raw = reply_to(&email, "ana@visitor.example", "Sent through the listener.");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reply.eml");
    std::fs::write(&file, &raw).unwrap();
    // smtplib sends the message and, once the 250 is in, says so and waits with the session
    // still open (no QUIT): what is stored is read at that moment, so a commit made at QUIT,
    // or after the answer, would be caught.
    let script = format!(
        "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', {port})\nrefused = s.sendmail('ana@visitor.example', ['{rcpt}'], open('{file}', 'rb').read())\nprint('250', refused, flush=True)\nsys.stdin.readline()\ns.quit()\n",
        port = app.smtp.port(),
        file = file.display(),
    );
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut client = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut answered = String::new();
    tokio::io::BufReader::new(client.stdout.take().unwrap())
        .read_line(&mut answered)
        .await
        .unwrap();
    assert_eq!(answered.trim(), "250 {}", "the reply was taken");
    let conv = app.conversation("c1").await;
    let texts: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(
        texts.contains(&"Sent through the listener."),
        "stored by the time of the 250: {texts:?}"
    );
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"quit\n").await.unwrap();
    drop(stdin);
    assert!(client.wait().await.unwrap().success());
    app.worker.run_until_idle().await.unwrap();
    let created = app.hooks.of_type("message.created");
    assert_eq!(
        created[0]["data"]["message"]["text"],
        "Sent through the listener."
    );
    assert!(app.hooks.received().iter().all(signature_is_valid));
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_in_utf8_headers_and_addresses_is_taken_as_smtputf8(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let rcpt = email.header("Reply-To").unwrap();
    let id = email.header("Message-ID").unwrap();
    // RFC 6532: the name and subject written in UTF-8, not encoded; an envelope sender with an
    // address in UTF-8 (a visitor's provider forwarding from an internationalised address).
    let raw = format!("From: Ána Souza <ana@visitor.example>\r\nTo: {rcpt}\r\nSubject: Re: Sí, el martes\r\nMessage-ID: <utf8-1@visitor.example>\r\nIn-Reply-To: {id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSí, el martes está bien.\r\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reply.eml");
    std::fs::write(&file, raw).unwrap();
    // smtplib, as an MTA does, will not send SMTPUTF8 mail to a server that does not offer it.
    let script = format!(
        "import smtplib\nwith smtplib.SMTP('127.0.0.1', {port}) as s:\n    s.ehlo('client.test')\n    print(s.has_extn('smtputf8'))\n    print(s.sendmail('ána@visitor.example', ['{rcpt}'], open('{file}', 'rb').read(), mail_options=['SMTPUTF8']))\n",
        port = app.smtp.port(),
        file = file.display(),
    );
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["True", "{}"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conv = app.conversation("c1").await;
    let reply = (conv["messages"].as_array().unwrap().iter())
        .find(|m| m["source"] == "email")
        .unwrap();
    assert_eq!(reply["text"], "Sí, el martes está bien.");
}

#[apply(backends)]
#[tokio::test]
async fn a_bad_token_is_refused_at_rcpt_to(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let raw = reply_to(&email, "ana@visitor.example", "x");
    let addr = app.smtp;
    let before = app
        .metric("replyrelay_replies_rejected_total{reason=\"token\"}")
        .await;
    let out = tokio::task::spawn_blocking(move || {
        smtplib_send(
            addr,
            "ana@visitor.example",
            &["reply+aaaaaaaaaaaacaaaaaaaaaaaaaaaaaaaaaaaaaa@reply.acme.example"],
            &raw,
        )
    })
    .await
    .unwrap();
    assert!(out.starts_with("REFUSED") && out.contains("550"), "{out}");
    // Counted, though no message came. (The counters are the process's: under `cargo test`
    // other tests running beside this one may count too.)
    let after = (app.metric("replyrelay_replies_rejected_total{reason=\"token\"}")).await;
    assert!(after >= before + 1.0, "{before} -> {after}");
}

#[apply(backends)]
#[tokio::test]
async fn an_oversize_message_is_drained_then_refused(#[case] backend: Backend) {
    let Some(app) = spawn_custom(
        backend,
        "[inbound]\nmax_message_size = 20000",
        "",
        Clock::manual(t0()),
        false,
    )
    .await
    else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let rcpt = email.header("Reply-To").unwrap();
    let big = "x".repeat(100) + "\r\n";
    let raw = reply_to(&email, "ana@visitor.example", &big.repeat(500));
    let addr = app.smtp;
    let out = tokio::task::spawn_blocking(move || {
        smtplib_send(addr, "ana@visitor.example", &[&rcpt], &raw)
    })
    .await
    .unwrap();
    assert!(out.starts_with("ERROR 552"), "{out}");
    let conv = app.conversation("c1").await;
    assert_eq!(
        conv["messages"].as_array().unwrap().len(),
        2,
        "nothing stored"
    );
}

/// Reads one SMTP reply (all its lines).
async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] == b' ' {
            return all;
        }
    }
}

#[apply(backends)]
#[tokio::test]
async fn pipelined_commands_are_answered_in_order(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let rcpt = email.header("Reply-To").unwrap();
    let raw = String::from_utf8(reply_to(&email, "ana@visitor.example", "Pipelined!")).unwrap();
    let stream = tokio::net::TcpStream::connect(app.smtp).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    assert!(read_reply(&mut read).await.starts_with("220 mx.test"));
    write.write_all(b"EHLO client.test\r\n").await.unwrap();
    let ehlo = read_reply(&mut read).await;
    assert!(
        ehlo.contains("250-PIPELINING") && ehlo.contains("SIZE"),
        "{ehlo}"
    );
    // Everything up to DATA in one write, as a pipelining client does.
    write
        .write_all(
            format!(
                "MAIL FROM:<ana@visitor.example>\r\nRCPT TO:<reply+nope@reply.acme.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    assert!(read_reply(&mut read).await.starts_with("250"));
    assert!(read_reply(&mut read).await.starts_with("550 5.1.1"));
    assert!(read_reply(&mut read).await.starts_with("250"));
    assert!(read_reply(&mut read).await.starts_with("354"));
    write
        .write_all(format!("{}\r\n.\r\nQUIT\r\n", raw.trim_end()).as_bytes())
        .await
        .unwrap();
    assert!(read_reply(&mut read).await.starts_with("250"));
    assert!(read_reply(&mut read).await.starts_with("221"));
}

/// Two conversations of the same visitor, each emailed: the first email, and the reply
/// addresses of both.
async fn two_conversations_emailed(app: &TestApp) -> (Received, String, String) {
    let first = emailed(app, "c1").await;
    app.events(vec![
        visitor("c2", Some("ana@visitor.example"), 5.5),
        message("c2", "q", "visitor", "Another question", 5.5),
        presence("c2", "left", 5.5),
        message("c2", "a", "agent", "Another answer", 5.5),
    ])
    .await;
    app.at_minute(11.0).await;
    let second = app
        .sent()
        .into_iter()
        .find(|e| e.text().contains("Another answer"))
        .unwrap();
    let (r1, r2) = (
        first.header("Reply-To").unwrap(),
        second.header("Reply-To").unwrap(),
    );
    (first, r1, r2)
}

#[apply(backends)]
#[tokio::test]
async fn lmtp_answers_once_per_recipient(#[case] backend: Backend) {
    let Some(app) = spawn_custom(backend, "# lmtp", "", Clock::manual(t0()), false).await else {
        return;
    };
    let (first, r1, r2) = two_conversations_emailed(&app).await;
    let raw = String::from_utf8(reply_to(&first, "ana@visitor.example", "To both of you")).unwrap();

    let stream = tokio::net::TcpStream::connect(app.smtp).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    read_reply(&mut read).await;
    write.write_all(b"EHLO client.test\r\n").await.unwrap();
    assert!(
        read_reply(&mut read).await.starts_with("500"),
        "LMTP wants LHLO"
    );
    write.write_all(b"LHLO client.test\r\n").await.unwrap();
    read_reply(&mut read).await;
    write
        .write_all(
            format!(
                "MAIL FROM:<ana@visitor.example>\r\nRCPT TO:<{r1}>\r\nRCPT TO:<{r2}>\r\nDATA\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(read_reply(&mut read).await.starts_with("250"));
    }
    assert!(read_reply(&mut read).await.starts_with("354"));
    write
        .write_all(format!("{}\r\n.\r\n", raw.trim_end()).as_bytes())
        .await
        .unwrap();
    assert!(
        read_reply(&mut read).await.starts_with("250"),
        "first recipient"
    );
    assert!(
        read_reply(&mut read).await.starts_with("250"),
        "second recipient"
    );
    for conv in ["c1", "c2"] {
        let texts: Vec<String> = app.conversation(conv).await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["text"].as_str().map(String::from))
            .collect();
        assert!(
            texts.contains(&"To both of you".to_string()),
            "{conv}: {texts:?}"
        );
    }
}

#[tokio::test]
async fn starttls_is_offered_and_works() {
    let cert = rcgen::generate_simple_self_signed(vec!["mx.test".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.signing_key.serialize_pem()).unwrap();
    // "# tls CERT KEY" asks the test config for STARTTLS with this certificate.
    let top = format!("# tls {} {}", crt.display(), key.display());
    let Some(app) = spawn_custom(Backend::Sqlite, &top, "", Clock::manual(t0()), false).await
    else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let rcpt = email.header("Reply-To").unwrap();
    let raw = reply_to(&email, "ana@visitor.example", "Over TLS.");
    let msg = dir.path().join("msg.eml");
    std::fs::write(&msg, raw).unwrap();
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("{ip}", {port}, timeout=30) as s:
    s.ehlo("client.test")
    assert s.has_extn("starttls"), "STARTTLS not offered"
    s.starttls(context=ctx)
    s.ehlo("client.test")
    assert not s.has_extn("starttls"), "STARTTLS offered twice"
    s.sendmail("ana@visitor.example", ["{rcpt}"], open({msg:?}, "rb").read())
    print("OK", s.sock.version())
"#,
        ip = app.smtp.ip(),
        port = app.smtp.port(),
        msg = msg.display().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("OK TLSv1."),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conv = app.conversation("c1").await;
    assert!(conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"] == "Over TLS."));
}

#[tokio::test]
async fn connections_are_limited_idlers_dropped_and_shutdown_says_421() {
    let top = "# max_connections 2\n# idle_timeout 1s";
    let Some(mut app) = spawn_custom(Backend::Sqlite, top, "", Clock::manual(t0()), false).await
    else {
        return;
    };
    let connect = || async {
        let stream = tokio::net::TcpStream::connect(app.smtp).await.unwrap();
        let (r, w) = stream.into_split();
        (BufReader::new(r), w)
    };
    let (mut r1, _w1) = connect().await;
    let (mut r2, _w2) = connect().await;
    assert!(read_reply(&mut r1).await.starts_with("220"));
    assert!(read_reply(&mut r2).await.starts_with("220"));
    let (mut r3, _w3) = connect().await;
    assert!(
        read_reply(&mut r3).await.starts_with("421"),
        "a third connection is turned away"
    );

    // Both say nothing: after the idle time they are told so and closed, which frees room.
    for r in [&mut r1, &mut r2] {
        let idle = tokio::time::timeout(std::time::Duration::from_secs(10), read_reply(r))
            .await
            .unwrap();
        assert!(idle.starts_with("421 4.4.2"), "{idle}");
    }

    // A new one is mid-conversation when the daemon stops.
    let (mut r2, mut w2) = connect().await;
    assert!(
        read_reply(&mut r2).await.starts_with("220"),
        "room again once the idlers went"
    );
    w2.write_all(b"EHLO client.test\r\n").await.unwrap();
    read_reply(&mut r2).await;
    app.stop.take().unwrap().send(()).unwrap();
    let bye = tokio::time::timeout(std::time::Duration::from_secs(10), read_reply(&mut r2))
        .await
        .unwrap();
    assert!(bye.starts_with("421 4.3.2"), "{bye}");
}

/// Each email goes out from its own bounce address (VERP) when the site's is in the reply
/// domain; a report that comes back to it is tied to the email by the envelope alone, even one
/// that quotes nothing of the email, and a forged address is refused at `RCPT`.
#[apply(backends)]
#[tokio::test]
async fn bounces_to_the_emails_own_bounce_address_come_back_through_the_listener(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "bounce_address = \"bounces@reply.acme.example\"").await
    else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let verp = email.mail_from.clone();
    assert!(
        verp.starts_with("bounces+") && verp.ends_with("@reply.acme.example"),
        "the envelope sender: {verp}"
    );
    let forged = format!("bounces+{}@reply.acme.example", "a".repeat(39));
    // A prose bounce with neither the returned headers nor a recipient in it.
    let bounce = "From: MAILER-DAEMON@mx.visitor.example\r\nTo: bounces@reply.acme.example\r\nSubject: Undeliverable\r\n\r\nThis is the mail system at host mx.visitor.example.\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n";
    let stream = tokio::net::TcpStream::connect(app.smtp).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    read_reply(&mut read).await;
    write
        .write_all(format!("EHLO mx.visitor.example\r\nMAIL FROM:<>\r\nRCPT TO:<someone@reply.acme.example>\r\nRCPT TO:<{forged}>\r\nRCPT TO:<{verp}>\r\nDATA\r\n").as_bytes())
        .await
        .unwrap();
    read_reply(&mut read).await;
    assert!(
        read_reply(&mut read).await.starts_with("250"),
        "null sender"
    );
    assert!(
        read_reply(&mut read).await.starts_with("550"),
        "not an address of ours"
    );
    assert!(
        read_reply(&mut read).await.starts_with("550"),
        "a forged bounce address"
    );
    assert!(
        read_reply(&mut read).await.starts_with("250"),
        "the email's own bounce address"
    );
    assert!(read_reply(&mut read).await.starts_with("354"));
    write
        .write_all(format!("{bounce}\r\n.\r\n").as_bytes())
        .await
        .unwrap();
    assert!(read_reply(&mut read).await.starts_with("250"));
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "failed", "{marker}");
}

/// A report to the shared bounce address is believed when it names the email's Message-ID and
/// its recipient; one naming the Message-ID alone is not, and is counted.
#[apply(backends)]
#[tokio::test]
async fn reports_to_the_shared_bounce_address_must_name_the_recipient(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "bounce_address = \"bounces@acme.example\"").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    assert_eq!(email.mail_from, "bounces@acme.example", "used as it is");
    let id = email.header("Message-ID").unwrap();
    let dsn = |recipient: &str| {
        format!(
        "From: MAILER-DAEMON@mx.visitor.example\r\nTo: bounces@acme.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\n{recipient}Action: failed\r\nStatus: 5.1.1\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {id}\r\n--r--\r\n"
    ).into_bytes()
    };
    let forged_before = app
        .metric("replyrelay_replies_rejected_total{reason=\"forged_report\"}")
        .await;
    let messages = vec![
        (vec!["bounces@acme.example".to_string()], dsn("")),
        (
            vec!["bounces@acme.example".to_string()],
            dsn("Final-Recipient: rfc822; ana@visitor.example\r\n"),
        ),
    ];
    let addr = app.smtp;
    let answers = tokio::task::spawn_blocking(move || smtplib_send_all(addr, "", &messages))
        .await
        .unwrap();
    assert_eq!(answers, ["OK {}", "OK {}"]);
    // At least the one: the counters are the process's, shared with tests running beside.
    let forged_after =
        (app.metric("replyrelay_replies_rejected_total{reason=\"forged_report\"}")).await;
    assert!(
        forged_after >= forged_before + 1.0,
        "{forged_before} -> {forged_after}"
    );
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "failed", "{marker}");
}

/// SMTP smuggling: only CRLF.CRLF ends a message; a bare-LF "\n.\n" or "\r\n.\n" inside it must
/// not end it and let the rest be read as commands.
#[tokio::test]
async fn smuggled_end_of_data_sequences_do_not_end_the_message() {
    let Some(app) = spawn_app(Backend::Sqlite, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let rcpt = email.header("Reply-To").unwrap();
    let raw = String::from_utf8(reply_to(&email, "ana@visitor.example", "Real reply.")).unwrap();
    let smuggled = format!(
        "{}\n.\nMAIL FROM:<mallory@evil.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n\r\nInjected\r\n\r\n.\n\r\nmore\r\n",
        raw.trim_end()
    );
    let stream = tokio::net::TcpStream::connect(app.smtp).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    read_reply(&mut read).await;
    write
        .write_all(
            format!("EHLO x\r\nMAIL FROM:<ana@visitor.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        read_reply(&mut read).await;
    }
    assert!(read_reply(&mut read).await.starts_with("354"));
    write.write_all(smuggled.as_bytes()).await.unwrap();
    write.write_all(b"\r\n.\r\nQUIT\r\n").await.unwrap();
    // One message, one answer, then the QUIT: nothing after "\n.\n" was taken as a command.
    assert!(read_reply(&mut read).await.starts_with("250"));
    assert!(read_reply(&mut read).await.starts_with("221"));
    let texts: Vec<String> = app.conversation("c1").await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == "email")
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
}

/// An MTA puts the recipients of one domain in one transaction: a reply to two conversations
/// (`swaks --to reply+T1@…,reply+T2@…`) must reach both, not only the first.
#[apply(backends)]
#[tokio::test]
async fn a_reply_to_two_conversations_in_one_transaction_reaches_both(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let (first, r1, r2) = two_conversations_emailed(&app).await;
    let raw = reply_to(&first, "ana@visitor.example", "To both of you");
    let addr = app.smtp;
    let out = tokio::task::spawn_blocking(move || {
        smtplib_send(addr, "ana@visitor.example", &[&r1, &r2], &raw)
    })
    .await
    .unwrap();
    assert!(out.starts_with("OK {}"), "{out}");
    for conv in ["c1", "c2"] {
        let texts: Vec<String> = app.conversation(conv).await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["text"].as_str().map(String::from))
            .collect();
        assert!(
            texts.iter().any(|t| t == "To both of you"),
            "{conv}: {texts:?}"
        );
    }
}

/// Under `strict`, a reply from the visitor's address that the operator's MTA found failing
/// DMARC is refused: someone else wrote it. Another MTA's say-so, or a pass, changes nothing.
#[apply(backends)]
#[tokio::test]
async fn a_reply_failing_dmarc_at_the_operators_mta_is_refused_under_strict(
    #[case] backend: Backend,
) {
    let extra = "sender_policy = \"strict\"\ntrusted_authserv_ids = [\"mx.test\"]";
    let Some(app) = spawn_app(backend, extra).await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let to = email.header("Reply-To").unwrap();
    let reply = |results: &str, text: &str| {
        let mime = format!("Authentication-Results: {results}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n");
        (
            vec![to.clone()],
            reply_with(&email, "ana@visitor.example", &mime),
        )
    };
    let messages = vec![
        reply(
            "mx.test; spf=fail smtp.mailfrom=visitor.example; dmarc=fail (p=reject) header.from=visitor.example",
            "Send the refund to my new account, please.",
        ),
        reply(
            "mx.elsewhere.example; dmarc=fail header.from=visitor.example",
            "Another MTA's header.",
        ),
        reply(
            "mx.test; dkim=pass header.d=visitor.example; dmarc=pass header.from=visitor.example",
            "Thanks, that works.",
        ),
    ];
    let addr = app.smtp;
    let answers = tokio::task::spawn_blocking(move || {
        smtplib_send_all(addr, "ana@visitor.example", &messages)
    })
    .await
    .unwrap();
    assert!(answers[0].starts_with("ERROR 550"), "{}", answers[0]);
    assert!(answers[0].contains("DMARC"), "{}", answers[0]);
    assert_eq!(answers[1..], ["OK {}", "OK {}"]);
    let conv = app.conversation("c1").await;
    let texts: Vec<&str> = (conv["messages"].as_array().unwrap().iter())
        .filter(|m| m["source"] == "email")
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["Another MTA's header.", "Thanks, that works."]);
}
