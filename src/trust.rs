//! One trust store for every TLS client of the daemon: the SMTP relay, the webhooks, the IMAP
//! mailbox. It is the system's roots (as the platform verifier reads them: on Linux the
//! distribution's bundle, `SSL_CERT_FILE` and `SSL_CERT_DIR` honoured) plus the certificates of
//! `[tls] ca_file`, for relays and platforms behind an internal CA. One place decides what a
//! server must prove, so the three clients cannot drift apart.

use anyhow::Context;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;

/// What every TLS client trusts. Cheap to clone.
#[derive(Clone)]
pub struct Trust {
    /// The `ca_file` certificates, added to the system's roots; lettre is handed them itself
    /// (it builds its own client config over the same verifier).
    extra: Arc<[CertificateDer<'static>]>,
    /// The client config for everything built on rustls directly (webhooks, IMAP).
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trust(system roots + {} extra)", self.extra.len())
    }
}

impl Trust {
    /// The system's roots plus `extra`.
    pub fn new(extra: Vec<CertificateDer<'static>>) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra.clone(),
            provider.clone(),
        )
        .context("cannot set up certificate verification")?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .dangerous() // a verifier of our choosing, not an absence of one
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Self {
            extra: extra.into(),
            config: Arc::new(config),
        })
    }

    /// The client config for rustls-based clients.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// lettre's TLS parameters for a relay at `host`, with the same roots.
    pub fn smtp(&self, host: &str) -> anyhow::Result<TlsParameters> {
        let mut builder = TlsParameters::builder(host.to_string());
        for der in self.extra.iter() {
            builder = builder.add_root_certificate(Certificate::from_der(der.to_vec())?);
        }
        Ok(builder.build_rustls()?)
    }
}

/// The certificates of a PEM file (`[tls] ca_file`); an error says what is wrong with it.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    // Each must be a certificate a verifier can use as a root, not merely base64.
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| {
            format!(
                "certificate {} of {} cannot be a root: {e}",
                i + 1,
                path.display()
            )
        })?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_read_or_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, ca.cert.pem()).unwrap();
        assert_eq!(read_ca_file(&good).unwrap().len(), 1);
        let cases = [
            ("missing.pem", None, "cannot read"),
            (
                "empty.pem",
                Some("not a certificate\n"),
                "holds no certificate",
            ),
            (
                "broken.pem",
                Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                "cannot be a root",
            ),
        ];
        for (name, text, want) in cases {
            let path = dir.path().join(name);
            if let Some(text) = text {
                std::fs::write(&path, text).unwrap();
            }
            let err = read_ca_file(&path).unwrap_err();
            assert!(err.contains(want), "{name}: {err}");
        }
        assert!(Trust::new(read_ca_file(&good).unwrap()).is_ok());
    }
}
