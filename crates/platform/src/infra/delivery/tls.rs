//! What the channels share about TLS: which hosts may be reached in clear (loopback only, unless
//! an operator opts out by name), and the trust store of the SMPP and MM7 clients: the built-in
//! web PKI roots plus a PEM file of CA certificates, as the SMTP client has.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// `localhost` or a loopback address (`127.0.0.0/8`, `::1`, bracketed or not).
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a link in clear to `host` is acceptable: to loopback always, elsewhere only when the
/// operator set `insecure_plaintext`. `what` says what would be exposed, for the error.
pub(crate) fn plaintext_allowed(host: &str, insecure_plaintext: bool, what: &str) -> Result<(), String> {
    if is_loopback(host) || insecure_plaintext {
        return Ok(());
    }
    Err(format!(
        "a connection in clear to {host:?} would carry {what} readable by anyone on the path: it is \
         allowed only to a loopback host; use TLS, or set insecure_plaintext = true to accept that"
    ))
}

/// The TLS keys of a link's settings (the SMSC's, a carrier gateway's), checked together: in
/// clear only as [`plaintext_allowed`] says and without the TLS-only keys (`extra_ca_pem`,
/// `server_name`), which would be ignored; `insecure_plaintext` only in clear.
pub(crate) fn check_link(
    tls_required: bool,
    host: &str,
    insecure_plaintext: bool,
    tls_keys_set: bool,
    what: &str,
) -> Result<(), String> {
    if tls_required {
        if insecure_plaintext {
            return Err("insecure_plaintext = true goes only with tls = \"none\"".into());
        }
        return Ok(());
    }
    plaintext_allowed(host, insecure_plaintext, what).map_err(|e| format!("tls = \"none\": {e}"))?;
    if tls_keys_set {
        return Err("extra_ca_pem and server_name apply only with tls = \"required\"".into());
    }
    Ok(())
}

/// A TLS client configuration (ring, TLS 1.2 and 1.3) trusting the web PKI roots and the CA
/// certificates in `extra_ca_pem`.
pub(crate) fn client_config(extra_ca_pem: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra_ca_pem {
        for cert in extra_roots(path)? {
            roots.add(cert).map_err(|e| format!("extra_ca_pem {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates of a PEM file; none is an error (a key file or a typo'd path given instead).
fn extra_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("extra_ca_pem {}: {e}", path.display());
    let pem = std::fs::read(path).map_err(|e| bad(&e))?;
    let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// A TLS error as one line with its causes (rustls says which check failed: unknown issuer,
/// the name the certificate is valid for, expiry).
pub(crate) fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_count_as_loopback() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["smsc.example.net", "10.0.0.1", "0.0.0.0", "::", "localhost.example.net", "128.0.0.1"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn plaintext_away_from_loopback_needs_the_opt_out() {
        assert!(plaintext_allowed("127.0.0.1", false, "x").is_ok());
        assert!(plaintext_allowed("smsc.example.net", true, "x").is_ok());
        let err = plaintext_allowed("smsc.example.net", false, "the bind password").unwrap_err();
        assert!(err.contains("\"smsc.example.net\"") && err.contains("the bind password"), "{err}");
        assert!(err.contains("insecure_plaintext = true"), "{err}");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(client_config(Some(&missing)).unwrap_err().contains("missing.pem"));
        let not_pem = dir.path().join("key.pem");
        std::fs::write(&not_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let err = client_config(Some(&not_pem)).unwrap_err();
        assert!(err.contains("key.pem") && err.contains("no PEM certificate"), "{err}");
        assert!(client_config(None).is_ok(), "the built-in roots alone");
    }
}
