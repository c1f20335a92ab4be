//! User-visible strings, kept as data in `templates/i18n/*.toml` so that a language is a file,
//! not code. The files are compiled in; a key missing from a language falls back to English.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Every language file: (language code, TOML text).
const FILES: &[(&str, &str)] = &[
    ("en", include_str!("../templates/i18n/en.toml")),
    ("es", include_str!("../templates/i18n/es.toml")),
    ("pt", include_str!("../templates/i18n/pt.toml")),
    ("fr", include_str!("../templates/i18n/fr.toml")),
    ("de", include_str!("../templates/i18n/de.toml")),
    ("ru", include_str!("../templates/i18n/ru.toml")),
    ("vi", include_str!("../templates/i18n/vi.toml")),
    ("id", include_str!("../templates/i18n/id.toml")),
    ("ar", include_str!("../templates/i18n/ar.toml")),
    ("ja", include_str!("../templates/i18n/ja.toml")),
];

/// The languages written right to left: their emails set `dir="rtl"`.
pub fn is_rtl(lang: &str) -> bool {
    matches!(lang, "ar" | "he" | "fa" | "ur")
}

/// The languages emails can be written in.
pub fn languages() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(lang, _)| *lang)
}

/// The strings of one language.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Strings {
    pub subject: String,
    pub from_agent: String,
    pub reply_marker: String,
    pub intro_unread: String,
    pub intro_transcript: String,
    pub intro_closed: String,
    pub earlier: String,
    pub new_label: String,
    pub times_in: String,
    pub you: String,
    pub system: String,
    pub attachment: String,
    pub reply_hint: String,
    pub continue_in_chat: String,
    pub why: String,
    pub unsubscribe: String,
    pub unsubscribe_title: String,
    pub unsubscribe_confirm: String,
    pub unsubscribe_done: String,
    pub unsubscribe_invalid: String,
}

fn table() -> &'static HashMap<&'static str, Strings> {
    static TABLE: OnceLock<HashMap<&'static str, Strings>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let english: toml::Table = toml::from_str(FILES[0].1).expect("en.toml parses");
        FILES
            .iter()
            .map(|(lang, text)| {
                // Start from English so a partial translation still renders.
                let mut merged = english.clone();
                let own: toml::Table = toml::from_str(text)
                    .unwrap_or_else(|e| panic!("templates/i18n/{lang}.toml: {e}"));
                merged.extend(own);
                let strings: Strings = merged
                    .try_into()
                    .unwrap_or_else(|e| panic!("templates/i18n/{lang}.toml: {e}"));
                (*lang, strings)
            })
            .collect()
    })
}

/// Whether `key` names one of the strings.
pub fn is_key(key: &str) -> bool {
    let english: toml::Table = toml::from_str(FILES[0].1).expect("en.toml parses");
    english.contains_key(key)
}

/// Like [`strings`], with a site's replacements for the language chosen applied on top.
pub fn strings_for<'a>(
    overrides: &HashMap<String, HashMap<String, String>>,
    languages: impl IntoIterator<Item = &'a str>,
) -> (&'static str, std::borrow::Cow<'static, Strings>) {
    let (lang, base) = strings(languages);
    let Some(own) = overrides.get(lang).filter(|o| !o.is_empty()) else {
        return (lang, std::borrow::Cow::Borrowed(base));
    };
    let mut table = toml::Table::try_from(base).expect("strings serialize");
    for (k, v) in own {
        table.insert(k.clone(), toml::Value::String(v.clone()));
    }
    match table.try_into() {
        Ok(s) => (lang, std::borrow::Cow::Owned(s)),
        Err(_) => (lang, std::borrow::Cow::Borrowed(base)),
    }
}

/// The strings for the first of `languages` that we have, else English.
pub fn strings<'a>(
    languages: impl IntoIterator<Item = &'a str>,
) -> (&'static str, &'static Strings) {
    let t = table();
    for lang in languages {
        if let Some((code, s)) = t.get_key_value(lang) {
            return (code, s);
        }
    }
    ("en", &t["en"])
}

/// The "reply above this line" marker of every language, without its `#` decoration: where a
/// visitor's answer ends and our own email begins. Gathered once: every reply reads them.
pub fn reply_markers() -> &'static [&'static str] {
    static MARKERS: OnceLock<Vec<&'static str>> = OnceLock::new();
    MARKERS.get_or_init(|| {
        table()
            .values()
            .map(|s| s.reply_marker.trim().trim_matches('#').trim())
            .collect()
    })
}

/// Fills `{name}` placeholders.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_loads_and_falls_back() {
        assert_eq!(table().len(), FILES.len());
        // Every file has every key (no silent English in a translation).
        let english: toml::Table = toml::from_str(FILES[0].1).unwrap();
        for (lang, text) in FILES {
            let own: toml::Table = toml::from_str(text).unwrap();
            let missing: Vec<_> = english.keys().filter(|k| !own.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
        }
        assert_eq!(strings(["pt"]).1.you, "Você");
        assert_eq!(strings(["xx", "en"]).0, "en");
        assert_eq!(
            fill("{agent} from {site}", &[("agent", "Ana"), ("site", "Acme")]),
            "Ana from Acme"
        );
    }
}
