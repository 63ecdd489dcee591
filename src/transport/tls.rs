//! TLS and mutual TLS on the gRPC listener (rustls, `ring` backend).
//!
//! # Model
//!
//! The gateway can hold cloud credentials (AK/SK, an IAM user) and use them for
//! callers that send no token of their own. Whoever can reach its port can then
//! act on the cloud account, so on anything but loopback the listener must not be
//! plaintext and open:
//!
//! - `--tls-cert` + `--tls-key` serve gRPC over TLS (ALPN `h2`, `http/1.1`), so
//!   tokens and data cannot be read or altered on the wire;
//! - adding `--tls-client-ca` turns on mutual TLS: the handshake fails unless the
//!   client presents a certificate chaining to that CA bundle, so only holders of
//!   such a certificate can use the gateway (and its held credentials) at all;
//! - alternatively, run plaintext on loopback behind a service-mesh sidecar that
//!   terminates mTLS for the gateway.
//!
//! Everything is loaded once, at start-up: a missing or unusable file stops the
//! gateway before it serves ([`TlsError`] names the file). Rotating certificates
//! means restarting the process.

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{
        CertificateDer, PrivateKeyDer,
        pem::{self, PemObject},
    },
    server::{VerifierBuilderError, WebPkiClientVerifier},
};

/// ALPN protocols offered, in order of preference: gRPC needs HTTP/2.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why the TLS settings could not be built. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read (missing, unreadable, a directory…).
    #[error("cannot read {what} file {}: {source}", path.display())]
    Read {
        /// Which setting the file belongs to, e.g. `TLS certificate`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("{what} file {} is not valid PEM: {source}", path.display())]
    Pem {
        /// Which setting the file belongs to.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The PEM parsing error.
        source: pem::Error,
    },
    /// A certificate file holds no `CERTIFICATE` PEM block.
    #[error("no certificate found in {what} file {} (expected PEM `BEGIN CERTIFICATE` blocks)", path.display())]
    NoCertificate {
        /// Which setting the file belongs to.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error("no private key found in TLS key file {} (expected a PEM PKCS#8, PKCS#1 or SEC1 private key)", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The client CA bundle holds a certificate rustls cannot use as a trust anchor.
    #[error("invalid client CA file {}: {reason}", path.display())]
    InvalidClientCa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate and key cannot be used together (mismatched pair,
    /// unsupported key type, malformed certificate).
    #[error("cannot use TLS certificate {} with key {}: {source}", cert.display(), key.display())]
    CertifiedKey {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The crypto provider supports no safe protocol version (a build problem).
    #[error("the TLS crypto provider is unusable: {0}")]
    Provider(rustls::Error),
    /// The settings are incomplete, e.g. a certificate without a key.
    #[error("incomplete TLS settings: {0}")]
    Incomplete(&'static str),
}

/// The crypto backend of this crate (see `PITFALLS.md`: one provider only).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in a PEM file, in file order; at least one.
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what,
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem_bytes = read("TLS key", path)?;
    PrivateKeyDer::from_pem_slice(&pem_bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        source => TlsError::Pem {
            what: "TLS key",
            path: path.to_owned(),
            source,
        },
    })
}

/// Builds the listener's rustls configuration from PEM files.
///
/// `cert` is the server's certificate chain (leaf first), `key` its private key
/// (PKCS#8, PKCS#1 or SEC1). With `client_ca`, every client must present a
/// certificate chaining to one of the CA certificates in that bundle (mutual
/// TLS); without it, clients are not asked for certificates. ALPN offers `h2`
/// then `http/1.1`; TLS 1.2 and 1.3 are accepted.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates("TLS certificate", cert)?;
    let private_key = private_key(key)?;
    let provider = provider();

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Provider)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let invalid = |reason: String| TlsError::InvalidClientCa {
                path: ca_path.to_owned(),
                reason,
            };
            let mut roots = RootCertStore::empty();
            for ca in certificates("client CA", ca_path)? {
                roots
                    .add(ca)
                    .map_err(|e| invalid(format!("not a usable CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e: VerifierBuilderError| invalid(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, private_key)
        .map_err(|source| TlsError::CertifiedKey {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        })?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The PEM files of the listener's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA bundle client certificates must chain to (mutual TLS), if any.
    pub client_ca: Option<PathBuf>,
}

/// The listener's TLS configuration from `files`: `None` (plaintext) when
/// there are none.
pub fn load(files: Option<&TlsFiles>) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let Some(files) = files else {
        return Ok(None);
    };
    let client_ca = files.client_ca.as_deref();
    let tls = server_config(&files.cert, &files.key, client_ca)?;
    tracing::info!(
        cert = %files.cert.display(),
        client_ca = %client_ca.map_or_else(|| "(none)".into(), |p| p.display().to_string()),
        mutual = client_ca.is_some(),
        "gRPC listener serves TLS"
    );
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named() {
        let err = server_config(
            Path::new("/nonexistent/cert.pem"),
            Path::new("/nonexistent/key.pem"),
            None,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TlsError::Read { .. }), "{msg}");
        assert!(msg.contains("/nonexistent/cert.pem"), "{msg}");
        assert!(msg.contains("TLS certificate"), "{msg}");
    }

    #[test]
    fn a_file_without_pem_blocks_has_no_certificate() {
        let dir = std::env::temp_dir().join(format!("cbr-gateway-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = certificates("TLS certificate", &path).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let err = private_key(&path).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
        assert!(err.to_string().contains("empty.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
