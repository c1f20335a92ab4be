//! Mobile sign-offs ("Sent from my iPhone") in many languages.

/// The openings of the apps' device lines in the languages we know. Those without a possessive
/// ("sent from", "inviato da") open the writer's sentences too, so the line must also name a
/// device or an app (`names_a_device_or_app`).
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
    "εστάλη από",
    "trimis de pe",
    "أُرسلت من",
    "أرسلت من",
    "נשלח מ",
    "ส่งจาก",
    "dihantar daripada",
    "enviat des d",
    "enviado de ",
    "poslano s",
    "poslano iz",
    "odoslané z",
    "изпратено от",
    "saadetud ",
    "išsiųsta iš",
    "nosūtīts no",
    "verzonden vanuit",
    "envoyé à partir d",
];

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
    // The first byte first: most lines share none with any opening, and pay no comparison.
    let first = lower.as_bytes().first();
    if let Some(start) = STARTS
        .iter()
        .find(|s| s.as_bytes().first() == first && lower.starts_with(*s))
    {
        return names_only_a_device(&lower) && names_a_device_or_app(core, &lower, start);
    }
    // Where the language puts the verb last: "Android から送信".
    if lower.ends_with("から送信") && lower.split_whitespace().count() <= 3 {
        return true;
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
    // "Sent from" further into a short line ("-- Sent from my phone") needs the same proof as
    // at its start: "Parcel sent from the warehouse." is the writer's.
    (lower.contains("sent from")
        && lower.len() < 40
        && (lower.contains("sent from my") || has_a_device_word(&lower)))
        || lower.ends_with("gesendet") && lower.starts_with("von ")
        || (lower.contains("iphone") || lower.contains("android") || lower.contains("mobile"))
            && lower.split_whitespace().count() <= 5
            && (lower.contains("from") || lower.contains("sent") || lower.contains("发送"))
}

/// Whether a device line that opens with `start` names a device or an app: the opening's
/// own possessive ("sent from my"), a product's capitalised name after it ("Sent with
/// Spark"), or a word for one ("Inviato da iPhone", "Sent from the all new AOL app for iOS").
/// "Sent from the warehouse yesterday." names none: the writer's sentence.
fn names_a_device_or_app(core: &str, lower: &str, start: &str) -> bool {
    const POSSESSIVES: &[&str] = &[
        "my", "mon", "meinem", "mi", "meu", "mio", "min", "mijn", "我的", "나의",
    ];
    if POSSESSIVES.iter().any(|p| start.trim_end().ends_with(p)) {
        return true;
    }
    // The writer's case, where lowercasing kept every byte offset.
    let named = lower.len() == core.len()
        && core.get(start.len()..).is_some_and(|rest| {
            rest.trim_start()
                .starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit())
        });
    named || has_a_device_word(lower)
}

/// Whether lowercased text has a word for a device or a mail app in it: a short one whole
/// ("app", not "apparently"), a longer one as the word's stem ("iPhonu", "iPhone-ul").
fn has_a_device_word(lower: &str) -> bool {
    const DEVICES: &[&str] = &[
        "iphon",
        "ipad",
        "ipod",
        "android",
        "galax",
        "samsung",
        "huawei",
        "xiaomi",
        "pixel",
        "blackberry",
        "nokia",
        "motorola",
        "oneplus",
        "xperia",
        "phone",
        "smartphon",
        "mobil",
        "tablet",
        "devic",
        "handy",
        "télépho",
        "teléfono",
        "telef",
        "móvil",
        "celular",
        "portable",
        "puhelin",
        "телефон",
        "смартфон",
        "windows",
        "outlook",
        "mail",
        "gmail",
        "yahoo",
        "proton",
        "tutanota",
        "spark",
        "bluemail",
        "airmail",
        "typeapp",
        "thunderbird",
        "icloud",
        "appareil",
        "gerät",
        "dispositiv",
        "apparaat",
        "enhet",
        "laite",
        "ios",
        "app",
        "aol",
        "mac",
    ];
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .any(|word| {
            DEVICES.iter().any(|d| match d.len() <= 3 {
                true => word == *d,
                false => word.starts_with(d),
            })
        })
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
    // A carrier's clause names the device again: "…, an AT&T 5G smartphone".
    let names_it_again = after.split_whitespace().count() <= 6 && has_a_device_word(after);
    after.is_empty()
        || names_it_again
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
