//! Every configuration key is exercised by some test: the keys are listed from
//! `replyrelay.example.toml` (which `docs_config.rs` holds to be the whole, loadable reference),
//! and each must be set in the TOML of at least one test (`key = …` in a test's source). A key
//! added to the daemon and its reference without a test fails here.

use std::path::{Path, PathBuf};

/// Every key of a TOML document, by name (a key set in several tables is one name here: the
/// test looks for it being set anywhere).
fn keys(doc: &toml_edit::DocumentMut) -> Vec<String> {
    fn walk(item: &toml_edit::Item, out: &mut Vec<String>) {
        match item {
            toml_edit::Item::Table(t) => {
                for (k, v) in t.iter() {
                    if !v.is_table() && !v.is_array_of_tables() {
                        out.push(k.to_string());
                    }
                    walk(v, out);
                }
            }
            toml_edit::Item::ArrayOfTables(a) => {
                for t in a.iter() {
                    walk(&toml_edit::Item::Table(t.clone()), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc.as_item(), &mut out);
    out.sort();
    out.dedup();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_config_key_is_set_by_some_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("replyrelay.example.toml")).unwrap();
    // Keys the reference shows commented out (ones that need a file of their own) count too.
    let uncommented: String = (example.lines())
        .map(|l| {
            let key_line = |r: &&str| {
                r.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
            };
            l.strip_prefix("# ").filter(key_line).unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let doc: toml_edit::DocumentMut = uncommented.parse().expect("the reference is TOML");
    let keys = keys(&doc);
    assert!(keys.len() > 40, "{keys:?}");
    let mut files = Vec::new();
    rust_files(&root.join("tests"), &mut files);
    rust_files(&root.join("src"), &mut files);
    // Test code only: whole files under tests/, and the `tests` modules in src/.
    let sources: String = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            if p.starts_with(root.join("tests")) || p.ends_with("tests.rs") {
                text
            } else {
                text.split("#[cfg(test)]").skip(1).collect()
            }
        })
        .collect();
    let untested: Vec<&String> = keys
        .iter()
        .filter(|k| {
            // Set in a TOML string, at a line's start, in a format string or after a `\n`, or
            // by the test daemon's `# smtp KEY = …` / `# delivery KEY = …` lines.
            ![
                format!("\n{k} = "),
                format!("\\n{k} = "),
                format!("\"{k} = "),
                format!("# smtp {k} = "),
                format!("# delivery {k} = "),
            ]
            .iter()
            .any(|p| sources.contains(p.as_str()))
        })
        .collect();
    assert!(untested.is_empty(), "keys no test sets: {untested:?}");
}
