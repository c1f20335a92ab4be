//! The one config file: parsing, defaults, and errors that name the file, line and key.
//!
//! Loading happens in two layers. [`raw`] mirrors the TOML exactly (every key optional) so that
//! serde can read it; [`load`] then resolves it into [`Config`], where every value is present,
//! checked and typed. Site settings are written once at the top level as defaults and may be
//! overridden in each `[[site]]`.
//!
//! A key that no struct takes is unknown and refused. serde's `deny_unknown_fields` would stop
//! at the first one, so instead the parsed config is written back out and compared with the file:
//! whatever the file has and the round trip lost is a key nobody reads.
//!
//! The files: [`model`] (the resolved values), [`raw`] (the serde mirror), [`defaults`] (every
//! built-in value, named once), `locate` and `probe` (spans, unknown keys, values of the wrong
//! type), `resolve` and `site` (defaults filled in, values checked), `secrets`, [`shared`] (the
//! running config, swapped on reload), `chatwoot` (`[site.chatwoot]`), `error`.

mod chatwoot;
pub mod defaults;
mod error;
mod locate;
pub mod model;
mod probe;
pub mod raw;
mod resolve;
mod secrets;
pub mod shared;
mod site;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use shared::{Shared, SiteRef};

use locate::{unknown_keys, Located};
use probe::probe_types;
use resolve::resolve;
use std::path::{Path, PathBuf};

/// The token of the built-in development site, used only when there is no config file.
pub const DEV_TOKEN: &str = "dev-token";

/// The file read when `--config` is not given.
pub const DEFAULT_PATH: &str = "replyrelay.toml";

/// Loads the config: the given file, else `./replyrelay.toml` if present, else built-in
/// defaults that run with no file at all.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    match path {
        Some(p) => load_file(p),
        None if Path::new(DEFAULT_PATH).exists() => load_file(Path::new(DEFAULT_PATH)),
        None => Ok(builtin()),
    }
}

/// Loads and checks one file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: None,
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    parse(&text, &file, base)
}

/// The configuration used when there is no file: SQLite in the working directory, emails into
/// `./outbox`, the API on loopback, and one development site whose token is [`DEV_TOKEN`].
pub fn builtin() -> Config {
    parse("", "(built-in defaults)", Path::new("")).expect("built-in defaults are valid")
}

/// Parses config text; `file` names it in errors and `base` anchors relative secret files.
pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigErrors> {
    let located = Located::new(text, file);
    let doc = toml_edit::ImDocument::parse(text.to_owned()).map_err(|e| {
        let line = e.span().map(|s| located.line_at(s.start));
        ConfigErrors(vec![ConfigError {
            file: file.into(),
            line,
            key: "(syntax)".into(),
            message: e.message().trim().to_string(),
        }])
    })?;
    // Values of the wrong type are found one key at a time (serde alone stops at the first
    // and, inside flattened settings, loses its place); without them, the rest of the file is
    // checked as usual, so that one run names every problem.
    let (raw, bad) = match toml::from_str::<raw::Config>(text) {
        Ok(raw) => (raw, Vec::new()),
        Err(e) => {
            let mut table: toml::Table = toml::from_str(text).unwrap_or_default();
            let bad = probe_types(&table);
            if bad.is_empty() {
                return Err(ConfigErrors(vec![ConfigError {
                    file: file.into(),
                    line: e.span().map(|s| located.line_at(s.start)),
                    key: "(value)".into(),
                    message: e.message().trim().to_string(),
                }]));
            }
            for (path, _) in &bad {
                locate::remove(&mut table, path);
            }
            match toml::Value::Table(table).try_into::<raw::Config>() {
                Ok(raw) => (raw, bad),
                Err(_) => {
                    let mut errors: Vec<ConfigError> = (bad.into_iter())
                        .map(|(path, message)| located.error(&doc, &path, message))
                        .collect();
                    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
                    return Err(ConfigErrors(errors));
                }
            }
        }
    };
    let bad_keys: Vec<String> = bad.iter().map(|(p, _)| locate::path_string(p)).collect();
    // Values of the wrong type first, in the order of the file; then unknown keys, then the
    // checks of what the values mean.
    let mut errors: Vec<ConfigError> = (bad.into_iter())
        .map(|(path, message)| located.error(&doc, &path, message))
        .collect();
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    let echoed = toml::Table::try_from(&raw).expect("a parsed config serializes");
    unknown_keys(doc.as_table(), &echoed, &mut Vec::new(), &mut |path| {
        if !bad_keys.contains(&locate::path_string(path)) {
            errors.push(located.error(&doc, path, "unknown key".into()));
        }
    });

    let config = resolve(
        raw,
        file.is_empty() || text.trim().is_empty(),
        base,
        &mut |path, msg| {
            // A key whose value was of the wrong type is reported for that alone (its default,
            // used meanwhile, may be "missing").
            if !bad_keys.contains(&locate::path_string(path)) {
                errors.push(located.error(&doc, path, msg));
            }
        },
    );
    if errors.is_empty() {
        let mut config = config;
        config.source = (file != "(built-in defaults)").then(|| PathBuf::from(file));
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod tests;
