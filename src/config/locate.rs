//! Where a key is written: key paths, byte offsets to lines, and the keys nobody reads.

use super::ConfigError;

/// A step in a key path: a table key or an array index.
#[derive(Clone, Debug)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Config text with its line starts, to turn byte offsets into line numbers.
pub(super) struct Located<'a> {
    file: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Located<'a> {
    pub(super) fn new(text: &str, file: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { file, line_starts }
    }

    pub(super) fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    pub(super) fn error(
        &self,
        doc: &toml_edit::ImDocument<String>,
        path: &[Seg],
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.into(),
            line: span_of(doc, path).map(|o| self.line_at(o)),
            key: path_string(path),
            message,
        }
    }
}

/// Where in the file a key path is written: its key, or the nearest enclosing one.
pub(super) fn span_of(doc: &toml_edit::ImDocument<String>, path: &[Seg]) -> Option<usize> {
    use toml_edit::{Item, Table, Value};

    fn in_table(t: &Table, path: &[Seg], found: Option<usize>) -> Option<usize> {
        match path.split_first() {
            Some((Seg::Key(k), rest)) => match t.get_key_value(k) {
                Some((key, v)) => in_item(v, rest, key.span().map(|s| s.start).or(found)),
                None => found,
            },
            _ => found,
        }
    }
    fn in_item(item: &Item, path: &[Seg], found: Option<usize>) -> Option<usize> {
        match (item, path.first()) {
            (Item::Table(t), _) => in_table(t, path, found),
            (Item::ArrayOfTables(a), Some(Seg::Index(i))) => match a.get(*i) {
                Some(t) => in_table(t, &path[1..], t.span().map(|s| s.start).or(found)),
                None => found,
            },
            (Item::Value(v), _) => in_value(v, path, found),
            _ => found,
        }
    }
    fn in_value(v: &Value, path: &[Seg], found: Option<usize>) -> Option<usize> {
        match (v, path.split_first()) {
            (Value::InlineTable(t), Some((Seg::Key(k), rest))) => match t.get_key_value(k) {
                Some((key, v)) => in_item(v, rest, key.span().map(|s| s.start).or(found)),
                None => found,
            },
            (Value::Array(a), Some((Seg::Index(i), rest))) => match a.get(*i) {
                Some(x) => in_value(x, rest, x.span().map(|s| s.start).or(found)),
                None => found,
            },
            _ => found,
        }
    }
    in_table(doc.as_table(), path, None)
}

/// Reports every key of `written` that the round trip through the structs did not keep.
pub(super) fn unknown_keys(
    written: &toml_edit::Table,
    kept: &toml::Table,
    path: &mut Vec<Seg>,
    report: &mut dyn FnMut(&[Seg]),
) {
    for (key, item) in written.iter() {
        path.push(Seg::Key(key.to_string()));
        match (item, kept.get(key)) {
            (_, None) => report(path),
            (toml_edit::Item::Table(t), Some(toml::Value::Table(k))) => {
                unknown_keys(t, k, path, report)
            }
            (
                toml_edit::Item::Value(toml_edit::Value::InlineTable(t)),
                Some(toml::Value::Table(k)),
            ) => unknown_keys(&t.clone().into_table(), k, path, report),
            (toml_edit::Item::ArrayOfTables(a), Some(toml::Value::Array(k))) => {
                for (i, (t, kv)) in a.iter().zip(k).enumerate() {
                    if let toml::Value::Table(kt) = kv {
                        path.push(Seg::Index(i));
                        unknown_keys(t, kt, path, report);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}

pub(super) fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

/// Removes the value at `path` from a parsed table, if it is there.
pub(super) fn remove(table: &mut toml::Table, path: &[Seg]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = table;
    let mut i = 0;
    while i < parents.len() {
        let next = match (&parents[i], parents.get(i + 1)) {
            (Seg::Key(k), Some(Seg::Index(n))) => {
                i += 1;
                here.get_mut(k)
                    .and_then(toml::Value::as_array_mut)
                    .and_then(|a| a.get_mut(*n))
                    .and_then(toml::Value::as_table_mut)
            }
            (Seg::Key(k), _) => here.get_mut(k).and_then(toml::Value::as_table_mut),
            (Seg::Index(_), _) => None,
        };
        match next {
            Some(t) => here = t,
            None => return,
        }
        i += 1;
    }
    if let Seg::Key(k) = last {
        here.remove(k);
    }
}
