//! Mobile sign-offs ("Sent from my iPhone") in many languages.

/// "Sent from my iPhone" and the like, in the languages we know.
pub(super) fn is_signature(t: &str) -> bool {
    let core = t.trim_matches(|c: char| {
        matches!(c, '(' | ')' | '<' | '>' | '[' | ']' | '*' | '_') || c.is_whitespace()
    });
    if core.len() > 300 {
        return false;
    }
    // A line of more than five words and 40 bytes can only be one that opens with one of
    // STARTS or reads "von … gesendet": only its opening is lowercased (most lines are prose).
    let long = core.len() >= 40 && core.split_whitespace().nth(5).is_some();
    let lower = if long {
        let mut end = core.len().min(96);
        while !core.is_char_boundary(end) {
            end -= 1;
        }
        core[..end].to_lowercase()
    } else {
        core.to_lowercase()
    };
    const STARTS: &[&str] = &[
        "sent from my",
        "sent from ",
        "sent via ",
        "sent with ",
        "sent by ",
        "sent using ",
        "envoyé de mon",
        "envoyé depuis",
        "envoyé avec",
        "von meinem",
        "gesendet von",
        "gesendet mit",
        "diese nachricht wurde von meinem",
        "verzonden met",
        "verzonden vanaf",
        "verstuurd vanaf",
        "verstuurd met",
        "enviado desde",
        "enviado do meu",
        "enviado de meu",
        "enviado de mi",
        "enviado com",
        "inviato da",
        "inviato dal mio",
        "sendt fra min",
        "sendt fra",
        "skickat från",
        "lähetetty",
        "wysłane z",
        "wysłano z",
        "отправлено с",
        "отправлено из",
        "надіслано з",
        "odesláno z",
        "küldve",
        "iphone'umdan gönderildi",
        "gửi từ",
        "dikirim dari",
        "发自我的",
        "从我的",
        "從我的",
        "iphoneから送信",
        "나의 iphone에서",
    ];
    // The first byte first: most lines share none with any opening, and pay no comparison.
    let first = lower.as_bytes().first();
    if STARTS
        .iter()
        .any(|s| s.as_bytes().first() == first && lower.starts_with(s))
    {
        return names_only_a_device(&lower);
    }
    if promotes_a_mail_app(&lower) {
        return true;
    }
    if long {
        let tail = core.len() - "gesendet".len();
        return core.is_char_boundary(tail)
            && core[tail..].eq_ignore_ascii_case("gesendet")
            && lower.starts_with("von ");
    }
    (lower.contains("sent from") && lower.len() < 40)
        || lower.ends_with("gesendet") && lower.starts_with("von ")
        || (lower.contains("iphone") || lower.contains("android") || lower.contains("mobile"))
            && lower.split_whitespace().count() <= 5
            && (lower.contains("from") || lower.contains("sent") || lower.contains("发送"))
}

/// The line a mail app adds under the text to advertise itself, in its languages: "Get
/// Outlook for iOS", "Download Outlook for Android<https://aka.ms/…>", "Télécharger Outlook pour
/// Android": the invitation and one platform, with at most its link after it.
fn promotes_a_mail_app(lower: &str) -> bool {
    const INVITATIONS: &[&str] = &[
        "get outlook for",
        "download outlook for",
        "télécharger outlook pour",
        "obtenir outlook pour",
        "obtener outlook para",
        "descargar outlook para",
        "scarica outlook per",
        "obter o outlook para",
    ];
    // Most lines open with no invitation's first word, and are ruled out without a copy: the
    // first byte is compared before the rest.
    let opening = lower.trim_start_matches('[');
    let invited = INVITATIONS.iter().any(|i| {
        i.as_bytes().first() == opening.as_bytes().first()
            && i.split_once(' ').is_some_and(|(verb, _)| {
                opening.starts_with(verb) && opening[verb.len()..].starts_with(' ')
            })
    });
    if !invited {
        return false;
    }
    // The markdown some clients send it as: "Get [Outlook for iOS](https://aka.ms/…)".
    let lower: String = lower.chars().filter(|c| !matches!(c, '[' | ']')).collect();
    INVITATIONS.iter().any(|i| {
        lower.strip_prefix(i).is_some_and(|rest| {
            let platform = rest.split(['<', '(']).next().unwrap_or_default();
            platform.split_whitespace().count() == 1
        })
    })
}

/// A device line names the device or app, and at most adds the customary apology for
/// brevity: "Sent from my iPhone", "Sent from my phone, please excuse typos". A clause after a
/// comma is the visitor's own sentence ("Sent from my desk, is much easier to type on") and
/// must not be cut.
fn names_only_a_device(lower: &str) -> bool {
    let Some((_, after)) = lower.split_once([',', ';']) else {
        return true;
    };
    let after = after.trim();
    const APOLOGIES: &[&str] = &[
        "please excuse",
        "excuse",
        "pardon",
        "sorry",
        "apologies",
        "typos",
        "brevity",
        "autocorrect",
        "bitte",
        "disculpe",
        "désolé",
        "scusate",
    ];
    after.is_empty()
        || APOLOGIES
            .iter()
            .any(|a| after.starts_with(a) || after.contains(a))
}

/// Closing words a sign-off opens with ("Thanks,", "Best regards", "Mvh"), in the languages we
/// know, lowercased and without their punctuation.
const VALEDICTIONS: &[&str] = &[
    "thanks",
    "thank you",
    "thanks a lot",
    "many thanks",
    "thx",
    "ty",
    "regards",
    "best",
    "best regards",
    "kind regards",
    "warm regards",
    "all the best",
    "cheers",
    "br",
    "brgds",
    "sincerely",
    "yours",
    "merci",
    "cordialement",
    "bien à vous",
    "bien cordialement",
    "gracias",
    "saludos",
    "un saludo",
    "atentamente",
    "obrigado",
    "obrigada",
    "atenciosamente",
    "abraços",
    "grazie",
    "saluti",
    "cordiali saluti",
    "danke",
    "vielen dank",
    "gruß",
    "grüße",
    "viele grüße",
    "liebe grüße",
    "lg",
    "mfg",
    "mit freundlichen grüßen",
    "bedankt",
    "groeten",
    "groetjes",
    "met vriendelijke groet",
    "mvh",
    "hälsningar",
    "med vänlig hälsning",
    "tack",
    "hilsen",
    "med venlig hilsen",
    "med vennlig hilsen",
    "kiitos",
    "terveisin",
    "pozdrawiam",
    "dziękuję",
    "s pozdravem",
    "děkuji",
    "спасибо",
    "с уважением",
    "дякую",
    "teşekkürler",
    "saygılarımla",
    "cảm ơn",
    "terima kasih",
    "salam",
];

/// Whether `lines` (the non-empty ones below a quote, to the end) are only a short sign-off:
/// a closing word on a line of its own, then at most two short lines (a name, a title).
pub(super) fn is_signoff_block(lines: &[&str]) -> bool {
    let Some((first, rest)) = lines.split_first() else {
        return false;
    };
    let closing = first
        .trim()
        .trim_end_matches(|c: char| {
            matches!(c, ',' | '.' | '!' | ';' | ':' | '-' | '–' | '—') || c.is_whitespace()
        })
        .to_lowercase();
    // "Regards, Ana" on one line: the valediction and a name after it.
    let with_name = first
        .split_once([',', '-', '–', '—'])
        .is_some_and(|(v, name)| {
            VALEDICTIONS.contains(&v.trim().to_lowercase().as_str())
                && is_a_name(
                    name.trim_end_matches(|c: char| matches!(c, '.' | '!') || c.is_whitespace()),
                )
        });
    (VALEDICTIONS.contains(&closing.as_str()) || with_name)
        && rest.len() <= 2
        && rest
            .iter()
            .all(|l| l.trim().chars().count() <= 40 && l.split_whitespace().count() <= 5)
}

/// Whether words are a name signed under a message ("Ana", "Roman T.", "Mary-Jane O'Neil"):
/// one to three words, each capitalised, of letters alone. "that fixed it" is a sentence.
fn is_a_name(words: &str) -> bool {
    let words: Vec<&str> = words.split_whitespace().collect();
    (1..=3).contains(&words.len())
        && words.iter().all(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars()
                    .all(|c| c.is_alphabetic() || matches!(c, '\'' | '’' | '.' | '-'))
        })
}
