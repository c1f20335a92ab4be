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
    let mut out = Vec::new();
    // Sections that are well-shaped tables are probed key by key; anything else as a whole.
    let sections = ["api", "database", "delivery", "secrets"];
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
    let at = |k: &str| vec![key(k)];
    if let Some(t) = table(top, "api") {
        each::<raw::Api>(t, &at("api"), &[], &mut out);
    }
    if let Some(t) = table(top, "database") {
        each::<raw::Database>(t, &at("database"), &[], &mut out);
    }
    if let Some(t) = table(top, "delivery") {
        let smtp_ok = table(t, "smtp").is_some();
        each::<raw::Delivery>(
            t,
            &at("delivery"),
            if smtp_ok { &["smtp"] } else { &[] },
            &mut out,
        );
        if let Some(smtp) = table(t, "smtp") {
            each::<raw::Smtp>(smtp, &[key("delivery"), key("smtp")], &[], &mut out);
        }
    }
    if let Some(t) = table(top, "secrets") {
        each::<raw::Secrets>(t, &at("secrets"), &[], &mut out);
    }
    if let Some(sites) = sites {
        for (i, s) in sites.iter().enumerate() {
            if let Some(t) = s.as_table() {
                each::<raw::Site>(t, &[key("site"), Seg::Index(i)], &[], &mut out);
            }
        }
    }
    out
}
