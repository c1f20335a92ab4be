use super::*;

/// Each row's words (with its status, and no notification around them) read as the row says.
fn assert_severities(table: &[(Option<&str>, &str, Reason, bool)]) {
    for &(status, said, reason, hard) in table {
        assert_eq!(
            severity(status, Some(said), ""),
            (reason, hard),
            "{status:?} {said}"
        );
    }
}

/// Words that name a live person's choice or a policy win over a code that names the mailbox;
/// the reporting MTA's own mapping of a bare reply does not.
#[test]
fn a_policy_or_a_preference_under_a_mailbox_code_is_soft() {
    let table = [
        // The recipient's own preferences refused the mail: a live address, whatever the code.
        (
            Some("5.1.1"),
            "550 5.1.1 RCP-P2 Refused due to recipient preferences",
            Reason::Filtered,
            false,
        ),
        (
            Some("5.1.1"),
            "550 5.1.1 The recipient has blocked messages from this sender",
            Reason::Filtered,
            false,
        ),
        // "User unknown" under a policy code the server gave itself: its policy refused.
        (
            Some("5.7.1"),
            "550 5.7.1 <ana@x.test>: Recipient address rejected: User unknown",
            Reason::Filtered,
            false,
        ),
        // The same status written by the reporting MTA over a bare reply at RCPT TO.
        (
            Some("5.7.1"),
            "RCPT TO:<ana@x.test> 553 Invalid recipient ana@x.test",
            Reason::UserUnknown,
            true,
        ),
    ];
    assert_severities(&table);
}

#[test]
fn only_a_dead_address_is_hard() {
    let table = [
        (
            Some("5.1.1"),
            "550 5.1.1 <ana@x.test>... User Unknown",
            Reason::UserUnknown,
            true,
        ),
        (
            Some("5.0.0"),
            "550 No such user here",
            Reason::Filtered,
            false,
        ),
        (
            Some("5.0.0"),
            "RCPT TO: 550 No such user here",
            Reason::UserUnknown,
            true,
        ),
        (
            Some("5.1.2"),
            "Host or domain name not found",
            Reason::HostUnknown,
            true,
        ),
        (
            Some("5.2.2"),
            "552 5.2.2 Mailbox full",
            Reason::MailboxFull,
            false,
        ),
        (None, "Mail size limit exceeded.", Reason::TooBig, false),
        (
            Some("5.7.1"),
            "550 5.7.1 Client host 10.5.1.3 blocked",
            Reason::Blocked,
            false,
        ),
        (
            Some("5.7.1"),
            "554 Message rejected as spam",
            Reason::Rejected,
            false,
        ),
        (
            Some("4.2.2"),
            "452 4.2.2 Over quota",
            Reason::MailboxFull,
            false,
        ),
        (
            Some("4.1.1"),
            "450 4.1.1 User unknown, try later",
            Reason::UserUnknown,
            false,
        ),
        (
            Some("4.4.7"),
            "delivery time expired",
            Reason::Expired,
            false,
        ),
        (
            Some("5.7.1"),
            "Client host rejected: Access denied",
            Reason::Blocked,
            false,
        ),
        (Some("5.1.1"), "", Reason::UserUnknown, true),
        (
            Some("5.1.8"),
            "553 5.1.8 Domain of sender address x.test does not exist",
            Reason::Rejected,
            false,
        ),
        (
            Some("5.0.0"),
            "SMTP error after end of data: 550 user unknown",
            Reason::Filtered,
            false,
        ),
        (Some("5.0.0"), "", Reason::Undefined, false),
        (None, "", Reason::Undefined, false),
    ];
    assert_severities(&table);
}

#[test]
fn the_stage_and_rfc_7504s_codes_are_read() {
    let table = [
        // Yahoo names the stage in brackets.
        (
            Some("5.2.1"),
            "550 5.2.1 <a@b.test>... User Unknown [RCPT_TO]",
            Reason::UserUnknown,
            true,
        ),
        // RFC 7504: a host that takes no mail; but 521 on a blocklist refusal is a block.
        (
            Some("5.3.2"),
            "521 5.3.2 <a@b.test>: System not accepting network messages",
            Reason::NotAccept,
            true,
        ),
        (
            Some("5.7.1"),
            "521-5.7.1 client blocked using dnsbl.example",
            Reason::Blocked,
            false,
        ),
        // qmail-remote writes "does not like recipient" above the answer to RCPT TO.
        (
            None,
            "<a@b.test>: 192.0.2.7 does not like recipient. Remote host said: 550 a@b.test... No such user",
            Reason::UserUnknown,
            true,
        ),
        // Sendmail's `relay=` names the host that answered; it is no refusal to relay.
        (
            Some("5.3.0"),
            "RCPT TO generated following response: 553 5.3.0 <a@b.test>... Addressee unknown, relay=[192.0.2.7] Unknown user: a@b.test",
            Reason::UserUnknown,
            true,
        ),
        (
            Some("5.7.1"),
            "554 5.7.1 <a@b.test>: Relay access denied",
            Reason::Blocked,
            false,
        ),
    ];
    assert_severities(&table);
}

#[test]
fn a_status_that_names_the_mailbox_says_whether_inactive_means_gone() {
    let table = [
        // "Inactive" beside 5.1.1 (bad destination mailbox): the account is gone.
        (
            Some("5.1.1"),
            "RCPT TO: 550 5.1.1 <a@b.test>: inactive email address",
            Reason::UserUnknown,
            true,
        ),
        // Beside 5.2.1 (mailbox disabled) it may come back, as with no status at all.
        (
            Some("5.2.1"),
            "550 5.2.1 The email account that you tried to reach is inactive",
            Reason::Suspended,
            false,
        ),
        (None, "550 Account disabled", Reason::Suspended, false),
    ];
    assert_severities(&table);
}

#[test]
fn a_pipelined_data_refused_for_no_valid_recipients_proves_the_rcpt_refusal() {
    // The client sent DATA before reading the answers to RCPT TO; the server's answer to DATA
    // says every recipient had been refused, so "invalid recipient" was the answer to RCPT.
    let transcript =
        ">>> DATA\n<<< 550 5.5.0 Invalid recipient\n<<< 554 5.5.1 Error: no valid recipients";
    assert_eq!(
        severity(
            Some("5.5.0"),
            Some("550 5.5.0 Invalid recipient"),
            transcript
        ),
        (Reason::UserUnknown, true)
    );
    // Without that answer, a "no such user" refused after DATA is a filter's.
    assert_eq!(
        severity(
            Some("5.5.0"),
            Some("550 5.5.0 Invalid recipient (in reply to end of DATA command)"),
            ""
        ),
        (Reason::Filtered, false)
    );
}

#[test]
fn a_mail_stores_own_directory_is_proof_a_filters_words_are_not() {
    let table = [
        // The server holding the mailboxes looked the name up and it is not there.
        (None, "The recipient name is not recognized", true),
        (None, "User a@b.test not listed in Domino Directory", true),
        (None, "Invalid final delivery userid: a@b.test", true),
        // The same verdict without naming a directory is what filters say too.
        (None, "Unknown user: a@b.test", false),
        (None, "550 a@b.test... No such user", false),
        // A temporary status outweighs any words.
        (Some("4.0.0"), "The recipient name is not recognized", false),
    ];
    for (status, said, hard) in table {
        assert_eq!(
            severity(status, Some(said), "").1,
            hard,
            "{status:?} {said}"
        );
    }
}

#[test]
fn what_is_not_about_the_address_is_never_hard() {
    let table = [
        // Our HELO name refused: about our host, whatever words the server chose.
        (
            Some("5.0.0"),
            "Connected to 192.0.2.1 but my name was rejected. Remote host said: 501 5.0.0 Invalid domain name",
            Reason::Blocked,
        ),
        (
            None,
            "550 Invalid domain name (in reply to EHLO command)",
            Reason::Blocked,
        ),
        // A resolver's temporary failure is no dead domain.
        (
            None,
            "Name service error for domain b.test: Host not found, try again",
            Reason::SystemError,
        ),
        // A "User unknown" that names no address is a carrier's reception filter, even when
        // Exchange relays it as the remote server's refusal of the recipient.
        (
            Some("5.1.351"),
            "550 5.1.351 Remote server returned unknown recipient or mailbox unavailable -> 550 : User unknown",
            Reason::Filtered,
        ),
        (
            Some("5.2.0"),
            "RCPT TO: 550 : User unknown",
            Reason::Filtered,
        ),
    ];
    for (status, said, reason) in table {
        assert_eq!(
            severity(status, Some(said), ""),
            (reason, false),
            "{status:?} {said}"
        );
    }
}

#[test]
fn a_notification_that_says_full_outweighs_no_such_user() {
    let (reason, hard) = severity(Some("5.1.1"), Some("550 5.1.1 User Unknown"), "");
    assert!(hard);
    let notification = "Your message was automatically rejected:\nNot enough disk space";
    assert_eq!(
        contradicted(reason, hard, notification),
        (Reason::MailboxFull, false)
    );
    assert_eq!(
        contradicted(reason, hard, "Delivery failed."),
        (Reason::UserUnknown, true)
    );
}

#[test]
fn postfixs_recipient_prefix_is_no_reason_of_its_own() {
    // Postfix writes it before every recipient restriction: the words after it say which.
    let on_hold = "RCPT TO: 550 5.0.0 <a@b.test>: Recipient address rejected: On hold";
    assert_eq!(
        severity(Some("5.0.0"), Some(on_hold), ""),
        (Reason::Undefined, false)
    );
    let unknown = "RCPT TO: 550 <a@b.test>: Recipient address rejected: User unknown in local recipient table";
    assert_eq!(
        severity(None, Some(unknown), ""),
        (Reason::UserUnknown, true)
    );
}

#[test]
fn soft_failures_suppress_only_when_many_over_long() {
    let t0 = chrono::DateTime::from_timestamp(1_772_445_600, 0).unwrap();
    let day = chrono::TimeDelta::days(1);
    let week = day * 7;
    let table = [
        // (count, days since the first, limit, suppressed)
        (5, 7, 5, true),
        (9, 30, 5, true),
        (4, 30, 5, false),
        (50, 6, 5, false),
        (50, 30, 0, false),
    ];
    for (count, days, limit, want) in table {
        assert_eq!(
            soft_bounced(count, t0, t0 + day * days, limit, week),
            want,
            "{count} over {days} days, limit {limit}"
        );
    }
    assert!(Reason::MailboxFull.counts_as_soft_bounce());
    assert!(!Reason::Blocked.counts_as_soft_bounce());
    assert!(!Reason::Undefined.counts_as_soft_bounce());
}

#[test]
fn the_status_field_gives_way_to_the_code_the_server_answered_with() {
    let table = [
        (
            Some("5.0.0"),
            Some("550 5.1.1 <a@b.test>: User unknown"),
            Some("5.1.1"),
        ),
        (Some("5.0.0"), Some("550 Unknown user"), Some("5.0.0")),
        // Only a code of the same class: a 4.x.x answer does not make a failure temporary.
        (Some("5.0.0"), Some("451 4.3.0 try again"), Some("5.0.0")),
        // The reporting MTA's own mapping over what the server answered: the server's wins.
        (Some("5.1.1"), Some("552 5.2.2 Over quota"), Some("5.2.2")),
        // A code merely quoted in the text, with no reply code: the specific field stands.
        (
            Some("5.2.2"),
            Some("mailbox full (was 5.1.1)"),
            Some("5.2.2"),
        ),
        (None, Some("552 5.2.2 Mailbox full"), Some("5.2.2")),
        // A relay's own code in front of the server's: the server's says what happened.
        (
            Some("5.0.0"),
            Some("5.1.0 - Unknown address error 550-'5.2.2 <a@b.test>... Mailbox Full'"),
            Some("5.2.2"),
        ),
        // Relays nest what they were told: the last answer is the refusing server's.
        (
            Some("4.4.7"),
            Some("554 4.4.7 Message expired: unable to deliver <421 4.4.2 Connection timed out>"),
            Some("4.4.2"),
        ),
        // A transcript: the failure's code, not the successes before it.
        (
            None,
            Some("Out: 250 2.1.5 Ok In: DATA Out: 451 4.3.0 Error: queue file write error"),
            Some("4.3.0"),
        ),
        // Nothing but a success code in a failure's words: a version in a quoted subject.
        (
            None,
            Some("Undeliverable: RELEASED Mailman 2.0.12 did not reach the following recipient"),
            None,
        ),
        (None, None, None),
    ];
    for (field, diagnostic, want) in table {
        assert_eq!(
            recipient_status(field, diagnostic, true).as_deref(),
            want,
            "{field:?} {diagnostic:?}"
        );
    }
}

/// A recipient the reporting MTA gave up on (`Action: failed`) under a temporary field, after
/// the server refused it for good: the server's permanent code is its status. Still delayed,
/// or with no reply code of that class, the field stands.
#[test]
fn a_recipient_given_up_on_after_a_permanent_answer_has_the_servers_code() {
    let table = [
        (Some("4.5.0"), "550 5.5.0 Service refuse", true, "5.5.0"),
        (Some("4.5.0"), "550 5.5.0 Service refuse", false, "4.5.0"),
        // A code quoted without the server's reply code is no answer of the server's.
        (
            Some("4.4.7"),
            "expired; last said: 5.1.1 user unknown",
            true,
            "4.4.7",
        ),
        // A reply code of another class than the code after it is no one reply.
        (Some("4.4.7"), "554 4.4.7 Message expired", true, "4.4.7"),
        (
            Some("4.4.7"),
            "Message expired <550 5.1.1 <a@b.test>: user unknown>",
            true,
            "5.1.1",
        ),
    ];
    for (field, diagnostic, failed, want) in table {
        assert_eq!(
            recipient_status(field, Some(diagnostic), failed).as_deref(),
            Some(want),
            "{field:?} {diagnostic:?} {failed}"
        );
    }
}

#[test]
fn status_codes_are_found_in_text() {
    assert_eq!(status_in("smtp; 550 5.1.1 <a@b>"), Some("5.1.1".into()));
    assert_eq!(status_in("5.0.0 (permanent failure)"), Some("5.0.0".into()));
    assert_eq!(status_in("(#5.5.0)"), Some("5.5.0".into()));
    assert_eq!(status_in("host 10.5.1.3 said 550"), None);
    assert_eq!(status_in("version 2.4.10.1"), None);
}

#[test]
fn the_recipients_own_refusals_are_read_however_folded_or_worded() {
    let table = [
        // The access table of the server holding the address refused that address.
        (
            Some("5.7.1"),
            "RCPT TO:<a@b.test>: 554 5.7.1 <a@b.test>:\n    Recipient address rejected: Access denied",
            (Reason::UserUnknown, true),
        ),
        (
            Some("5.4.1"),
            "550 5.4.1 Recipient address rejected: Access\n denied",
            (Reason::UserUnknown, true),
        ),
        // Gmail for an address it holds, and for one it relays (the answer follows).
        (
            Some("5.0.0"),
            "Your message wasn't delivered to a@b.test because the address couldn\u{2019}t be\n found. Check for typos or unnecessary spaces and try again.",
            (Reason::UserUnknown, true),
        ),
        (
            Some("5.0.0"),
            "Your message wasn't delivered to a@b.test because the address couldn't be found, or is unable to receive mail.",
            (Reason::Filtered, false),
        ),
        // Servers' words in other languages: proof at RCPT TO, a filter's after DATA.
        (
            None,
            "RCPT TO:<a@b.test>: 550 Utilisateur inconnu",
            (Reason::UserUnknown, true),
        ),
        (
            None,
            "end of data: 550 Nessun utente simile in questo indirizzo",
            (Reason::Filtered, false),
        ),
        (
            Some("5.1.1"),
            "553 sorry, that recipient is in my badrcptto list",
            (Reason::UserUnknown, true),
        ),
    ];
    for (status, said, want) in table {
        assert_eq!(severity(status, Some(said), ""), want, "{status:?} {said}");
    }
}
