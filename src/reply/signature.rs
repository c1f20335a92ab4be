//! Mobile sign-offs ("Sent from my iPhone") in many languages.

/// "Sent from my iPhone" and the like, in the languages we know.
pub(super) fn is_signature(t: &str) -> bool {
    let core = t.trim_matches(|c: char| "()<>[]*_".contains(c) || c.is_whitespace());
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
        "get outlook for",
        "get [outlook for",
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
    if STARTS.iter().any(|s| lower.starts_with(s)) {
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
