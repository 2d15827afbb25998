//! A small filesystem of its own, to be filled up: a tmpfs of a few MiB or, where tmpfs cannot be
//! mounted, an ext4 loop file. What a full disk does to the platform can only be seen on a real
//! full disk (SQLite's `SQLITE_FULL` comes from the kernel's `ENOSPC`), so the store tests and the
//! reliability run mount one. Mounting needs root, as `scripts/test` runs; without it the test
//! fails and says so, it does not skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

#[derive(Debug, thiserror::Error)]
pub enum SmallFsError {
    #[error("cannot mount a small filesystem (this needs root, as scripts/test runs): tmpfs said {tmpfs:?}, and the ext4 loop file {ext4}")]
    Mount { tmpfs: String, ext4: String },
    #[error("small filesystem: {0}")]
    Io(#[from] std::io::Error),
}

/// A mounted filesystem, unmounted (lazily) when dropped.
pub struct SmallFs {
    dir: PathBuf,
    how: String,
    _base: Option<TempDir>,
}

impl SmallFs {
    /// A filesystem of `size_mib` MiB mounted at a new temporary directory.
    pub fn mount(size_mib: u64) -> Result<SmallFs, SmallFsError> {
        let base = tempfile::tempdir()?;
        let mut fs = SmallFs::mount_at(&base.path().join("mnt"), &base.path().join("disk.img"), size_mib)?;
        fs._base = Some(base);
        Ok(fs)
    }

    /// A filesystem of `size_mib` MiB mounted at `dir` (created if missing); `image` is where the
    /// ext4 loop file goes if tmpfs cannot be mounted.
    pub fn mount_at(dir: &Path, image: &Path, size_mib: u64) -> Result<SmallFs, SmallFsError> {
        std::fs::create_dir_all(dir)?;
        let size = format!("size={size_mib}m");
        let tmpfs = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir).output()?;
        if tmpfs.status.success() {
            return Ok(SmallFs {
                dir: dir.to_owned(),
                how: format!("tmpfs of {size_mib} MiB (mount -t tmpfs -o {size})"),
                _base: None,
            });
        }
        let tmpfs = String::from_utf8_lossy(&tmpfs.stderr).trim().to_owned();
        let made = Command::new("truncate").args(["-s", &format!("{size_mib}M")]).arg(image).status()?.success()
            && Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image).status()?.success();
        if !made {
            return Err(SmallFsError::Mount { tmpfs, ext4: "could not be made (truncate, mkfs.ext4)".into() });
        }
        if !Command::new("mount").args(["-o", "loop"]).arg(image).arg(dir).status()?.success() {
            return Err(SmallFsError::Mount { tmpfs, ext4: "could not be mounted".into() });
        }
        Ok(SmallFs {
            dir: dir.to_owned(),
            how: format!("ext4 loop file of {size_mib} MiB (tmpfs: {tmpfs})"),
            _base: None,
        })
    }

    /// Where it is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What was mounted, for a report.
    pub fn how(&self) -> &str {
        &self.how
    }

    /// Writes zeros to `name` in the filesystem until it is full (down to the last byte);
    /// returns the bytes written. Remove the file to give the space back.
    pub fn fill(&self, name: &str) -> Result<u64, SmallFsError> {
        let mut f = std::fs::File::create(self.dir.join(name))?;
        let block = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => return Err(e.into()),
            }
        }
        while f.write(&block[..1]).is_ok_and(|n| n == 1) {
            written += 1;
        }
        let _ = f.sync_all();
        Ok(written)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
