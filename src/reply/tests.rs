//! Table tests of the trimming rules, one shape of reply each.

use super::trim;

#[test]
pub(super) fn gmail_english() {
    let body = "Thanks, that works!\n\nOn Mon, 3 Mar 2025 at 10:15, Acme Support <support@acme.example> wrote:\n\n> Try turning it off and on.\n>\n";
    assert_eq!(trim(body), "Thanks, that works!");
}

#[test]
pub(super) fn gmail_wrapped_attribution_in_spanish() {
    let body = "Perfecto, gracias.\n\nEl lun, 3 mar 2025 a las 10:15, Acme <\nsupport@acme.example> escribió:\n\n> Hola\n";
    assert_eq!(trim(body), "Perfecto, gracias.");
}

#[test]
pub(super) fn outlook_header_block_in_portuguese() {
    let body = "Pode ser amanhã?\n\n________________________________\nDe: Acme <support@acme.example>\nEnviado: segunda-feira, 3 de março de 2025 10:15\nPara: Ana\nAssunto: Sua conversa\n\nOlá Ana";
    assert_eq!(trim(body), "Pode ser amanhã?");
    let no_rule = "Pode ser amanhã?\n\nDe: Acme <support@acme.example>\nEnviado: segunda-feira\nPara: Ana\nAssunto: Sua conversa\n\nOlá Ana";
    assert_eq!(trim(no_rule), "Pode ser amanhã?");
}

#[test]
pub(super) fn apple_mail_french_and_signature() {
    let body = "D'accord, merci !\n\nEnvoyé de mon iPhone\n\n> Le 3 mars 2025 à 10:15, Acme <support@acme.example> a écrit :\n>\n> Bonjour\n";
    assert_eq!(trim(body), "D'accord, merci !");
}

#[test]
pub(super) fn german_and_russian_and_vietnamese() {
    let de =
        "Passt.\n\nAm Mo., 3. März 2025 um 10:15 Uhr schrieb Acme <support@acme.example>:\n> Hallo";
    assert_eq!(trim(de), "Passt.");
    let ru =
        "Спасибо!\n\nпн, 3 мар. 2025 г. в 10:15, Acme <support@acme.example>:\n\n> Здравствуйте";
    assert_eq!(trim(ru), "Спасибо!");
    let vi = "Cảm ơn!\n\nVào Th 2, 3 thg 3, 2025 vào lúc 10:15 Acme <support@acme.example> đã viết:\n> Xin chào";
    assert_eq!(trim(vi), "Cảm ơn!");
}

#[test]
pub(super) fn keeps_what_the_visitor_wrote() {
    let body =
        "Two things:\n\n- the order number is 42\n- on Monday I wrote to you already\n\n--\nAna";
    assert_eq!(
        trim(body),
        "Two things:\n\n- the order number is 42\n- on Monday I wrote to you already"
    );
    assert_eq!(trim("> just a quote"), "> just a quote");
    assert_eq!(trim("\r\n\r\nhello\r\nworld\r\n"), "hello\nworld");
}

#[test]
pub(super) fn inline_reply_keeps_the_quote_it_answers() {
    let body = "See below.\nOn 3 Mar 2025, at 10:15, Acme <support@acme.example> wrote:\n> Which size?\n\nMedium, please.\n\n> And the colour?\n";
    assert_eq!(trim(body), "See below.\n> Which size?\n\nMedium, please.");
    // The same answers with nothing above the attribution: the quotes they answer stay too.
    let first = "On 3 Mar 2025, at 10:15, Acme <support@acme.example> wrote:\n> Which size?\n\nMedium, please.\n\n> And the colour?\n\nBlue.\n";
    assert_eq!(
        trim(first),
        "> Which size?\n\nMedium, please.\n\n> And the colour?\n\nBlue."
    );
    // A reply written under one whole quote (bottom-posted) is the text below it alone.
    let under = "On 3 Mar 2025, at 10:15, Acme <support@acme.example> wrote:\n> Which size?\n> And the colour?\n\nMedium and blue, please.\n";
    assert_eq!(trim(under), "Medium and blue, please.");
}

#[test]
pub(super) fn text_below_a_quote_that_runs_into_more_history_is_history() {
    // A chain of forwards pasted under the quote: the text after it leads to another
    // attribution before any quoted line, so it is older mail, not answers to the quote.
    let chain = "Done, thanks.\n\nOn Mon, 3 Mar 2025 at 10:15, Acme <support@acme.example> wrote:\n> Please confirm.\n\nForwarded by the front desk\nTo the support team\n\nCan someone call her back?\n\nOn 2 Mar 2025, Ana <ana@visitor.example> wrote:\n\nMy order is late.\n";
    assert_eq!(trim(chain), "Done, thanks.");
    // Answers between quoted parts, or below the quote with nothing older after them, stay.
    let bottom = "See below.\nOn 3 Mar 2025, at 10:15, Acme <support@acme.example> wrote:\n> Which size?\n\nMedium, please.\n\n-- \nAna";
    assert_eq!(trim(bottom), "See below.\n> Which size?\n\nMedium, please.");
}

#[test]
pub(super) fn words_on_the_attributions_line_are_the_visitors() {
    // Some clients run the reply and the attribution into one line: the words before it stay.
    let cases = [
        ("reply On Wed, 5 Jun 2024 at 10:00, Ana wrote:\n> hello\n", "reply"),
        (
            "Great, thanks. On Wed, 5 Jun 2024 at 10:00, Acme <support@acme.example> wrote:\n> Try again?\n> Sam\n",
            "Great, thanks.",
        ),
        (
            "Parfait. Le mer. 5 juin 2024 à 10:00, Acme <\nsupport@acme.example> a écrit :\n> Bonjour\n",
            "Parfait.",
        ),
        // The opening run on after the words, the rest of the attribution on the next line.
        (
            "Thanks! On Wed, Jun 5, 2024 at 10:00 AM\nSupport <support@shop.test> wrote:\n\n> Hi\n",
            "Thanks!",
        ),
        (
            "Hello\nHow are you? On Nov 30, 2011, at 12:47 PM,\n Example <\n416ffd32@example.org>wrote:\n\n> Hi",
            "Hello\nHow are you?",
        ),
        // "on Monday" above one, with no year or time, is the writer's.
        (
            "I'll call you on Monday\nSupport <support@shop.test> wrote:\n> Hi\n",
            "I'll call you on Monday",
        ),
        // A quote marker of another kind than '>' before it is no words; an emoji is.
        (
            "Yes, Tuesday works.\n\n| On Wed, 5 Jun 2024 at 10:00, Ana <ana@x.org> wrote:\n| Tuesday?\n",
            "Yes, Tuesday works.",
        ),
        (
            "\u{1F44D} On Wed, 5 Jun 2024 at 10:00, Ana <ana@x.org> wrote:\n> Tuesday?\n",
            "\u{1F44D}",
        ),
        // A sentence that only mentions a day is not an attribution.
        (
            "I met him on Monday at 10, then he said:\nhi\n",
            "I met him on Monday at 10, then he said:\nhi",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(trim(body), want, "{body:?}");
    }
}

#[test]
pub(super) fn separators_and_header_blocks_in_other_forms() {
    let cases = [
        ("Ok.\n\n-----Reply Message-----\nFrom: Acme\nTo: Ana\n\nHi\n", "Ok."),
        ("Passt.\n\n-----Antwort Nachricht-----\nVon: Acme\n\nHallo\n", "Passt."),
        ("Ok.\n\n---- Acme Support wrote ----\n\nHi\n", "Ok."),
        // Headers in any order: Date first.
        (
            "Ok.\n\nDate: Wed, 5 Jun 2024 10:00\nFrom: Acme <support@acme.example>\nSubject: Your order\nTo: Ana\n\nHello\n",
            "Ok.",
        ),
        // Two headers whose values prove them (a time of day, an address).
        (
            "Blah\n\nDate: Wed, 16 May 2012 00:15:02 -0600\nTo: someone@example.com",
            "Blah",
        ),
        // Headers run on to one line, as bold HTML headers in one paragraph read.
        (
            "Reply\n\nFrom: bob@example.com Date: Thu, 24 Mar 2016 08:07:12 -0700\nQuoted message\n",
            "Reply",
        ),
        (
            "Oui.\n\nDe : A <a@acme.example>\nDate : 23/06/24 10:46\nÀ : b@acme.example Objet : Salut\n",
            "Oui.",
        ),
        // Outlook's and phone clients' labels in more languages: Samsung's Korean, Greek,
        // Romanian, Ukrainian, Hebrew.
        (
            "네.\n\n발신: Acme <support@acme.example>\n날짜: 2026년 3월 2일 10:06\n수신: Ana <ana@example.org>\n제목: Re: 질문\n\n안녕하세요\n",
            "네.",
        ),
        (
            "Ναι.\n\nΑπό: Acme <support@acme.example>\nΣτάλθηκε: Δευτέρα, 2 Μαρτίου 2026 10:06 πμ\nΠρος: Ana <ana@example.org>\nΘέμα: Re: Ερώτηση\n\nΓεια σας\n",
            "Ναι.",
        ),
        (
            "Da.\n\nDe la: Acme <support@acme.example>\nTrimis: luni, 2 martie 2026 10:06\nCătre: Ana <ana@example.org>\nSubiect: Re: Întrebare\n\nBună ziua\n",
            "Da.",
        ),
        (
            "Так.\n\nВід: Acme <support@acme.example>\nНадіслано: 2 березня 2026 р. 10:06\nКому: Ana <ana@example.org>\nТема: Re: Питання\n\nДобрий день\n",
            "Так.",
        ),
        (
            "כן.\n\nמאת: Acme <support@acme.example>\nנשלח: יום שני 2 מרץ 2026 10:06\nאל: Ana <ana@example.org>\nנושא: Re: שאלה\n\nשלום\n",
            "כן.",
        ),
        // Words that merely look like a header, with no From among them, stay.
        (
            "Date: Monday works.\nTo: the office, please.\nSubject: the blue one\n",
            "Date: Monday works.\nTo: the office, please.\nSubject: the blue one",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(trim(body), want, "{body:?}");
    }
}

#[test]
pub(super) fn a_signoff_below_the_quote_does_not_make_it_an_answer() {
    // The quote goes; the visitor's own sign-off under it stays.
    let signed = "Yes, please.\n\nOn Wed, 5 Jun 2024 at 10:00, Acme <support@acme.example> wrote:\n> Shall we send it?\n> Sam\n\nThanks,\nAna\n";
    assert_eq!(trim(signed), "Yes, please.\n\nThanks,\nAna");
    let regards = "Ja.\n\nAm Mi., 5. Juni 2024 um 10:00 Uhr schrieb Acme <support@acme.example>:\n> Passt das?\n\nViele Grüße\nAna Souza\n";
    assert_eq!(trim(regards), "Ja.\n\nViele Grüße\nAna Souza");
    // The valediction and the name on one line.
    let one_line = "Yes.\nOn 04/19/2011 07:10 AM, Sam wrote:\n\n> Ok?\n\nRegards, Ana\n";
    assert_eq!(trim(one_line), "Yes.\nRegards, Ana");
    // "Thanks, …" with a sentence after it is an answer, not a name.
    let thanks = "See below.\nOn Wed, 5 Jun 2024 at 10:00, Acme <support@acme.example> wrote:\n> Did it work?\n\nThanks, that fixed it\n";
    assert_eq!(
        trim(thanks),
        "See below.\n> Did it work?\n\nThanks, that fixed it"
    );
    // A short answer below the quote is still an answer.
    let answer = "See below.\nOn Wed, 5 Jun 2024 at 10:00, Acme <support@acme.example> wrote:\n> Which day?\n\nMonday.\n";
    assert_eq!(trim(answer), "See below.\n> Which day?\n\nMonday.");
}

#[test]
pub(super) fn html_blockquotes_become_quotes() {
    let html = "<div dir=\"ltr\">Works now, thanks!</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On Mon, 3 Mar 2025 at 10:15, Acme &lt;support@acme.example&gt; wrote:<br></div><blockquote class=\"gmail_quote\">Try again?</blockquote></div>";
    let text = super::html_to_text(html);
    assert_eq!(trim(&text), "Works now, thanks!", "from {text:?}");
}

#[test]
pub(super) fn a_body_the_rules_would_empty_is_kept_whole() {
    use super::{reply_text, Reply};
    let cases = [
        // Words below a quote under a device line: the rules cut at the line, and would keep
        // nothing.
        (
            "Sent from my iPhone\n\n> Where to?\n\nYes please, send it to the office.",
            "Sent from my iPhone\n\n> Where to?\n\nYes please, send it to the office.",
            false,
        ),
        // Words right below it: no app writes its line above the writer's text, so it is
        // theirs, and kept by the rules.
        (
            "Sent from my iPhone\n\nYes please, send it to the office.",
            "Sent from my iPhone\n\nYes please, send it to the office.",
            true,
        ),
        // Only history: nothing of the visitor's to keep.
        ("On Mon, 3 Mar 2025, Acme wrote:\n> Hello\n", "", true),
        // Only a signature under its delimiter.
        ("\n-- \nAna Silva\n", "", true),
        ("Thanks!\n\n> Hello", "Thanks!", true),
        // A forward sent with no word of the visitor's: the forward is what they sent.
        (
            "\n\nBegin forwarded message:\n\n> From: Shop <orders@shop.example>\n> Subject: Order 42\n>\n> Your order shipped.\n",
            "Begin forwarded message:\n\n> From: Shop <orders@shop.example>\n> Subject: Order 42\n>\n> Your order shipped.",
            false,
        ),
        // One whose text is not quoted keeps it below its headers, as an opening header
        // block does.
        (
            "---------- Weitergeleitete Nachricht ----------\nVon: Shop <orders@shop.example>\nBetreff: Order 42\n\nIhre Bestellung ist unterwegs.\n",
            "Ihre Bestellung ist unterwegs.",
            true,
        ),
    ];
    for (body, text, trimmed) in cases {
        let want = Reply {
            text: text.into(),
            trimmed,
            own_copy: false,
        };
        assert_eq!(reply_text(body, &[]), want, "{body}");
    }
}

#[test]
pub(super) fn a_wrapped_link_inside_a_quote_does_not_end_it() {
    // The rest of a link the quoted line above left open.
    let open = "Blah\n\nOn Monday, 24 September, 2012 at 3:46 PM, bob wrote:\n\n> [Ticket #50] test\n>\n> View ticket (http://example.com/action\n_nonce=3dd518)\n>\n";
    assert_eq!(trim(open), "Blah");
    // A link whose quote mark the wrapping pushed behind it.
    let moved = "Blah\n\nOn Thursday, October 25, 2012 at 3:03 PM, Bob wrote:\n\n>\n> Post a response\n>\n (http://example.com/c/YzOTYzMmE) >\n> life is short. (http://example.com/c/YzMmE)\n>\n";
    assert_eq!(trim(moved), "Blah");
    // A visitor's answer that is a bare link between quoted questions stays theirs.
    let answer = "See below.\nOn Wed, 5 Jun 2024 at 10:00, Acme <support@acme.example> wrote:\n> Where are the docs?\nhttps://docs.example.com/start\n> And the prices?\nOn the site.\n";
    assert_eq!(
        trim(answer),
        "See below.\n> Where are the docs?\nhttps://docs.example.com/start\n> And the prices?\nOn the site."
    );
}

#[test]
pub(super) fn dashes_run_onto_an_attribution_are_not_the_reply() {
    let body = "reply--- On Wed, Apr 4, 2012 at 3:59 PM, me@domain.com wrote:\n> Hi";
    assert_eq!(trim(body), "reply");
}

#[test]
pub(super) fn the_writers_own_rules_are_not_a_signature() {
    // A heading's underline, and rules between paragraphs: the visitor's formatting.
    let body = "My analysis:\n\n## Key Points\n----\n\n1. Faster\n\n----\n\nThe dashes are mine.\n\n====\n\nSo are these.\n";
    assert_eq!(trim(body), body.trim_end());
    // One rule with a signature under it still ends the reply, as the signature dashes do.
    assert_eq!(trim("Thanks!\n\n-----\nAna Souza\nAcme\n"), "Thanks!");
    assert_eq!(trim("Thanks!\n--\nAna\n\n____\nConfidential.\n"), "Thanks!");
}

#[test]
pub(super) fn more_clients_attributions_and_app_lines_are_known() {
    let cases = [
        // A numeric date, an address in brackets, a colon: no verb needed.
        (
            "Yes.\n\n30.09.2017, 18.30, \"Ana - Acme\" <ana@acme.example>:\n\nTest",
            "Yes.",
        ),
        // "On … wrote" whose colon was lost.
        (
            "Yes.\n\nOn Wed, 14 Nov 2018 08:14:43 -0200 Ana <ana@acme.example> wrote\n\nWhen?",
            "Yes.",
        ),
        // Thunderbird in Polish, with the present tense.
        (
            "Dzięki.\n\nW dniu 2015-01-07 14:23, ana@acme.example pisze: \n\nStary tekst\n",
            "Dzięki.",
        ),
        // Danish Outlook's marker and headers.
        (
            "Ja.\n\n-------- Oprindelig besked --------\nFra: A <a@acme.example>\nDato: 04.07.2024 17.45\nTil: b@acme.example\nEmne: Hej",
            "Ja.",
        ),
        // A mail app's line advertising itself, with its link.
        (
            "Yes.\n\nDownload Outlook for Android<https://aka.ms/ghei36>\n",
            "Yes.",
        ),
        ("Oui.\n\nTélécharger Outlook pour Android<https://aka.ms/ghei36>\n", "Oui."),
        ("Yes.\n\nGet [Outlook for iOS](https://aka.ms/o0ukef)\n", "Yes."),
        // A sentence about the app is the visitor's.
        (
            "Download Outlook for Android and try the link again.\nIt works there.",
            "Download Outlook for Android and try the link again.\nIt works there.",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(trim(body), want, "{body:?}");
    }
}

#[test]
pub(super) fn gmails_date_first_attributions_are_cut_wrapped_too() {
    let quote = "\n\n> Hello Ana,\n> the answer is yes.\n";
    let cases = [
        // Gmail in Swedish, Russian, Korean, Japanese and Danish (its time with a dot): no
        // opening word, the date first, wrapped where the line grew long.
        "mån 2 mars 2026 kl 10:06 skrev Acme\nSupport <support@acme.example>:",
        "пн, 2 мар. 2026 г. в 10:06,\nAcme Support <support@acme.example>:",
        "2026년 3월 2일 (월) 오전 10:06, Acme\nSupport <support@acme.example>님이 작성:",
        "2026年3月2日(月) 10:06 Acme\nSupport <support@acme.example>:",
        "man. 2. mar. 2026 kl. 10.06 skrev\nAcme Support <support@acme.example>:",
        "Στις Δευ 2 Μαρ 2026 στις 10:06, ο/η\nAcme Support <support@acme.example> έγραψε:",
        // Hebrew, closed with invisible direction marks; Persian, its digits its own.
        "\u{202b}בתאריך יום ב׳, 2 במרץ 2026 ב-10:06 מאת \u{202a}Acme <support@acme.example>\u{202c}:\u{202c}",
        "در تاریخ دوشنبه ۲ مارس ۲۰۲۶، ساعت ۱۰:۰۶ Acme <support@acme.example> نوشت:",
        // The same two wrapped: Hebrew's day is its fourth word, after "on the date"; Persian's
        // date and time are in its own digits.
        "\u{202b}בתאריך יום ב׳, 2 במרץ 2026 ב-10:06 מאת\n\u{202a}Acme <support@acme.example>\u{202c}:\u{202c}",
        "در تاریخ دوشنبه ۲ مارس ۲۰۲۶، ساعت ۱۰:۰۶ Acme\nSupport <support@acme.example> نوشت:",
    ];
    for attribution in cases {
        let body = format!("Thanks, that works for me.\n\n{attribution}{quote}");
        assert_eq!(trim(&body), "Thanks, that works for me.", "{body:?}");
    }
    // The visitor's own line that opens with a date stays, right above an attribution too.
    let kept = [
        "Monday 3 at 10:30 works for me.\nOn Mon, 2 Mar 2026 at 10:06, Acme <support@acme.example> wrote:",
        "mån 2 mars kl 10:30 passar bra.\nmån 2 mars 2026 kl 10:06 skrev Acme <support@acme.example>:",
        "mån 2 mars kl 10:30 passar bra.\nmån 2 mars 2026 kl 10:06 skrev Acme\nSupport <support@acme.example>:",
    ];
    for body in kept {
        let visitor = body.lines().next().unwrap();
        assert_eq!(trim(&format!("{body}{quote}")), visitor, "{body:?}");
    }
    let words = "2 of them came on 3 March 2026 at 10:06.\nThe third is missing:\nwhere is it?";
    assert_eq!(trim(words), words);
}

#[test]
pub(super) fn a_forward_below_the_reply_goes_in_any_client_and_language() {
    let cases = [
        // Apple Mail, its forward marker quoted or not, and Sparrow's shorter one.
        "Can you check this one?\n\nBegin forwarded message:\n\n> From: Shop <orders@shop.example>\n> Subject: Order 42\n>\n> Your order shipped.\n",
        "Can you check this one?\n\n> Begin forwarded message:\n>\n> From: Shop <orders@shop.example>\n> Subject: Order 42\n>\n> Your order shipped.\n",
        "Can you check this one?\n\nForwarded message:\n\n> From: Shop <orders@shop.example>\n> Date: Monday, March 3, 2025 9:00:00 AM\n> Subject: Order 42\n>\n> Your order shipped.\n",
        // Gmail in Swedish, Thunderbird in French, headers in bold marks.
        "Can you check this one?\n\n---------- Vidarebefordrat meddelande ----------\nFrån: Shop <orders@shop.example>\nDatum: 3 mars 2025 09:00\nÄmne: Order 42\n\nYour order shipped.\n",
        "Can you check this one?\n\n-------- Message transféré --------\nSujet :  Order 42\nDate :  Mon, 3 Mar 2025 09:00:00 +0100\nDe :  Shop <orders@shop.example>\n\nYour order shipped.\n",
        "Can you check this one?\n\nForwarded message:\n\n*From:* Shop <orders@shop.example>\n*Date:* Monday, March 3, 2025 9:00 AM\n*Subject:* Order 42\n\nYour order shipped.",
    ];
    for body in cases {
        assert_eq!(trim(body), "Can you check this one?", "{body:?}");
    }
    // Lines shaped like headers above the forward are the visitor's own: they stay.
    let contact = "Phone: 555 0100\nSkype: ana.s\n\n---------- Forwarded message ----------\nFrom: Shop <orders@shop.example>\nSubject: Order 42\n\nYour order shipped.\n";
    assert_eq!(trim(contact), "Phone: 555 0100\nSkype: ana.s");
}

#[test]
pub(super) fn a_titled_rule_above_quoted_headers_goes_with_them_in_any_language() {
    let reply = "Danke, das passt so.";
    let headers = "Od: Acme Support <support@acme.example>\nKomu: ana@seznam.cz\nDatum: 2. 3. 2026 10:06:00\nPředmět: Re: Objednávka\n\nHallo Ana,\nja.\n";
    let qq = "发件人: \"Acme\" <support@acme.example>;\n发送时间: 2026年3月2日(星期一) 上午10:06\n收件人: \"Ana\" <ana@x.org>;\n主题: Re: 订单\n\nHallo Ana,\nja.\n";
    let cases = [
        // Seznam's Czech title, which no list of ours has.
        format!("{reply}\n\n---------- Původní e-mail ----------\n{headers}"),
        // QQ Mail writes its spaces as HTML's in the plain text too.
        format!("{reply}\n\n------------------&nbsp;原始邮件&nbsp;------------------\n{qq}"),
        // A blank line between the title and the headers.
        format!("{reply}\n\n===== Původní zpráva =====\n\n{headers}"),
    ];
    for body in &cases {
        assert_eq!(trim(body), reply, "{body:?}");
    }
    // A titled rule of the visitor's own, with no headers under it, stays.
    let own = "Here is my list:\n\n---- Key points ----\nFaster delivery\nLower price";
    assert_eq!(trim(own), own);
}

#[test]
pub(super) fn webmails_quoting_attribution_is_cut_and_a_sentence_like_it_stays() {
    let quote = "\n\n> Hello Ana,\n> the answer is yes.\n";
    for attribution in [
        "Quoting Acme Support <support@acme.example>:",
        "Zitat von Acme Support <support@acme.example>:",
        "Citando Acme Support <support@acme.example>:",
    ] {
        let body = format!("Thanks, that works for me.\n\n{attribution}{quote}");
        assert_eq!(trim(&body), "Thanks, that works for me.", "{body:?}");
    }
    // Words that open the same way, with no address after them, are the visitor's.
    let own = "Quoting your price list:\n10 boxes for 40 euros\n\nIs that still right?";
    assert_eq!(trim(own), own);
}

#[test]
pub(super) fn a_device_line_names_a_device_and_ends_the_writers_text() {
    let cases = [
        ("Yes.\n\nInviato da iPhone", "Yes."),
        ("Yes.\n\nΕστάλη από το iPhone μου", "Yes."),
        ("Yes.\n\nOdesláno z iPhonu", "Yes."),
        ("Yes.\n\nAndroid から送信", "Yes."),
        ("Yes.\n\nSent with Spark", "Yes."),
        ("Yes.\n\nEnvoyé à partir de Outlook pour Android", "Yes."),
        // A carrier's clause after the comma names the device again.
        (
            "Yes.\n\nSent via the Samsung Galaxy S21 5G, an AT&T 5G smartphone\n\n> Ok?",
            "Yes.",
        ),
        // Opening as a device line does, but naming no device: the writer's sentence.
        (
            "Where is it?\n\nSent from the warehouse yesterday.",
            "Where is it?\n\nSent from the warehouse yesterday.",
        ),
        // The same further into the line.
        (
            "Where is it?\n\nParcel sent from the warehouse.",
            "Where is it?\n\nParcel sent from the warehouse.",
        ),
        ("Thanks.\n\n-- Sent from my phone", "Thanks."),
        // A device line with the writer's text under it is theirs: no app writes it there.
        (
            "Where is it?\nSent from my phone.\nIt should arrive Monday.",
            "Where is it?\nSent from my phone.\nIt should arrive Monday.",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(trim(body), want, "{body:?}");
    }
}

#[test]
pub(super) fn header_labels_with_combining_marks_are_read() {
    // Thai's tone marks and Hindi's vowel signs are marks, not letters, in a label.
    let cases = [
        "ขอบคุณครับ\n\nจาก: Support <support@shop.test>\nส่ง: 5 มิถุนายน 2567 10:00\nถึง: Ana <ana@x.org>\nเรื่อง: RE: order\n\nPlease restart.",
        "ขอบคุณครับ\n\nप्रेषक: Support <support@shop.test>\nभेजा गया: बुधवार, 5 जून 2024 10:00\nप्रति: Ana <ana@x.org>\nविषय: RE: order\n\nPlease restart.",
    ];
    for body in cases {
        assert_eq!(trim(body), "ขอบคุณครับ", "{body:?}");
    }
}
