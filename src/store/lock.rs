//! One gateway per data folder: an operating-system lock on `data_dir/aedgate.lock`, held
//! for as long as the gateway runs.
//!
//! SQLite lets two processes open one database, so a second `aedgate serve` on the same
//! `data_dir` used to start, report SERVING, and from then on make every Submit of the
//! first fail with STORE_UNAVAILABLE (two writers taking turns at the write lock, each with
//! its own idea of the log's frontier). The lock turns that into a refusal at start, naming
//! the holder. It is advisory (`flock`), released by the kernel when the holder exits, even
//! by `kill -9`, so a crash never leaves a stale lock behind.

use super::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the data folder; it holds the holder's pid, for the message.
pub const LOCK_FILE: &str = "aedgate.lock";

/// Held for as long as it lives; dropping it releases the data folder.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the data folder (creating it if missing) or says who holds it.
    ///
    /// # Errors
    ///
    /// [`StoreError::InUse`] when another process (or another gateway in this one) holds
    /// it; [`StoreError::Open`] when the folder or the file cannot be made.
    pub fn acquire(data_dir: &Path) -> Result<Self, StoreError> {
        let open_error = |e: std::io::Error| StoreError::Open {
            path: data_dir.to_path_buf(),
            source: Box::new(e),
        };
        std::fs::create_dir_all(data_dir).map_err(open_error)?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(open_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::InUse {
                    path: data_dir.to_path_buf(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(open_error(e)),
        }
        // Ours now: say who holds it, for the next one to be refused.
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(open_error)?;
        Ok(Self { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDirLock {
    /// Unlocks explicitly rather than by closing: a process spawned by another thread at
    /// that moment holds a copy of every descriptor until its exec closes it, and an flock
    /// lives as long as any copy does, so a gateway restarted in the same process could
    /// find its own folder still locked. Unlocking through one copy releases them all.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
