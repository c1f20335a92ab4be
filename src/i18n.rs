//! User-visible strings, kept as data in `templates/i18n/*.toml` so that a language is a file,
//! not code. The files are compiled in; a key missing from a language falls back to English.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Every language file: (language code, TOML text).
const FILES: &[(&str, &str)] = &[("en", include_str!("../templates/i18n/en.toml"))];

/// The strings of one language.
#[derive(Clone, Debug, Deserialize)]
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
/// visitor's answer ends and our own email begins.
pub fn reply_markers() -> Vec<&'static str> {
    table()
        .values()
        .map(|s| s.reply_marker.trim().trim_matches('#').trim())
        .collect()
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
        assert_eq!(strings(["xx", "en"]).0, "en");
        assert_eq!(
            fill("{agent} from {site}", &[("agent", "Ana"), ("site", "Acme")]),
            "Ana from Acme"
        );
    }
}
