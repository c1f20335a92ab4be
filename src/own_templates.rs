//! A site's own `email.html` / `email.txt` (Jinja syntax, through minijinja): checked when the
//! config is loaded and rendered when an email is composed.
//!
//! A leaf module so that `config` can refuse a broken template without depending on `compose`.

use serde::Serialize;

/// Compiles a site's own template, so a broken one is refused at load.
pub fn check(source: &str, name: &str) -> Result<(), String> {
    let mut env = minijinja::Environment::new();
    env.add_template(name, source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Renders a site's own template with the email's view as `v` (as in the built-in ones); HTML
/// is auto-escaped because the name ends in `.html`.
pub fn render(source: &str, name: &str, view: &impl Serialize) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template(name, source)?;
    Ok(env
        .get_template(name)?
        .render(minijinja::context! { v => view })?)
}
