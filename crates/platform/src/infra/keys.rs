//! The platform's key material in its data directory, made on first start: the CA (same code as
//! `ereceipt ca`), the TLS server certificate, the HPKE key pair, the acknowledgement signing key
//! with its evidence certificate, and the admin token. Private files are written once, mode
//! 0600, never overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use ereceipt_core::enrolment::issue_server;
use ereceipt_core::evidence::{check_certificate, issue_certificate};
use ereceipt_core::identity::{create_ca, fingerprint_der, pem_decode, pem_encode, CertError, CertifiedKey};
use ereceipt_core::upload::{AckSigner, PlatformKey, UploadError};
use zeroize::Zeroizing;

/// Why the data directory could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A certificate or key file is not what it should be.
    #[error("{path}: {detail}")]
    Bad { path: PathBuf, detail: String },
}

/// Whether a certificate's key is Ed25519.
fn is_ed25519(cert_der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(cert_der)
        .is_ok_and(|(_, c)| c.public_key().algorithm.algorithm.to_id_string() == "1.3.101.112")
}

/// Everything the platform signs, decrypts and authenticates with.
pub struct PlatformKeys {
    pub ca: CertifiedKey,
    pub server: CertifiedKey,
    pub hpke: PlatformKey,
    pub ack: AckSigner,
    /// The CA's certificate (DER) for `ack`'s key: with it, an acknowledgement is evidence that
    /// anyone holding the CA certificate can check offline.
    pub evidence: Vec<u8>,
    /// SHA-256 of the admin token (the token itself is not kept in memory).
    pub admin_token_hash: [u8; 32],
    /// HMAC key under which one-time login codes are stored (`otp.key`).
    pub otp_key: Zeroizing<Vec<u8>>,
    /// Seals the staff's second-factor (TOTP) secrets (`totp.key`). In a data directory made
    /// before it existed, it starts as a copy of `otp.key`, which sealed them then.
    pub totp_key: Zeroizing<Vec<u8>>,
    /// Keys the portal's CSRF tokens (`csrf.key`).
    pub csrf_key: Zeroizing<Vec<u8>>,
    /// Keys the tokens of the links in messages (`link.key`): replacing it revokes every link
    /// sent, and nothing else.
    pub link_key: Zeroizing<Vec<u8>>,
}

impl PlatformKeys {
    /// SHA-256 of the CA certificate, hex: what enrolment tokens pin.
    pub fn ca_fingerprint(&self) -> String {
        fingerprint_der(&self.ca.cert_der)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeysError + '_ {
    move |source| KeysError::Io { path: path.to_path_buf(), source }
}

fn bad(path: &Path, detail: impl std::fmt::Display) -> KeysError {
    KeysError::Bad { path: path.to_path_buf(), detail: detail.to_string() }
}

/// Writes `contents` under a temporary name and renames it into place, so a crash leaves either
/// no file or the whole file, never an empty or half-written key.
///
/// The temporary file is new (`.NAME.XXXXXX.tmp` from `tempfile`, created exclusively,
/// O_EXCL, with its final mode), so nothing an earlier crash left behind is reused with its mode: a key is never
/// written into a 0644 file. The file is synced before the rename and the directory after it.
/// (The terminal's `device::write_atomic` is the same function: the two crates share only the
/// receipt core, which does no I/O.)
fn write_atomic(path: &Path, contents: &[u8], private: bool) -> Result<(), KeysError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A fresh name created exclusively (O_EXCL) with its final mode, removed if anything fails.
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(if private { 0o600 } else { 0o644 }));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io(dir))?;
    let written = tmp.write_all(contents).and_then(|()| tmp.as_file().sync_all());
    written.map_err(|e| io(tmp.path())(e))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
}

/// Writes a key and its certificate: key first, certificate last, so a present certificate
/// always has its key beside it (a key without certificate is replaced on the next start).
fn write_pair(dir: &Path, name: &str, pair: &CertifiedKey) -> Result<(), KeysError> {
    write_atomic(&dir.join(format!("{name}.key")), pair.key_pem().as_bytes(), true)?;
    write_atomic(&dir.join(format!("{name}.pem")), pair.cert_pem().as_bytes(), false)
}

fn read(path: &Path) -> Result<String, KeysError> {
    std::fs::read_to_string(path).map_err(io(path))
}

fn load_certified(dir: &Path, name: &str) -> Result<CertifiedKey, KeysError> {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    CertifiedKey::from_pem(&read(&cert)?, &read(&key)?).map_err(|e: CertError| bad(&cert, e))
}

/// 32 bytes from the system random generator, hex: the form of every secret the platform hands
/// out (admin token, enrolment secrets, session cookies) or keeps (the OTP key). `None` only if
/// the generator fails.
pub fn random_secret() -> Option<String> {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).ok()?;
    Some(hex::encode(b))
}

fn random_hex() -> Result<String, KeysError> {
    random_secret().ok_or_else(|| bad(Path::new("/dev/urandom"), "no randomness"))
}

/// SHA-256 of a bearer token or cookie value: what is stored and compared, never the secret.
pub fn token_hash(token: &str) -> [u8; 32] {
    ereceipt_core::digest::sha256(token.trim().as_bytes())
}

/// Loads the keys in `dir`, creating whatever is missing. `admin_token` (from settings) wins
/// over the token file.
///
/// Several processes may start at once on one directory (scale-out on a shared volume): an
/// exclusive lock on `DIR/.keys.lock` makes exactly one of them create the files.
pub fn load_or_create(
    dir: &Path,
    server_names: &[String],
    admin_token: Option<&str>,
) -> Result<PlatformKeys, KeysError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let lock_path = dir.join(".keys.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let keys = create_missing_then_load(dir, server_names, admin_token);
    let _ = lock.unlock();
    keys
}

fn create_missing_then_load(
    dir: &Path,
    server_names: &[String],
    admin_token: Option<&str>,
) -> Result<PlatformKeys, KeysError> {
    let now = Utc::now();
    let bad_gen = |p: &Path| {
        let p = p.to_path_buf();
        move |e: CertError| KeysError::Bad { path: p, detail: e.to_string() }
    };
    if !dir.join("ca.pem").exists() {
        let ca = create_ca("ereceipt platform CA", now).map_err(bad_gen(dir))?;
        write_pair(dir, "ca", &ca)?;
    }
    let ca = load_certified(dir, "ca")?;
    if !dir.join("server.pem").exists() {
        let server = issue_server(&ca, server_names, now, 825).map_err(bad_gen(dir))?;
        write_pair(dir, "server", &server)?;
    }
    let mut server = load_certified(dir, "server")?;
    if is_ed25519(&server.cert_der) {
        // Made by an earlier version: browsers cannot handshake with an Ed25519 server key, so
        // the portal would be unreachable. Terminals pin the CA, which stays, so nothing breaks.
        server = issue_server(&ca, server_names, now, 825).map_err(bad_gen(dir))?;
        write_pair(dir, "server", &server)?;
        tracing::info!("server certificate re-issued with an ECDSA P-256 key for browsers");
    }

    let hpke_path = dir.join("hpke.key");
    if !hpke_path.exists() {
        let key = PlatformKey::generate().map_err(|e: UploadError| bad(&hpke_path, e))?;
        write_atomic(&hpke_path, pem_encode("HPKE X25519 PRIVATE KEY", key.secret_bytes()).as_bytes(), true)?;
    }
    let secret =
        Zeroizing::new(pem_decode(&read(&hpke_path)?, "HPKE X25519 PRIVATE KEY").map_err(|e| bad(&hpke_path, e))?);
    let hpke = PlatformKey::from_secret(&secret).map_err(|e| bad(&hpke_path, e))?;

    let ack_path = dir.join("ack.key");
    if !ack_path.exists() {
        let (_, pkcs8) = AckSigner::generate().map_err(|e| bad(&ack_path, e))?;
        write_atomic(&ack_path, pem_encode("PRIVATE KEY", &pkcs8).as_bytes(), true)?;
    }
    let pkcs8 = Zeroizing::new(pem_decode(&read(&ack_path)?, "PRIVATE KEY").map_err(|e| bad(&ack_path, e))?);
    let ack = AckSigner::from_pkcs8(&pkcs8).map_err(|e| bad(&ack_path, e))?;
    let evidence = evidence_certificate(dir, &ca, &ack)?;

    let admin_path = dir.join("admin.token");
    let admin_token_hash = match admin_token {
        Some(token) => token_hash(token),
        None => {
            if !admin_path.exists() {
                write_atomic(&admin_path, format!("{}\n", random_hex()?).as_bytes(), true)?;
            }
            token_hash(&read(&admin_path)?)
        }
    };
    // One key per purpose, so that one can be replaced without the others: the TOTP key first,
    // so that a directory of an earlier version, where otp.key sealed the second factors, keeps
    // them (a new directory has no otp.key yet, and gets two random keys).
    let totp_key = secret_key(&dir.join("totp.key"), Some(&dir.join("otp.key")))?;
    let otp_key = secret_key(&dir.join("otp.key"), None)?;
    let csrf_key = secret_key(&dir.join("csrf.key"), None)?;
    let link_key = secret_key(&dir.join("link.key"), None)?;
    Ok(PlatformKeys { ca, server, hpke, ack, evidence, admin_token_hash, otp_key, totp_key, csrf_key, link_key })
}

/// The 32-byte (or longer) hex key in `path`, made first if missing: a copy of `initial` where
/// that file exists, random otherwise.
fn secret_key(path: &Path, initial: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, KeysError> {
    if !path.exists() {
        let contents = match initial.filter(|p| p.exists()) {
            Some(from) => Zeroizing::new(read(from)?),
            None => Zeroizing::new(format!("{}\n", random_hex()?)),
        };
        write_atomic(path, contents.as_bytes(), true)?;
    }
    let key = Zeroizing::new(hex::decode(read(path)?.trim()).map_err(|e| bad(path, e))?);
    if key.len() < 32 {
        return Err(bad(path, "the key is shorter than 32 bytes"));
    }
    Ok(key)
}

/// `evidence.pem`, issued on first start (and at the start of a data directory made before it
/// existed, or whose acknowledgement key or CA it no longer matches).
fn evidence_certificate(dir: &Path, ca: &CertifiedKey, ack: &AckSigner) -> Result<Vec<u8>, KeysError> {
    let path = dir.join("evidence.pem");
    if path.exists() {
        let der = pem_decode(&read(&path)?, "CERTIFICATE").map_err(|e| bad(&path, e))?;
        if check_certificate(&der, &ca.cert_der).is_ok_and(|(key, ..)| key == ack.public_key()) {
            return Ok(der);
        }
        tracing::warn!("evidence.pem does not match the CA and acknowledgement key; issuing a new one");
    }
    let der = issue_certificate(ca, ack.public_key()).map_err(|e| bad(&path, e))?;
    write_atomic(&path, pem_encode("CERTIFICATE", &der).as_bytes(), false)?;
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the data directory that holds a secret: readable by the owner only.
    const PRIVATE_FILES: [&str; 9] =
        ["ca.key", "server.key", "hpke.key", "ack.key", "admin.token", "otp.key", "totp.key", "csrf.key", "link.key"];

    #[test]
    fn made_once_then_reloaded_unchanged_with_private_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = load_or_create(dir.path(), &names, None).unwrap();
        let again = load_or_create(dir.path(), &names, None).unwrap();
        assert_eq!(first.ca.cert_der, again.ca.cert_der);
        assert_eq!(first.server.cert_der, again.server.cert_der);
        assert_eq!(first.hpke.public_bytes(), again.hpke.public_bytes());
        assert_eq!(first.ack.public_key(), again.ack.public_key());
        assert_eq!(first.admin_token_hash, again.admin_token_hash);
        assert_eq!(first.evidence, again.evidence);
        #[cfg(unix)]
        for f in PRIVATE_FILES {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let configured = load_or_create(dir.path(), &names, Some("from-settings")).unwrap();
        assert_eq!(configured.admin_token_hash, token_hash("from-settings"));
    }

    /// Finding L11: one key sealed the second factors and keyed CSRF, login codes and links, so
    /// revoking the links (a new key) signed every staff member out of their second factor.
    #[test]
    fn each_secret_has_its_own_key_and_an_earlier_directory_keeps_its_second_factors() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string()];
        let keys = load_or_create(dir.path(), &names, None).unwrap();
        let all = [&keys.otp_key, &keys.totp_key, &keys.csrf_key, &keys.link_key];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.as_slice(), b.as_slice(), "two purposes share a key");
            }
        }
        // Revoking every link leaves the second factors, CSRF and login codes alone.
        std::fs::remove_file(dir.path().join("link.key")).unwrap();
        let again = load_or_create(dir.path(), &names, None).unwrap();
        assert_ne!(again.link_key.as_slice(), keys.link_key.as_slice());
        assert_eq!(again.totp_key.as_slice(), keys.totp_key.as_slice());
        assert_eq!(again.csrf_key.as_slice(), keys.csrf_key.as_slice());
        assert_eq!(again.otp_key.as_slice(), keys.otp_key.as_slice());

        // A directory of an earlier version: otp.key only, which sealed the TOTP secrets.
        let old = tempfile::tempdir().unwrap();
        load_or_create(old.path(), &names, None).unwrap();
        for f in ["totp.key", "csrf.key", "link.key"] {
            std::fs::remove_file(old.path().join(f)).unwrap();
        }
        let before = std::fs::read_to_string(old.path().join("otp.key")).unwrap();
        let upgraded = load_or_create(old.path(), &names, None).unwrap();
        assert_eq!(hex::encode(upgraded.totp_key.as_slice()), before.trim(), "sealed secrets still open");
        assert_ne!(upgraded.link_key.as_slice(), upgraded.otp_key.as_slice());
    }

    #[test]
    fn an_ed25519_server_certificate_of_an_earlier_version_is_reissued_for_browsers() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string()];
        let first = load_or_create(dir.path(), &names, None).unwrap();
        assert!(!is_ed25519(&first.server.cert_der), "new server keys are ECDSA");
        // What earlier versions made: an Ed25519 server key (the CA's pair stands in for it).
        write_pair(dir.path(), "server", &first.ca).unwrap();
        let again = load_or_create(dir.path(), &names, None).unwrap();
        assert!(!is_ed25519(&again.server.cert_der));
        assert_eq!(again.ca.cert_der, first.ca.cert_der, "the CA the terminals pin stays");
        assert_eq!(load_or_create(dir.path(), &names, None).unwrap().server.cert_der, again.server.cert_der);
    }

    #[test]
    fn processes_starting_together_on_one_directory_agree_on_every_key() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let names = vec!["localhost".to_string()];
            let loaded: Vec<PlatformKeys> = std::thread::scope(|s| {
                let handles: Vec<_> =
                    (0..4).map(|_| s.spawn(|| load_or_create(dir.path(), &names, None).unwrap())).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for k in &loaded[1..] {
                assert_eq!(k.ca.cert_der, loaded[0].ca.cert_der);
                assert_eq!(k.server.cert_der, loaded[0].server.cert_der);
                assert_eq!(k.hpke.public_bytes(), loaded[0].hpke.public_bytes());
                assert_eq!(k.admin_token_hash, loaded[0].admin_token_hash);
            }
            // Key and certificate belong together (rustls checks it).
            crate::infra::tls::server_config(&loaded[0].ca.cert_der, &loaded[0].server).unwrap();
        }
    }

    #[test]
    fn a_key_left_without_its_certificate_by_a_crash_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.key"), "").unwrap();
        let keys = load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        crate::infra::tls::server_config(&keys.ca.cert_der, &keys.server).unwrap();
    }

    #[test]
    fn a_data_dir_without_an_evidence_certificate_gets_one_for_its_existing_ack_key() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string()];
        let first = load_or_create(dir.path(), &names, None).unwrap();
        std::fs::remove_file(dir.path().join("evidence.pem")).unwrap();
        let again = load_or_create(dir.path(), &names, None).unwrap();
        assert_eq!(again.ack.public_key(), first.ack.public_key(), "the acknowledgement key stays");
        let (key, ..) = check_certificate(&again.evidence, &again.ca.cert_der).unwrap();
        assert_eq!(key, again.ack.public_key());
        assert!(dir.path().join("evidence.pem").exists());
    }

    #[test]
    fn a_corrupt_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        std::fs::write(dir.path().join("hpke.key"), "garbage").unwrap();
        let err = load_or_create(dir.path(), &["localhost".into()], None).err().unwrap().to_string();
        assert!(err.contains("hpke.key"), "{err}");
    }

    /// What a crash while writing a certificate left in earlier versions: `NAME.tmp` at 0644,
    /// the temporary file the next key was then written through.
    #[cfg(unix)]
    #[test]
    fn stale_temporary_files_do_not_make_a_key_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for stale in ["ca.tmp", "server.tmp", "hpke.tmp", "ack.tmp", "admin.tmp", "otp.tmp"] {
            let path = dir.path().join(stale);
            std::fs::write(&path, "half a certificate").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        for f in PRIVATE_FILES {
            let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
    }
}
