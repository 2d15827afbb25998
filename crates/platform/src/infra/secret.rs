//! A secret from the settings (a password, a token) that never shows in `Debug` output or logs.

use serde::Deserialize;

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "<unset>" } else { "<redacted>" })
    }
}
