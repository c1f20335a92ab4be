//! Secrets given inline, or read from a file, an environment variable or a systemd credential.

use super::raw;
use std::path::Path;

/// Reads a secret wherever it lives.
pub(super) fn read_secret(secret: &raw::Secret, base: &Path) -> Result<String, String> {
    match secret {
        raw::Secret::Literal(s) => Ok(s.clone()),
        raw::Secret::File { file } => {
            let p = base.join(file);
            std::fs::read_to_string(&p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read secret file {}: {e}", p.display()))
        }
        raw::Secret::Env { env } => {
            std::env::var(env).map_err(|_| format!("environment variable {env} is not set"))
        }
        raw::Secret::Credential { credential } => {
            let dir = std::env::var("CREDENTIALS_DIRECTORY").map_err(|_| {
                "CREDENTIALS_DIRECTORY is not set (not run by systemd with LoadCredential=)"
                    .to_string()
            })?;
            let p = Path::new(&dir).join(credential);
            std::fs::read_to_string(&p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read credential {}: {e}", p.display()))
        }
    }
}
