//! Reports of each shape, read and classified.

use super::*;
use mail_parser::MessageParser;

fn read(raw: &str) -> Option<Bounce> {
    let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
    read_report(&message, &Envelope::default())
}

fn dsn(fields: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example\r\nTo: support@acme.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n{fields}\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <abc@reply.acme.example>\r\nSubject: Your conversation\r\n--b--\r\n"
    )
}

#[test]
fn a_dsn_is_read() {
    let b = read(&dsn(
        "Final-Recipient: rfc822; Ana@Visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown",
    ))
    .unwrap();
    assert_eq!(b.kind, ReportKind::Failed);
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<abc@reply.acme.example>")
    );
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(b.reason, Some(Reason::UserUnknown));
    assert!(b.permanent && b.hard);
}

#[test]
fn only_failed_is_a_failure_and_only_a_dead_address_is_hard() {
    let cases = [
        ("Action: delayed\r\nStatus: 4.4.7", ReportKind::Delayed, false),
        ("Action: delivered\r\nStatus: 2.1.5", ReportKind::Delivered, false),
        ("Action: relayed\r\nStatus: 2.0.0", ReportKind::Delivered, false),
        (
            "Action: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 mailbox full",
            ReportKind::Failed,
            false,
        ),
        (
            "Action: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 Client host 10.5.1.3 blocked",
            ReportKind::Failed,
            false,
        ),
    ];
    for (fields, kind, hard) in cases {
        let b = read(&dsn(&format!(
            "Final-Recipient: rfc822; ana@visitor.example\r\n{fields}"
        )))
        .unwrap();
        assert_eq!((b.kind, b.hard), (kind, hard), "{fields}");
    }
}

#[test]
fn a_prose_bounce_with_crlf_line_endings_is_read() {
    let raw = "Return-Path: <>\rFrom: MAILER-DAEMON@mx4.example.jp\rSubject: failure notice\r\rHi. This is the qmail-send program.\r\r<kijitora@example.ne.jp>:\rSorry, no SMTP connection got far enough; most progress was RCPT TO response; remote host said: 550 Unknown user kijitora@example.ne.jp\r\r--- Below this line is a copy of the message.\r\rMessage-ID: <m1@reply.acme.example>\rSubject: hello\r";
    let raw = raw.replace('\r', "\r\n");
    let b = read(&raw).unwrap();
    assert_eq!(b.kind, ReportKind::Failed);
    assert_eq!(b.recipient.as_deref(), Some("kijitora@example.ne.jp"));
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<m1@reply.acme.example>")
    );
    assert!(b.hard);
}

#[test]
fn an_abuse_report_is_a_complaint() {
    let raw = "From: abuse@isp.example\r\nTo: support@acme.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\nOriginal-Rcpt-To: <ana@visitor.example>\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <abc@reply.acme.example>\r\nSubject: Your conversation\r\n\r\nHello\r\n--b--\r\n";
    let b = read(raw).unwrap();
    assert_eq!(b.kind, ReportKind::Complaint);
    assert_eq!(b.feedback_type, Some(FeedbackType::Abuse));
    assert_eq!(
        b.recipients[0].recipient.as_deref(),
        Some("ana@visitor.example")
    );
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<abc@reply.acme.example>")
    );
    assert!(!b.hard);
}

#[test]
fn microsofts_junk_mail_report_is_a_complaint() {
    let raw = "From: staff@hotmail.com\r\nTo: abuse@acme.example\r\nSubject: complaint about message from 192.0.2.1\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nX-HmXmrOriginalRecipient: <Ana@Visitor.example>\r\nFrom: Acme <support@acme.example>\r\nTo: someone@else.example\r\nMessage-ID: <abc@reply.acme.example>\r\nSubject: Your conversation\r\n\r\nHello\r\n--b--\r\n";
    let b = read(raw).unwrap();
    assert_eq!(b.kind, ReportKind::Complaint);
    assert_eq!(
        b.recipients[0].recipient.as_deref(),
        Some("ana@visitor.example")
    );
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<abc@reply.acme.example>")
    );
}

#[test]
fn an_ses_notification_inside_an_sns_envelope_is_read() {
    let notification = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"ana@visitor.example","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},"mail":{"headers":[{"name":"Message-ID","value":"<abc@reply.acme.example>"}]}}"#;
    let envelope = serde_json::json!({"Type": "Notification", "Message": notification});
    let raw = format!(
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\r\nSubject: AWS Notification Message\r\nContent-Type: text/plain\r\n\r\n{:#}\r\n",
        envelope
    );
    let b = read(&raw).unwrap();
    assert_eq!(b.kind, ReportKind::Failed);
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert!(b.hard);
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<abc@reply.acme.example>")
    );
}

#[test]
fn a_visitors_reply_is_no_report() {
    let raw = "From: Ana <ana@visitor.example>\r\nSubject: Re: Undeliverable parcel?\r\n\r\nWhere is it?\r\n";
    assert!(read(raw).is_none());
}

#[test]
fn a_list_managers_notice_is_a_soft_failure_and_a_members_reply_through_a_list_is_not() {
    // Mailman and fml answer a post from a non-member from the list's own administrative
    // address, with a sender of their own rather than the null one.
    let notice = "From: team-owner@lists.example\r\nTo: support@acme.example\r\nSubject: Your message to Team awaits moderator approval\r\nList-Id: <team.lists.example>\r\nX-Mailman-Version: 2.1.39\r\n\r\nYour mail to 'Team' with the subject\r\n\r\n    Your conversation\r\n\r\nIs being held until the list moderator can review it for approval.\r\nPost by non-member to a members-only list\r\n";
    let b = read(notice).unwrap();
    assert_eq!(b.kind, ReportKind::Failed);
    assert!(!b.hard);
    let member = "From: Ana <ana@visitor.example>\r\nTo: support@acme.example\r\nSubject: Re: Your conversation\r\nList-Id: <team.lists.example>\r\nX-Mailman-Version: 2.1.39\r\n\r\nThanks, that helps.\r\n";
    assert!(read(member).is_none());
}

#[test]
fn each_listed_recipient_gets_its_own_words() {
    // One recipient's "mailbox full" is not another's "user unknown".
    let raw = "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example\r\nSubject: failure notice\r\n\r\nHi. This is the qmail-send program.\r\nThis is a permanent error.\r\n\r\n<gone@visitor.example>:\r\nRemote host said: 550 5.1.1 <gone@visitor.example>: Recipient address rejected: User unknown\r\n\r\n<full@visitor.example>:\r\nRemote host said: 552 5.2.2 <full@visitor.example>: Mailbox full\r\n\r\n--- Below this line is a copy of the message.\r\n";
    let b = read(raw).unwrap();
    let got: Vec<_> = b
        .recipients
        .iter()
        .map(|r| (r.recipient.clone().unwrap(), r.reason, r.hard))
        .collect();
    assert_eq!(
        got,
        [
            ("gone@visitor.example".into(), Reason::UserUnknown, true),
            ("full@visitor.example".into(), Reason::MailboxFull, false),
        ]
    );
}

#[test]
fn the_sending_mtas_category_is_weighed() {
    let fields = |status: &str, category: &str| {
        dsn(&format!("Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: {status}\r\nDiagnostic-Code: smtp; 550 {status} <ana@visitor.example>... User Unknown\r\nX-PowerMTA-BounceCategory: {category}"))
    };
    let cases = [
        // A bare "user unknown" with 5.2.1 is no proof; the MTA's "bad-mailbox" is.
        ("5.2.1", "bad-mailbox", Reason::UserUnknown, true),
        ("5.2.1", "other", Reason::Filtered, false),
        // The MTA reading it as spam makes it soft.
        ("5.1.1", "spam-related", Reason::Rejected, false),
        ("4.2.1", "bad-mailbox", Reason::UserUnknown, false),
    ];
    for (status, category, reason, hard) in cases {
        let b = read(&fields(status, category)).unwrap();
        assert_eq!(
            (b.reason, b.hard),
            (Some(reason), hard),
            "{status} {category}"
        );
    }
}

#[test]
fn escapes_of_iso_2022_jp_text_are_no_address() {
    // `$k@8@.` in the raw escapes of Japanese text has an @ and a dot.
    let raw = "Return-Path: <>\r\nFrom: POSTMASTER <postmaster@mx.example>\r\nSubject: failure notice\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n\x1b$B$3$N%a!<%k$O<+F0E*$K@8@.$7$F\x1b(B\r\nana@visitor.example\r\n\r\n550 5.1.1 <ana@visitor.example>: Recipient address rejected: User unknown\r\n";
    let b = read(raw).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert!(b.hard);
}

#[test]
fn a_local_programs_no_such_user_is_the_mailers_failure() {
    // `X-Unix`: what procmail or a pipe printed, not a server's answer about the address.
    let b = read(&dsn(
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: x-unix; procmail: Couldn't create \"/var/spool/mail/ana\": No such user",
    ))
    .unwrap();
    assert_eq!((b.reason, b.hard), (Some(Reason::SystemError), false));
    let smtp = read(&dsn(
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user",
    ))
    .unwrap();
    assert!(smtp.hard, "the same words from a server are");
}

#[test]
fn a_lone_recipients_notification_saying_full_keeps_it_alive() {
    let one = dsn(
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User Unknown",
    )
    .replace("Sorry.", "Your message was rejected:\r\nNot enough disk space");
    let b = read(&one).unwrap();
    assert_eq!((b.reason, b.hard), (Some(Reason::MailboxFull), false));
    // With two recipients the notification may be about the other one.
    let two = dsn(
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User Unknown\r\n\r\nFinal-Recipient: rfc822; bo@visitor.example\r\nAction: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full",
    )
    .replace("Sorry.", "bo@visitor.example: Mailbox full");
    let b = read(&two).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert!(b.hard);
}

#[test]
fn a_report_passed_on_inside_another_message_is_read() {
    // A gateway's own notice with no fields, the real report attached whole.
    let inner = dsn(
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown",
    );
    let outer = format!(
        "From: MAILER-DAEMON@gw.example\r\nTo: support@acme.example\r\nSubject: Returned mail: User unknown\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nThe following addresses had permanent delivery errors\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--o--\r\n"
    );
    let b = read(&outer).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<abc@reply.acme.example>")
    );
    assert!(b.hard);
}

#[test]
fn a_report_pasted_into_a_text_notice_is_read() {
    // A mailbox's notice in plain text, the report it got pasted below an mbox `From ` line:
    // the notice's contact address is no recipient.
    let inner = dsn(
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 4.0.0\r\nDiagnostic-Code: X-Postfix; delivery temporarily suspended",
    );
    let outer = format!(
        "From: MAILER-DAEMON@gw.example\r\nTo: support@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: text/plain\r\n\r\nWe could not deliver the message below.\r\nFor help, write to <help@gw.example>.\r\n\r\n-----\r\nFrom MAILER-DAEMON  Thu Apr 29 23:34:45 2015\r\n{inner}"
    );
    let b = read(&outer).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert_eq!(b.status.as_deref(), Some("4.0.0"));
    // A notice in a legacy charset is no UTF-8: the report below it is found all the same.
    let mut legacy = outer.replace("could not", "could \u{1}not").into_bytes();
    for byte in legacy.iter_mut().filter(|b| **b == 1) {
        *byte = 0xE9;
    }
    let message = MessageParser::default().parse(&legacy[..]).unwrap();
    let b = read_report(&message, &Envelope::default()).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert!(!b.hard);
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<abc@reply.acme.example>")
    );
    // The same notice sent base64-encoded, as one in a legacy charset often is: the report is
    // read from the decoded text.
    let (head, text) = outer.split_once("\r\n\r\n").unwrap();
    let base64 = lettre::message::header::ContentTransferEncoding::Base64;
    let body = lettre::message::Body::new_with_encoding(text.to_string(), base64).unwrap();
    let encoded = format!(
        "{head}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        String::from_utf8(body.into_vec()).unwrap()
    );
    let b = read(&encoded).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("<abc@reply.acme.example>")
    );
}

#[test]
fn the_returned_message_id_is_found_in_broken_structures() {
    let fields = "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1";
    let id = Some("<abc@reply.acme.example>");
    let cases = [
        // The returned headers' part opens with a blank line: its headers read as its body.
        dsn(fields).replace(
            "text/rfc822-headers\r\n\r\nMessage-ID",
            "message/rfc822\r\n\r\n\r\nMessage-ID",
        ),
        // The last part's boundary is not the one declared: no part holds the headers.
        dsn(fields).replace(
            "--b\r\nContent-Type: text/rfc822",
            "--c\r\nContent-Type: text/rfc822",
        ),
    ];
    for raw in cases {
        let b = read(&raw).unwrap();
        assert_eq!(b.original_message_id.as_deref(), id, "{raw}");
        assert_eq!(b.kind, ReportKind::Failed);
    }
    // The report's own Message-ID is never taken for the returned one.
    let own = dsn(fields)
        .replace(
            "MIME-Version",
            "Message-ID: <own@mx.example>\r\nMIME-Version",
        )
        .replace("Message-ID: <abc@reply.acme.example>\r\n", "");
    assert_eq!(read(&own).unwrap().original_message_id, None);
}

/// Sendmail's notice opens "The original message was received at …": the explanation and
/// the refused address come after it, not a copy of the message.
#[test]
fn the_original_message_was_received_at_is_no_copy_marker() {
    let raw = "From: \"MAILER-DAEMON\" <MAILER-DAEMON@mx.example>\r\nSubject: FAILURE NOTICE : hello\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe original message was received at Thu, 29 Apr 2021 23:34:45 +0900\r\nfrom acme.example\r\n\r\n   ----- The following addresses had permanent fatal errors -----\r\n\r\n>>> ana@visitor.example <ana@visitor.example>\r\n\r\n   ----- Transcript of session follows -----\r\n550 sorry, no mailbox here by that name (#5.1.1 - chkusr)\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <m2@reply.acme.example>\r\nSubject: hello\r\n\r\nHi\r\n--b--\r\n";
    let b = read(raw).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert!(b.hard);
}

/// A notice from the null sender that returns the message and says it failed is a report,
/// whatever address it comes from and however its subject is worded; the same words from a
/// person who attached an email are a reply.
#[test]
fn a_returned_message_that_failed_is_a_report_from_the_null_sender_only() {
    let raw = "From: no-reply@isp.example\r\nTo: support@acme.example\r\nSubject: =?UTF-8?B?44Oh44O844Or44Ko44Op44O86YCa55+l?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour mail sent on: Thu, 29 Apr 2021 23:45:22 +0900\r\n     Could not be delivered to: <ana@visitor.example>\r\n     As their mailbox is full.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <m3@reply.acme.example>\r\nSubject: hello\r\n\r\nHi\r\n--b--\r\n";
    let b = read(raw).unwrap();
    assert_eq!(b.kind, ReportKind::Failed);
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert_eq!(b.reason, Some(Reason::MailboxFull));
    assert!(!b.hard);
    let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let person = Envelope {
        mail_from: Some("ana@visitor.example".into()),
        ..Envelope::default()
    };
    assert!(read_report(&message, &person).is_none());
    // Attached, without the words of a failure, from the null sender: no report.
    let forwarded = raw.replace("Could not be delivered to", "Here is what I got from");
    assert!(read(&forwarded).is_none());
}

/// Fields without the server's words are read with the notification's indented block about
/// the recipient, as Exim writes it (the address, then its details on the lines below).
#[test]
fn a_recipients_indented_details_are_its_words() {
    let raw = "From: Mail Delivery System <Mailer-Daemon@mx.example>\r\nSubject: Mail delivery failed\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe following address(es) failed:\r\n\r\n  save to /var/mail/ana\r\n    generated by ana@visitor.example\r\n    mailbox is full: retry timeout exceeded\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nAction: failed\r\nFinal-Recipient: rfc822;/var/mail/ana\r\nStatus: 5.0.0\r\n\r\n--b--\r\n";
    let b = read(raw).unwrap();
    assert_eq!(b.reason, Some(Reason::MailboxFull));
    assert!(!b.hard);
}

#[test]
fn a_notice_that_delivery_goes_on_is_a_delay() {
    // (subject, explanation, a delay?): the ways MTAs say they keep trying, and failure
    // notices that must stay failures.
    let cases = [
        ("Warning: message has not yet been delivered", "Your message to:\n\tana@visitor.example\nhas not yet been delivered because the recipient server did not respond.\nWe will continue to attempt delivery of this message for 5 days.", true),
        ("Delivery failure notification", "could not be delivered to the following recipients:\n\nana@visitor.example\n\nDelivery attempts will continue to be made for 5  day(s).", true),
        ("Delivery Status Notification (Delay)", "THIS IS A WARNING MESSAGE ONLY.\nDelivery to the following recipient has been delayed:\n  ana@visitor.example\nMessage will be retried for 2 more day(s)", true),
        ("Mail Delivery Warning", "Delivery to ana@visitor.example is taking longer than expected.", true),
        ("Delivery incomplete", "There was a temporary problem delivering your message to ana@visitor.example. Gmail will retry for 46 more hours.", true),
        ("failure notice", "This is a permanent error; I've given up. Sorry it didn't work out.\n<ana@visitor.example>:\n550 5.1.1 User unknown", false),
        ("Undelivered Mail Returned to Sender", "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.", false),
        ("Warning: ana@visitor.example - User unknown!", "ana@visitor.example - no such user here.", false),
        ("Undeliverable: hello", "Delivery has failed to these recipients. The message will not be retried.", false),
        ("Delivery Status Notification", "Please note that this is only a temporary failure report. The message is kept in the queue for up to 7 days.", true),
        ("failure notice", "Your message was kept in the queue for 5 days and could not be delivered.", false),
    ];
    for (subject, explanation, delay) in cases {
        assert_eq!(text::is_delay(subject, explanation), delay, "{subject}");
    }
}

#[test]
fn a_prose_notice_names_the_recipient_not_the_sender_it_is_sent_to() {
    // The notice names the failed message's sender (the address it is sent to) first, and
    // the recipient in Exchange's and MailEnable's typed form.
    let raw = "From: Mail Delivery System <mailer-daemon@mx.example>\r\nTo: <bounce+t@reply.acme.example>\r\nSubject: Email Delivery Failure\r\n\r\nAn email bounce+t@reply.acme.example addressed to email address :\r\n-- ana@visitor.example\r\ncould not be delivered.\r\n";
    assert_eq!(
        read(raw).unwrap().recipient.as_deref(),
        Some("ana@visitor.example")
    );
    let raw = "From: Delivery Subsystem <POSTMASTER@mx.example>\r\nTo: <bounce+t@reply.acme.example>\r\nSubject: Message Delivery Failure\r\n\r\nMailEnable: Message could not be delivered to some recipients.\r\n\r\n\tRecipient: [SMTP:Ana@Visitor.example]\r\n\tReason: Remote SMTP Server Returned: 550 mailbox unavailable\r\n";
    assert_eq!(
        read(raw).unwrap().recipient.as_deref(),
        Some("ana@visitor.example")
    );
}

#[test]
fn the_original_recipient_is_kept_beside_the_final_one() {
    // (fields, recipient, original recipient): a forward or a mail store's routing, and an
    // X.400 gateway's final recipient, which gives way to the internet original.
    let cases = [
        (
            "Original-Recipient: rfc822;ana@visitor.example\r\nFinal-Recipient: rfc822;ana@sims-ms-daemon",
            "ana@sims-ms-daemon",
            Some("ana@visitor.example"),
        ),
        (
            "Original-Recipient: rfc822; ana@visitor.example\r\nFinal-Recipient: x400; /S=ana/OU=example/PRMD=UK.AC/ADMD= /C=GB/",
            "ana@visitor.example",
            Some("ana@visitor.example"),
        ),
        ("Final-Recipient: rfc822; Ana@Visitor.example", "ana@visitor.example", None),
    ];
    for (fields, recipient, original) in cases {
        let b = read(&dsn(&format!(
            "{fields}\r\nAction: failed\r\nStatus: 5.1.1"
        )))
        .unwrap();
        let r = &b.recipients[0];
        assert_eq!(r.recipient.as_deref(), Some(recipient), "{fields}");
        assert_eq!(r.original_recipient.as_deref(), original, "{fields}");
    }
}

#[test]
fn sendmails_expanded_from_is_the_original_recipient() {
    let raw = "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example>\r\nTo: <bounce+t@reply.acme.example>\r\nSubject: Returned mail: see transcript for details\r\n\r\n   ----- The following addresses had permanent fatal errors -----\r\nana.old@elsewhere.example\r\n    (expanded from: <ana@visitor.example>)\r\n\r\n   ----- Transcript of session follows -----\r\n550 5.1.1 <ana.old@elsewhere.example>... User unknown\r\n";
    let b = read(raw).unwrap();
    let r = &b.recipients[0];
    assert_eq!(r.recipient.as_deref(), Some("ana.old@elsewhere.example"));
    assert_eq!(r.original_recipient.as_deref(), Some("ana@visitor.example"));
}

#[test]
fn prose_naming_several_addresses_names_each() {
    // The reporting host's postmaster first, the recipient after: both are named, each with
    // its own lines, so the report is about the email's recipient too.
    let raw = "From: Mail Delivery System <mailer-daemon@mx.example>\r\nTo: <bounce+t@reply.acme.example>\r\nSubject: Undeliverable\r\n\r\nThis notice comes from mx.example; for help, write to postmaster@mx.example.\r\n\r\nYour message to ana@visitor.example could not be delivered:\r\nthe mailbox is full.\r\n";
    let b = read(raw).unwrap();
    let got: Vec<_> = (b.recipients.iter())
        .map(|r| (r.recipient.as_deref().unwrap(), r.reason))
        .collect();
    assert_eq!(
        got,
        [
            ("postmaster@mx.example", Reason::Undefined),
            ("ana@visitor.example", Reason::MailboxFull),
        ]
    );
}

/// Exchange's notice echoes the failed message's subject: its author's words, which say
/// nothing of why the server refused ("virus" there is no virus found).
#[test]
fn the_failed_messages_echoed_subject_is_not_the_servers_words() {
    let raw = "From: System Administrator <postmaster@mx.example>\r\nTo: support@acme.example\r\nSubject: Undeliverable: Virus warnings on our site\r\n\r\nYour message\r\n\r\n  To:      ana@visitor.example\r\n  Subject: Virus warnings on our site\r\n  Sent:    Fri, 18 Oct 2002 09:25:07 -0600\r\n\r\ndid not reach the following recipient(s):\r\n\r\nana@visitor.example on Fri, 18 Oct 2002 09:13:24 -0600\r\n    The recipient name is not recognized\r\n    MSEXCH:IMS:ACME:SITE:MX 0 (000C05A6) Unknown Recipient\r\n";
    let b = read(raw).unwrap();
    assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
    assert_eq!((b.reason, b.hard), (Some(Reason::UserUnknown), true));
}
