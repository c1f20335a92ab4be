//! Replies as real clients write them, sent through the SMTP listener by a client nobody here
//! wrote (Python's smtplib): HTML from every common client arrives as clean text, our own
//! email quoted back is cut however it is quoted, plain text sent `format=flowed` arrives as
//! whole paragraphs, 8-bit Latin-1 with no charset keeps its accents, and a reply the rules
//! would empty is kept. Neither the pictures of the quote nor a signature (S/MIME, OpenPGP)
//! become attachments of the visitor's.

use crate::helpers::*;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::Value;

/// Sends each reply through the listener, from the visitor; every one must be taken.
async fn send_through_listener(app: &TestApp, email: &Received, mimes: &[String]) {
    let raws = (mimes.iter())
        .map(|m| reply_with(email, "ana@visitor.example", m))
        .collect();
    send_raw_through_listener(app, email, raws).await;
}

/// Sends replies as the bytes given, 8-bit ones too.
async fn send_raw_through_listener(app: &TestApp, email: &Received, raws: Vec<Vec<u8>>) {
    let to = email.header("Reply-To").unwrap();
    let messages: Vec<(Vec<String>, Vec<u8>)> = raws
        .into_iter()
        .map(|raw| (vec![to.clone()], raw))
        .collect();
    let addr = app.smtp;
    let answers = tokio::task::spawn_blocking(move || {
        smtplib_send_all(addr, "ana@visitor.example", &messages)
    })
    .await
    .unwrap();
    for answer in answers {
        assert_eq!(answer, "OK {}");
    }
}

/// The replies stored from email in conversation `conv`, oldest first.
async fn email_replies(app: &TestApp, conv: &str) -> Vec<Value> {
    let conv = app.conversation(conv).await;
    (conv["messages"].as_array().unwrap().iter())
        .filter(|m| m["source"] == "email")
        .cloned()
        .collect()
}

/// The names of a stored message's attachments.
fn attachment_names(message: &Value) -> Vec<&str> {
    (message["attachments"].as_array().into_iter().flatten())
        .filter_map(|a| a["name"].as_str())
        .collect()
}

fn html(body: &str) -> String {
    format!("Content-Type: text/html; charset=utf-8\r\n\r\n{body}\r\n")
}

/// Each client's own markup for a reply (`tests/data/html-replies/<client>.html`), with the
/// text it must arrive as (`<client>.txt`).
fn html_clients() -> Vec<(String, String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/html-replies");
    let mut clients: Vec<_> = (std::fs::read_dir(&dir).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .map(|p| {
            let want = std::fs::read_to_string(p.with_extension("txt")).unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let html = std::fs::read_to_string(&p).unwrap();
            (name, html, want.trim_end().to_string())
        })
        .collect();
    clients.sort();
    assert!(clients.len() >= 12, "{dir:?}");
    clients
}

#[apply(backends)]
#[tokio::test]
async fn html_replies_from_every_client_arrive_as_clean_text(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let clients = html_clients();
    let mimes: Vec<String> = clients.iter().map(|(_, body, _)| html(body)).collect();
    send_through_listener(&app, &email, &mimes).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored.len(), clients.len());
    for ((client, _, want), got) in clients.iter().zip(&stored) {
        assert_eq!(got["text"], want.as_str(), "{client}");
        assert_eq!(got["trimmed"], true, "{client}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_that_is_one_emoji_picture_is_kept(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // Gmail's web composer sends a typed emoji as a picture: the whole answer is that picture.
    let body = r#"<div dir="ltr"><img data-emoji="👍" class="an1" alt="👍" aria-label="👍" draggable="false" src="https://fonts.gstatic.com/s/e/notoemoji/15.1/1f44d/32.png" loading="lazy"></div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Mon, 2 Mar 2026 at 10:06, Acme &lt;support@acme.example&gt; wrote:<br></div><blockquote class="gmail_quote">Shall we ship today?</blockquote></div>"#;
    send_through_listener(&app, &email, &[html(body)]).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored.len(), 1, "not dropped as an empty reply");
    assert_eq!(stored[0]["text"], "👍");
}

#[apply(backends)]
#[tokio::test]
async fn our_email_quoted_in_a_way_no_rule_knows_is_cut(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // A client that quotes with bars under an attribution of its own, and drops our marker
    // line: nothing the generic rules know.
    let ours = email.text();
    let quoted: Vec<String> = (ours.lines())
        .filter(|l| !l.contains("Reply above this line"))
        .map(|l| format!("| {l}"))
        .collect();
    let body = format!(
        "Great, I'll take the Tuesday slot.\n\n==== support@acme.example schrieb am 02.03.2026 10:06 ====\n{}\n",
        quoted.join("\n")
    );
    // The generic rules alone would keep the whole copy.
    assert!(replyrelay::reply::trim(&body).contains("Do you ship to Spain?"));

    let mime = format!(
        "Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
        body.replace('\n', "\r\n")
    );
    send_through_listener(&app, &email, &[mime]).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored[0]["text"], "Great, I'll take the Tuesday slot.");
    assert_eq!(stored[0]["trimmed"], true);
    app.worker.run_until_idle().await.unwrap();
    let created = app.hooks.of_type("message.created");
    assert_eq!(
        created[0]["data"]["message"]["text"],
        "Great, I'll take the Tuesday slot."
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_flowed_plain_text_reply_arrives_as_whole_paragraphs(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // As Thunderbird sends plain text (RFC 3676): wrapped near 72 columns, a space at the end
    // of each line that flows on, the quote wrapped and flowed the same way.
    let quoted: Vec<String> = (email.text().lines()).map(|l| format!("> {l}")).collect();
    let body = format!(
        "Yes, the Tuesday slot works for me, and could you also send the invoice \n\
         again? The first one went to my old address.\n\n\
         Ana\n\n\
         On 02/03/2026 10:06, Acme Support wrote:\n{}\n",
        quoted.join("\n")
    );
    let mime = format!(
        "Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n{}",
        body.replace('\n', "\r\n")
    );
    send_through_listener(&app, &email, &[mime]).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(
        stored[0]["text"],
        "Yes, the Tuesday slot works for me, and could you also send the invoice again? \
         The first one went to my old address.\n\nAna"
    );
    assert_eq!(stored[0]["trimmed"], true);
}

#[apply(backends)]
#[tokio::test]
async fn a_latin_1_reply_with_no_charset_arrives_with_its_accents(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // As old clients send it: 8-bit ISO-8859-1 bytes, and no charset to say so.
    let mime = "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                Très bien, merci ! Le reçu est arrivé.\r\n";
    let utf8 = String::from_utf8(reply_with(&email, "ana@visitor.example", mime)).unwrap();
    // Every character here is in Latin-1, whose code points are its bytes.
    let latin_1 = (utf8.chars())
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    send_raw_through_listener(&app, &email, vec![latin_1]).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored[0]["text"], "Très bien, merci ! Le reçu est arrivé.");
}

#[apply(backends)]
#[tokio::test]
async fn a_utf8_reply_under_a_legacy_label_arrives_as_written(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // UTF-8 bytes under labels that are not UTF-8, as some webmails and bulk senders write:
    // read by the label, they are "cafÃ©", "浣犲ソ" and "GrÃ¼ÃŸe".
    let replies = [
        ("iso-8859-1", "Merci, le café est arrivé."),
        ("gb2312", "你好，收到了，谢谢！"),
        ("us-ascii", "Grüße aus München – bis bald."),
    ];
    let mimes: Vec<String> = (replies.iter())
        .map(|(charset, text)| {
            format!("Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n")
        })
        .collect();
    send_through_listener(&app, &email, &mimes).await;
    let stored = email_replies(&app, "c1").await;
    let texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, replies.map(|(_, text)| text));
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_the_rules_would_empty_is_kept_and_marked(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let untrimmed = "replyrelay_replies_untrimmed_total";
    let before = app.metric(untrimmed).await;
    let email = emailed(&app, "c1").await;
    // The visitor wrote under a quote under their device line: the rules stop at the line.
    let body = "Sent from my iPhone\r\n\r\n> Which one?\r\n\r\nThe blue one, and please ship it to my office.\r\n";
    let mime = format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{body}");
    send_through_listener(&app, &email, &[mime]).await;

    let stored = email_replies(&app, "c1").await;
    assert_eq!(
        stored[0]["text"],
        "Sent from my iPhone\n\n> Which one?\n\nThe blue one, and please ship it to my office."
    );
    assert_eq!(stored[0]["trimmed"], false);
    app.worker.run_until_idle().await.unwrap();
    let created = app.hooks.of_type("message.created");
    assert_eq!(created[0]["data"]["message"]["trimmed"], false);
    // At least this one: the counters are the process's, shared with tests running beside.
    assert!(app.metric(untrimmed).await >= before + 1.0);
}

#[apply(backends)]
#[tokio::test]
async fn a_forward_sent_without_a_word_arrives_whole(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // Apple Mail's forward, the visitor's answer to "what did the shop write?": cutting the
    // forward left an empty reply, which was dropped.
    let body = "\r\nBegin forwarded message:\r\n\r\n> From: Shop <orders@shop.example>\r\n> Subject: Order 42\r\n>\r\n> Your order shipped.\r\n";
    let mime = format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{body}");
    send_through_listener(&app, &email, &[mime]).await;

    let stored = email_replies(&app, "c1").await;
    assert_eq!(
        stored[0]["text"],
        "Begin forwarded message:\n\n> From: Shop <orders@shop.example>\n> Subject: Order 42\n>\n> Your order shipped."
    );
    assert_eq!(stored[0]["trimmed"], false);
}

#[apply(backends)]
#[tokio::test]
async fn an_attachment_too_large_to_keep_is_named_in_the_message(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "\n[inbound]\nmax_attachment_size = 2000\n").await else {
        return;
    };
    let too_large = "replyrelay_attachments_too_large_total";
    let before = app.metric(too_large).await;
    let email = emailed(&app, "c1").await;
    let small = "a".repeat(100);
    let big = "b".repeat(3000);
    let mime = format!(
        "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBoth photos attached.\r\n--m\r\nContent-Type: text/plain; name=\"note.txt\"\r\nContent-Disposition: attachment; filename=\"note.txt\"\r\n\r\n{small}\r\n--m\r\nContent-Type: image/jpeg; name=\"photo.jpg\"\r\nContent-Disposition: attachment; filename=\"photo.jpg\"\r\n\r\n{big}\r\n--m--\r\n"
    );
    send_through_listener(&app, &email, &[mime]).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(
        stored[0]["text"],
        "Both photos attached.\n\n[Attachment \"photo.jpg\" (3 KB) not kept: larger than the 2 KB limit]"
    );
    let kept = attachment_names(&stored[0]);
    assert_eq!(kept, ["note.txt"]);
    // At least this one: the counters are the process's, shared with tests running beside.
    assert!(app.metric(too_large).await >= before + 1.0);
}

#[apply(backends)]
#[tokio::test]
async fn the_pictures_of_the_quoted_email_are_not_the_visitors_attachments(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // Outlook for Windows answering an email with a logo: the visitor's signature picture
    // above its header block, the logo it downloaded embedded again below it, both as parts
    // of the reply.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let picture = |name: &str| {
        format!("--r\r\nContent-Type: image/png; name=\"{name}\"\r\nContent-Disposition: inline; filename=\"{name}\"\r\nContent-ID: <{name}@01DC6F1A.2B3C4D50>\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n")
    };
    let html = r#"<html><body><div class="WordSection1"><p class="MsoNormal">Thanks, the blue one.</p><p class="MsoNormal"><img width="96" height="32" id="Picture_x0020_1" src="cid:image001.png@01DC6F1A.2B3C4D50" alt="Ana's Bakery"></p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>From:</b> Acme &lt;support@acme.example&gt;<br><b>Sent:</b> Monday, March 2, 2026 10:06 AM</p></div><p class="MsoNormal"><img border="0" width="120" height="40" id="Picture_x0020_2" src="cid:image002.png@01DC6F1A.2B3C4D50" alt="Acme"></p><p class="MsoNormal">Which colour?</p></div></body></html>"#;
    let mime = format!(
        "Content-Type: multipart/related; boundary=\"r\"; type=\"multipart/alternative\"\r\n\r\n--r\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks, the blue one.\r\n\r\n[Ana's Bakery]\r\n\r\nFrom: Acme <support@acme.example>\r\nSent: Monday, March 2, 2026 10:06 AM\r\n\r\n[Acme]\r\nWhich colour?\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--a--\r\n{}{}--r--\r\n",
        picture("image001.png"),
        picture("image002.png"),
    );
    send_through_listener(&app, &email, &[mime]).await;
    let stored = email_replies(&app, "c1").await;
    let kept = attachment_names(&stored[0]);
    assert_eq!(kept, ["image001.png"]);
}

#[apply(backends)]
#[tokio::test]
async fn a_signed_reply_arrives_as_its_words_without_the_signature(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let words = "Yes, Tuesday works.";
    let quote = "On Mon, 2 Mar 2026 at 10:06, Acme <support@acme.example> wrote:\r\n> Which day?";
    // Outlook with an S/MIME certificate, Thunderbird with OpenPGP (RFC 3156), and a
    // cleartext signature in the text itself (Mailvelope, `gpg --clearsign`).
    let signed = |protocol: &str, part: &str| {
        format!("Content-Type: multipart/signed; protocol=\"application/{protocol}\"; micalg=sha-256; boundary=\"s\"\r\n\r\n--s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{words}\r\n\r\n{quote}\r\n--s\r\n{part}\r\n--s--\r\n")
    };
    let smime = signed(
        "pkcs7-signature",
        "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCC",
    );
    let pgp_mime = signed(
        "pgp-signature",
        "Content-Type: application/pgp-signature; name=\"OpenPGP_signature.asc\"\r\nContent-Disposition: attachment; filename=\"OpenPGP_signature.asc\"\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\nwsF5BAABCAAjFiEE\r\n=abcd\r\n-----END PGP SIGNATURE-----",
    );
    let inline = format!("Content-Type: text/plain; charset=utf-8\r\n\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n{words}\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEBCAAdFiEE\r\n=x1Yz\r\n-----END PGP SIGNATURE-----\r\n\r\n{quote}\r\n");
    // Thunderbird protecting the headers: the signed part repeats them, and shows them to
    // clients that do not know the scheme in a part of their own ("legacy display").
    let protected = signed(
        "pgp-signature",
        "Content-Type: application/pgp-signature; name=\"OpenPGP_signature.asc\"\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\nwsB5\r\n=x\r\n-----END PGP SIGNATURE-----",
    )
    .replacen(
        "--s\r\nContent-Type: text/plain; charset=utf-8\r\n",
        "--s\r\nContent-Type: multipart/mixed; boundary=\"m\"; protected-headers=\"v1\"\r\nSubject: Re: Your conversation\r\n\r\n--m\r\nContent-Type: text/rfc822-headers; protected-headers=\"v1\"\r\nContent-Disposition: inline\r\n\r\nSubject: Re: Your conversation\r\n\r\n--m\r\nContent-Type: text/plain; charset=utf-8\r\n",
        1,
    )
    .replacen("\r\n--s\r\nContent-Type: application/pgp-signature", "\r\n--m--\r\n--s\r\nContent-Type: application/pgp-signature", 1);
    send_through_listener(&app, &email, &[smime, pgp_mime, inline, protected]).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored.len(), 4);
    for (i, message) in stored.iter().enumerate() {
        assert_eq!(message["text"], words, "reply {i}");
        assert!(attachment_names(message).is_empty(), "reply {i}: {message}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn an_opaquely_signed_reply_arrives_as_its_words_and_files(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // The whole reply inside an S/MIME signature (`tests/data/smime`): Outlook with "send clear
    // text signed message" off, old Outlooks without `smime-type`, OpenSSL's streamed BER.
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/smime");
    let signed = |file: &str, content_type: &str| {
        let b64 = std::fs::read_to_string(data.join(file)).unwrap();
        format!("Content-Type: {content_type}; name=\"smime.p7m\"\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}", b64.replace('\n', "\r\n"))
    };
    let replies = [
        signed(
            "streamed.p7m",
            "application/pkcs7-mime; smime-type=signed-data",
        ),
        signed("definite.p7m", "application/x-pkcs7-mime"),
    ];
    send_through_listener(&app, &email, &replies).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored.len(), 2);
    for message in &stored {
        assert_eq!(message["text"], "Yes, Tuesday works. — Ana", "{message}");
    }
    assert!(attachment_names(&stored[0]).is_empty(), "{}", stored[0]);
    assert_eq!(attachment_names(&stored[1]), ["order.txt"]);
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_from_outlook_in_rich_text_arrives_as_its_words_and_files(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // Outlook's TNEF (`tests/data/tnef`): the files, and where Outlook sent nothing else the
    // words, are inside a winmail.dat.
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tnef");
    let winmail = |file: &str| {
        let b64 = data_encoding::BASE64_MIME.encode(&std::fs::read(data.join(file)).unwrap());
        format!("Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}")
    };
    let with_text = |file: &str| {
        format!("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is the screenshot.\r\n--b\r\n{}\r\n--b--\r\n", winmail(file))
    };
    let replies = [
        with_text("outlook-files.tnef"),
        winmail("outlook-rich-text.tnef"),
        with_text("outlook-embedded-item.tnef"),
    ];
    send_through_listener(&app, &email, &replies).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[0]["text"], "Here is the screenshot.",
        "{}",
        stored[0]
    );
    assert_eq!(
        attachment_names(&stored[0]),
        [
            "Screenshot 2026-03-02 101500.png",
            "Order 4711 – invoice.pdf"
        ]
    );
    assert_eq!(stored[0]["attachments"][0]["type"], "image/png");
    // Outlook's quoted history, in the rich text, is cut as in any HTML reply.
    assert_eq!(
        stored[1]["text"], "Yes, Tuesday works — I'll bring the order to the café.\n\nAna",
        "{}",
        stored[1]
    );
    assert!(attachment_names(&stored[1]).is_empty(), "{}", stored[1]);
    // An attached Outlook item is no file: the winmail.dat stays, so nothing is lost.
    assert_eq!(attachment_names(&stored[2]), ["winmail.dat"]);
}

#[apply(backends)]
#[tokio::test]
async fn an_email_forwarded_as_an_attachment_is_kept_the_email_answered_is_the_quote(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let with = |text: &str, attached: &[u8]| {
        format!("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n{}\r\n--b--\r\n", String::from_utf8_lossy(attached))
    };
    // Gmail's and Outlook's "forward as attachment": another sender's email, the visitor's.
    let courier = b"From: Courier <notices@courier.example>\r\nTo: ana@visitor.example\r\nSubject: Your parcel is delayed\r\nMessage-ID: <parcel-1@courier.example>\r\nContent-Type: text/plain\r\n\r\nYour parcel 4711 is held at the depot.\r\n";
    // Outlook's "attach original message": our own email, the one answered, is the quote.
    let replies = [
        with("Here is the courier's email.", courier),
        with("Yes please.", &email.data),
    ];
    send_through_listener(&app, &email, &replies).await;
    let stored = email_replies(&app, "c1").await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["text"], "Here is the courier's email.");
    assert_eq!(attachment_names(&stored[0]), ["Your parcel is delayed.eml"]);
    assert_eq!(stored[0]["attachments"][0]["type"], "message/rfc822");
    assert_eq!(stored[1]["text"], "Yes please.");
    assert!(attachment_names(&stored[1]).is_empty(), "{}", stored[1]);
}

#[apply(backends)]
#[tokio::test]
async fn words_written_between_or_below_the_lines_of_our_email_are_kept(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // Our email as clients quote it, with `answer` typed under the agent's answer.
    let answered = |copy: &str, mark: &str, answer: &str| -> String {
        let mut out = Vec::new();
        for line in copy.lines() {
            out.push(format!("{mark}{line}"));
            if line.contains("Yes, in 3 days") {
                out.push(answer.to_string());
            }
        }
        out.join("\r\n")
    };
    let gmail = "On Mon, 2 Mar 2026 at 10:06, Acme <support@acme.example> wrote:\r\n";
    let outlook = "From: Acme <support@acme.example>\r\nSent: Monday, March 2, 2026 10:06 AM\r\nTo: Ana <ana@visitor.example>\r\nCc: Bob <bob@visitor.example>\r\nSubject: Your conversation with Acme\r\n\r\n";
    let text = |body: String| format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
    let bodies = [
        // Between the quoted lines, nothing above: our marker is the quote's first line.
        format!(
            "{gmail}{}",
            answered(&email.text(), "> ", "\r\nAnd to Portugal?\r\n")
        ),
        // Under the whole quoted email.
        format!(
            "{gmail}{}\r\n\r\nThanks, I'll order today.",
            answered(&email.text(), "> ", "")
        ),
        // Outlook's inline comment in its unmarked copy of our HTML, under a line above.
        format!(
            "See my question below.\r\n\r\n{outlook}{}",
            answered(
                &replyrelay::reply::html_to_text(&email.html()),
                "",
                "[Ana] And to Portugal?"
            )
        ),
    ];
    send_through_listener(&app, &email, &bodies.map(text)).await;
    let stored: Vec<Value> = email_replies(&app, "c1").await;
    let texts: Vec<&str> = stored.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(
        texts,
        [
            "And to Portugal?",
            "Thanks, I'll order today.",
            "See my question below.\n\n[Ana] And to Portugal?"
        ]
    );
}
