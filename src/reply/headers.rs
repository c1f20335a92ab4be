//! Blocks of forwarded headers ("From: … / Sent: … / To: …") in many languages.

use super::attribution::has_time;

/// The key of a "Key: value" header line, lowercased, without `*` emphasis.
pub(super) fn header_key(line: &str) -> Option<String> {
    // Most lines have no colon at all, found faster than by reading them as characters.
    if memchr::memchr(b':', line.as_bytes()).is_none() && !line.contains('：') {
        return None;
    }
    let t = line.trim().trim_start_matches('*');
    // The first character a key cannot hold (nor lose to trimming) must be its colon: found
    // without scanning a line of prose to its end.
    let colon = t.find(|c: char| !(is_letter(c) || c == '-' || c == '*' || c.is_whitespace()))?;
    let rest = t[colon..].strip_prefix([':', '：'])?;
    let key = &t[..colon];
    let key = key.trim().trim_end_matches('*').trim();
    let rest = rest.trim_start_matches('*');
    (!key.is_empty()
        && key.chars().count() <= 20
        && key.split_whitespace().count() <= 3
        && key.chars().all(|c| is_letter(c) || c == '-' || c == ' ')
        && !rest.trim().is_empty())
    .then(|| key.to_lowercase())
}

/// A letter of a label, with the marks some scripts write on their letters (Thai's tone marks,
/// Hindi's vowel signs and virama: "ส่ง", "प्रेषक"), which are not letters themselves.
fn is_letter(c: char) -> bool {
    c.is_alphabetic() || !c.is_ascii() && unicode_normalization::char::is_combining_mark(c)
}

/// Header names that open a quoted email: "From" in many languages.
pub(super) const FROM_KEYS: &[&str] = &[
    "from",
    "จาก",
    "प्रेषक",
    "von",
    "de",
    "van",
    "da",
    "od",
    "от",
    "från",
    "fra",
    "lähettäjä",
    "feladó",
    "kimden",
    "từ",
    "dari",
    "发件人",
    "寄件者",
    "差出人",
    "보낸 사람",
    "expéditeur",
    "remitente",
    "mittente",
    "afzender",
    "nadawca",
    "отправитель",
    "odesílatel",
    "avsändare",
    "afsender",
    "avsender",
    // Outlook's and phone clients' labels in more languages: Korean (Samsung's), Greek,
    // Romanian, Ukrainian, Croatian, Lithuanian, Estonian, Hebrew, Arabic, Malay, Icelandic.
    "발신",
    "από",
    "de la",
    "від",
    "šalje",
    "nuo",
    "saatja",
    "מאת",
    "من",
    "daripada",
    "frá",
];

/// Other header names of a quoted email.
pub(super) const OTHER_KEYS: &[&str] = &[
    "sent",
    "date",
    "to",
    "subject",
    "cc",
    "reply-to",
    "gesendet",
    "datum",
    "an",
    "betreff",
    "envoyé",
    "à",
    "objet",
    "enviado",
    "fecha",
    "para",
    "asunto",
    "data",
    "a",
    "oggetto",
    "inviato",
    "risposta",
    "verzonden",
    "aan",
    "onderwerp",
    "wysłano",
    "do",
    "temat",
    "отправлено",
    "дата",
    "кому",
    "тема",
    "skickat",
    "till",
    "ämne",
    "sendt",
    "dato",
    "til",
    "emne",
    "lähetetty",
    "vastaanottaja",
    "aihe",
    "elküldve",
    "címzett",
    "tárgy",
    "gönderildi",
    "kime",
    "konu",
    "đã gửi",
    "đến",
    "chủ đề",
    "dikirim",
    "kepada",
    "perihal",
    "subjek",
    "发送时间",
    "收件人",
    "主题",
    "日期",
    "寄件日期",
    "收件者",
    "主旨",
    "送信日時",
    "宛先",
    "件名",
    "보낸 날짜",
    "받는 사람",
    "제목",
    "odesláno",
    "komu",
    "předmět",
    "enviada",
    "assunto",
    // The same languages' other labels; Bulgarian's, Slovak's, Slovenian's, Serbian's and
    // Catalan's, whose From is one above; Latvian's, whose From ("No") is too common a word to
    // open a block (its time and address still prove the rest a block).
    "수신",
    "날짜",
    "참조",
    "στάλθηκε",
    "προς",
    "θέμα",
    "trimis",
    "către",
    "subiect",
    "надіслано",
    "копія",
    "изпратено",
    "до",
    "относно",
    "odoslané",
    "predmet",
    "poslano",
    "poslato",
    "za",
    "zadeva",
    "prima",
    "išsiųsta",
    "kam",
    "tema",
    "nosūtīts",
    "tēma",
    "saatmisaeg",
    "adressaat",
    "teema",
    "enviat el",
    "per a",
    "נשלח",
    "אל",
    "נושא",
    "تاريخ الإرسال",
    "إلى",
    "الموضوع",
    "dihantar",
    "efni",
    // Thai's and Hindi's (Outlook's labels).
    "ส่ง",
    "ถึง",
    "เรื่อง",
    "भेजा गया",
    "प्रति",
    "विषय",
];

/// "From: … / Sent: … / To: …", in any order ("Date: … / From: …"): a block of known header
/// lines starting at line `i`, at least three in all with one of them From-like; or two whose
/// values prove them headers, a time of day and an email address ("Date: Wed, 16 May 2012
/// 00:15:02 -0600 / To: a@b.test").
pub(super) fn is_header_block(lines: &[&str], i: usize) -> bool {
    if header_key(lines[i]).filter(|k| known(k)).is_none() {
        return false;
    }
    let (mut from, mut count, mut time, mut address) = (false, 0, false, false);
    for line in lines[i..].iter().take(7) {
        match header_key(line) {
            Some(k) if known(&k) => {
                from |= FROM_KEYS.contains(&k.as_str());
                count += 1 + run_on_keys(line, &mut from);
                let value = line.split_once([':', '：']).map_or("", |(_, v)| v);
                time |= has_time(value);
                address |= value.contains('@');
            }
            Some(_) => {}
            // A wrapped value ("Subject: a long\n  subject") continues the block.
            None if !line.trim().is_empty() => {}
            None => break,
        }
    }
    (from && count >= 3) || (count >= 2 && time && address)
}

/// Whether a lowercased header name is one of a quoted email's.
fn known(key: &str) -> bool {
    // One lookup, not a comparison with each of the 150 names.
    static KNOWN: std::sync::LazyLock<foldhash::HashSet<&str>> =
        std::sync::LazyLock::new(|| FROM_KEYS.iter().chain(OTHER_KEYS).copied().collect());
    KNOWN.contains(key)
}

/// How many more known headers a header line runs on to ("From: a@b.test Date: Thu, 24 Mar
/// 2016 08:07 -0700", as HTML headers in one paragraph read): `Key:` after a space, with a
/// capital, each one noted From-like in `from`.
fn run_on_keys(line: &str, from: &mut bool) -> usize {
    let mut count = 0;
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    for (n, w) in words.iter().enumerate() {
        // "Key:" or "Key :" (French spacing), one word, capitalised.
        let key = match w.strip_suffix([':', '：']) {
            Some(k) => k,
            None if words
                .get(n + 1)
                .is_some_and(|next| matches!(*next, ":" | "：")) =>
            {
                w
            }
            None => continue,
        };
        let key = key.trim_matches('*');
        if !key.chars().next().is_some_and(char::is_uppercase) {
            continue;
        }
        let key = key.to_lowercase();
        if known(&key) {
            *from |= FROM_KEYS.contains(&key.as_str());
            count += 1;
        }
    }
    count
}
