//! Finding every value of the wrong type, one key at a time.

use super::locate::{key, Seg};
use super::raw;

/// Deserializes each key of each table on its own into the struct that owns it, and reports
/// the keys whose values do not fit.
pub(super) fn probe_types(top: &toml::Table) -> Vec<(Vec<Seg>, String)> {
    use serde::de::DeserializeOwned;
    fn each<T: DeserializeOwned>(
        table: &toml::Table,
        path: &[Seg],
        skip: &[&str],
        out: &mut Vec<(Vec<Seg>, String)>,
    ) {
        for (k, v) in table {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let one = toml::Table::from_iter([(k.clone(), v.clone())]);
            if let Err(e) = toml::Value::Table(one).try_into::<T>() {
                let mut p = path.to_vec();
                p.push(Seg::Key(k.clone()));
                out.push((p, e.message().trim().to_string()));
            }
        }
    }
    fn table<'a>(t: &'a toml::Table, k: &str) -> Option<&'a toml::Table> {
        t.get(k).and_then(toml::Value::as_table)
    }
    /// The table at `path`, probed key by key, its well-shaped `subsections` left to their own
    /// probe.
    fn section<T: DeserializeOwned>(
        top: &toml::Table,
        path: &[&str],
        subsections: &[&str],
        out: &mut Vec<(Vec<Seg>, String)>,
    ) {
        let mut t = top;
        for k in path {
            match table(t, k) {
                Some(inner) => t = inner,
                None => return,
            }
        }
        let skip: Vec<&str> = (subsections.iter().copied())
            .filter(|k| table(t, k).is_some())
            .collect();
        let at: Vec<Seg> = path.iter().map(|k| key(k)).collect();
        each::<T>(t, &at, &skip, out);
    }
    let mut out = Vec::new();
    // Sections that are well-shaped tables are probed key by key; anything else as a whole.
    let sections = ["api", "database", "delivery", "secrets", "inbound"];
    let mut whole: Vec<&str> = sections
        .iter()
        .copied()
        .filter(|k| table(top, k).is_some())
        .collect();
    let sites = top.get("site").and_then(toml::Value::as_array);
    if sites.is_some_and(|a| a.iter().all(toml::Value::is_table)) {
        whole.push("site");
    }
    each::<raw::Config>(top, &[], &whole, &mut out);
    // Every table of `raw::Config`, with the tables inside it (the test `a_bad_value_in_any_section_names_its_own_line_and_key` writes one bad value in each).
    section::<raw::Api>(top, &["api"], &[], &mut out);
    section::<raw::Database>(top, &["database"], &[], &mut out);
    section::<raw::Delivery>(top, &["delivery"], &["smtp"], &mut out);
    section::<raw::Smtp>(top, &["delivery", "smtp"], &[], &mut out);
    section::<raw::Secrets>(top, &["secrets"], &[], &mut out);
    section::<raw::Inbound>(top, &["inbound"], &["smtp", "imap"], &mut out);
    section::<raw::Listener>(top, &["inbound", "smtp"], &[], &mut out);
    section::<raw::Imap>(top, &["inbound", "imap"], &[], &mut out);
    if let Some(sites) = sites {
        for (i, s) in sites.iter().enumerate() {
            if let Some(t) = s.as_table() {
                each::<raw::Site>(t, &[key("site"), Seg::Index(i)], &[], &mut out);
            }
        }
    }
    out
}
