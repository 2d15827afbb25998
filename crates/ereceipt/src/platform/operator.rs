//! `ereceipt platform operator …` and `platform audit`: operators' certificates made and
//! revoked on the platform host, and the audit log read there. Host commands are audited too,
//! as `host:LOCAL-USER`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use ereceipt_platform::app;
use ereceipt_platform::infra::store::Store;
use ereceipt_platform::services::operators;
use ereceipt_platform::settings::Settings;

use super::{settings, Location};

#[derive(Subcommand)]
pub enum OperatorAdmin {
    /// Make operator NAME a key and a client certificate (one year) for the admin API, written
    /// to DIR as NAME.key (mode 0600), NAME.pem and ca.pem. Hand DIR to the operator.
    Add {
        #[command(flatten)]
        at: Location,
        name: String,
        /// Where to write the key and certificates (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke every certificate of operator NAME: the admin API refuses them from now on.
    Revoke {
        #[command(flatten)]
        at: Location,
        name: String,
    },
    /// List operators' certificates.
    List {
        #[command(flatten)]
        at: Location,
    },
}

/// Who runs this command on the host.
fn local_user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into())
}

/// Records a command run here in the audit log.
pub async fn audit_here(store: &Store, action: &str, target: &str, outcome: &str) -> Result<()> {
    operators::host_audit(store, &local_user(), action, target, outcome, Utc::now()).await?;
    Ok(())
}

/// Where browser links point, as the running platform computes it from the same settings.
pub fn portal_url(s: &Settings) -> String {
    match &s.delivery.portal_url {
        Some(u) => u.as_str().trim_end_matches('/').to_owned(),
        None => format!("https://{}", s.portal_listen.unwrap_or(s.listen)),
    }
}

fn write(path: &Path, contents: &[u8], private: bool) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut f, contents).with_context(|| format!("cannot write {}", path.display()))
}

pub async fn run(cmd: OperatorAdmin) -> Result<()> {
    match cmd {
        OperatorAdmin::Add { at, name, out } => {
            let s = settings(&at)?;
            let (keys, store) = app::open(&s).await?;
            std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let (key_path, cert_path) = (out.join(format!("{name}.key")), out.join(format!("{name}.pem")));
            for p in [&key_path, &cert_path] {
                anyhow::ensure!(!p.exists(), "{} exists already; choose another --out", p.display());
            }
            let pair = operators::add(&store, &keys, &name, &local_user(), Utc::now()).await?;
            write(&key_path, pair.key_pem().as_bytes(), true)?;
            write(&cert_path, pair.cert_pem().as_bytes(), false)?;
            let ca_path = out.join("ca.pem");
            if !ca_path.exists() {
                write(&ca_path, keys.ca.cert_pem().as_bytes(), false)?;
            }
            say!("operator {name}: key {} (keep it secret), certificate {}", key_path.display(), cert_path.display());
            say!(
                "use: curl --cacert {} --cert {} --key {} https://ADMIN-LISTEN/api/v1/admin/terminals",
                ca_path.display(),
                cert_path.display(),
                key_path.display()
            );
        }
        OperatorAdmin::Revoke { at, name } => {
            let (_, store) = app::open(&settings(&at)?).await?;
            let n = operators::revoke(&store, &name, &local_user(), Utc::now()).await?;
            say!("operator {name} revoked ({n} certificate(s))");
        }
        OperatorAdmin::List { at } => {
            let (_, store) = app::open(&settings(&at)?).await?;
            for o in store.operators().await? {
                say!("{}", serde_json::to_string(&o)?);
            }
        }
    }
    Ok(())
}

pub async fn audit(at: &Location, limit: i64) -> Result<()> {
    let (_, store) = app::open(&settings(at)?).await?;
    for r in store.audit_log(limit.clamp(1, 10_000)).await? {
        say!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
