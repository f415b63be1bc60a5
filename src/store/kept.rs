//! What a gateway keeps in its data folder beside the database, so that the database can
//! be checked against it: the latest tree head it signed, and every trust list it admitted
//! envelopes under.
//!
//! **The head (`log-head.json`).** A log must never be shorter than a tree head its
//! gateway signed (§9): partners hold those heads and receipts under them. But a database
//! can lose its last commits without a word: after a `kill -9`, one changed byte in
//! SQLite's write-ahead log makes recovery drop that frame and every frame after it, and
//! the gateway used to start on the shorter log and hand the lost entries' `log_index`
//! out again. So before a head of size N is served, a signed head of size ≥ N is written
//! here (to a temporary file, fsynced, renamed, the folder fsynced), and [`Store::open`]
//! refuses a log that is shorter or has another root at that size. The file is the same
//! JSON as `audit watch`'s state file, so an operator can hand it to `verify-store --head`
//! or to partners as it is. Writes are coalesced: whoever comes while one is under way
//! waits for it and then finds its size covered, or writes the newest head for everyone
//! who came meanwhile.
//!
//! **The trust lists (`trust-list.v{version}.{digest}.json` and `.sig`).** An envelope's
//! signature is checked at admission against the list in force then; once the list is
//! replaced, its keys may be gone from every later one. The store keeps an exact copy of
//! each list an envelope is queued under, before the envelope is committed, so that
//! `verify-store` can check every stored signature offline, years later.
//!
//! [`Store::open`]: super::Store::open

use super::{Issuer, LogHead, StoreError};
use crate::core::audit::sign_tree_head;
use crate::core::trust::TrustList;
use crate::proto::v1::SignedTreeHead;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::watch;

/// The kept tree head's file name in the data folder.
pub const HEAD_FILE: &str = "log-head.json";

/// How kept trust lists are named: `trust-list.v3.0123456789ab.json` (version, then the
/// first 6 bytes of the file's SHA-256, so that two lists of one version never share a
/// name), with the detached signature beside it as `….json.sig`.
const LIST_PREFIX: &str = "trust-list.v";
const LIST_SUFFIX: &str = ".json";
const SIGNATURE_SUFFIX: &str = ".sig";

fn kept_error(path: &Path, cause: impl std::fmt::Display) -> StoreError {
    StoreError::Kept {
        path: path.to_path_buf(),
        cause: cause.to_string(),
    }
}

/// The tree head kept in `data_dir`, if there is one.
///
/// # Errors
///
/// [`StoreError::Kept`] when the file exists but cannot be read or is not a tree head: the
/// gateway must not guess what it promised.
pub fn read_head(data_dir: &Path) -> Result<Option<SignedTreeHead>, StoreError> {
    let path = data_dir.join(HEAD_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(kept_error(&path, e)),
    };
    crate::formats::audit::read_tree_head(&bytes)
        .map(Some)
        .map_err(|e| kept_error(&path, e))
}

/// The trust lists kept in `data_dir`, by file name, in name order.
///
/// # Errors
///
/// [`StoreError::Kept`] when the folder or a kept list cannot be read, or a list is not a
/// consistent trust list.
pub fn read_trust_lists(data_dir: &Path) -> Result<Vec<(String, TrustList)>, StoreError> {
    let entries = std::fs::read_dir(data_dir).map_err(|e| kept_error(data_dir, e))?;
    let mut lists = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| kept_error(data_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(LIST_PREFIX) && name.ends_with(LIST_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(|e| kept_error(&path, e))?;
        let list = TrustList::read_kept(&bytes).map_err(|e| kept_error(&path, e))?;
        lists.push((name, list));
    }
    lists.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(lists)
}

/// Replaces `dir/name` with `bytes` so that a crash leaves either the old file or the new
/// one, never a part: a temporary file, fsynced, renamed over the old one, and the folder
/// fsynced so that the rename itself is on disk.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The data folder's kept files for one open store.
#[derive(Debug)]
pub(super) struct Kept {
    data_dir: PathBuf,
    /// Who signs the kept heads: the administration, as for what the writer issues.
    issuer: Issuer,
    /// The latest committed head, which is what gets kept.
    head: watch::Receiver<LogHead>,
    /// The largest size durably kept.
    kept_size: AtomicU64,
    /// One head write at a time; those who wait for it are usually covered by it.
    head_turn: tokio::sync::Mutex<()>,
    /// Set at shutdown: from then on heads are kept only when asked for, never in the
    /// background, so that nothing appears in the folder after the gateway stopped.
    closed: AtomicBool,
    /// Digests of the trust lists kept (or found kept) since the store was opened.
    lists: Mutex<HashSet<[u8; 32]>>,
    /// One trust-list write at a time.
    list_turn: tokio::sync::Mutex<()>,
}

impl Kept {
    /// The kept files of the store in `data_dir`, whose head is `kept_size` as found at
    /// start.
    pub(super) fn new(
        data_dir: &Path,
        issuer: Issuer,
        head: watch::Receiver<LogHead>,
        kept_size: u64,
    ) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            issuer,
            head,
            kept_size: AtomicU64::new(kept_size),
            head_turn: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            lists: Mutex::new(HashSet::new()),
            list_turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Returns once a head of at least `size` entries is durably kept, writing the latest
    /// committed head if it is not.
    ///
    /// # Errors
    ///
    /// [`StoreError::Kept`] when the file cannot be written: a head of that size must then
    /// not be served.
    pub(super) async fn keep_head(&self, size: u64) -> Result<(), StoreError> {
        self.keep(size, false).await
    }

    /// [`Kept::keep_head`] for the task that follows commits: nothing once closed.
    pub(super) async fn follow(&self, size: u64) -> Result<(), StoreError> {
        self.keep(size, true).await
    }

    /// Whether the store was closed: the following task ends.
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Keeps the latest head and stops keeping heads in the background; returns once no
    /// write is under way. Called at shutdown.
    pub(super) async fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::Release);
        let size = self.head.borrow().size;
        self.keep(size, false).await
    }

    async fn keep(&self, size: u64, following: bool) -> Result<(), StoreError> {
        if size == 0 || self.kept_size.load(Ordering::Acquire) >= size {
            return Ok(());
        }
        let _turn = self.head_turn.lock().await;
        // Checked under the turn: once `close` holds it, the follower writes no more.
        if self.kept_size.load(Ordering::Acquire) >= size || (following && self.is_closed()) {
            return Ok(());
        }
        // The newest head, not just `size`: it covers everyone who came while waiting.
        let head = *self.head.borrow();
        let signer = &self.issuer.signer;
        let signed = sign_tree_head(
            &self.issuer.participant,
            head.size,
            crate::clock::now_ms(),
            &head.root,
            &signer.key,
            &signer.key_id,
        );
        let text = crate::formats::audit::tree_head_to_json(&signed);
        let dir = self.data_dir.clone();
        tokio::task::spawn_blocking(move || write_durably(&dir, HEAD_FILE, text.as_bytes()))
            .await
            .map_err(|e| kept_error(&self.data_dir.join(HEAD_FILE), e))?
            .map_err(|e| kept_error(&self.data_dir.join(HEAD_FILE), e))?;
        self.kept_size.fetch_max(head.size, Ordering::AcqRel);
        Ok(())
    }

    /// Keeps an exact copy of `list` (and its signature) in the data folder, unless one is
    /// there already. A list built in memory (tests) has no file to keep.
    ///
    /// # Errors
    ///
    /// [`StoreError::Kept`] when it cannot be written: an envelope admitted under it must
    /// then not be stored, or its signature could never be checked again.
    pub(super) async fn keep_trust_list(&self, list: &TrustList) -> Result<(), StoreError> {
        let digest = list.file_digest();
        let file = list.signed_file();
        if file.list.is_empty() || self.has_list(&digest) {
            return Ok(());
        }
        let _turn = self.list_turn.lock().await;
        if self.has_list(&digest) {
            return Ok(());
        }
        let name = format!(
            "{LIST_PREFIX}{}.{}{LIST_SUFFIX}",
            list.version(),
            hex::encode(&digest[..6])
        );
        let dir = self.data_dir.clone();
        let file = file.clone();
        let path = self.data_dir.join(&name);
        tokio::task::spawn_blocking(move || {
            let kept = std::fs::read(dir.join(&name)).ok();
            let signature_name = format!("{name}{SIGNATURE_SUFFIX}");
            let kept_signature = std::fs::read(dir.join(&signature_name)).ok();
            if kept_signature.as_deref() != Some(&file.signature[..]) {
                write_durably(&dir, &signature_name, &file.signature)?;
            }
            if kept.as_deref() != Some(&file.list[..]) {
                write_durably(&dir, &name, &file.list)?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|e| kept_error(&path, e))?
        .map_err(|e| kept_error(&path, e))?;
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(digest);
        }
        Ok(())
    }

    fn has_list(&self, digest: &[u8; 32]) -> bool {
        self.lists
            .lock()
            .map(|lists| lists.contains(digest))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_write_replaces_the_file_whole_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_durably(dir.path(), HEAD_FILE, b"first").expect("write");
        write_durably(dir.path(), HEAD_FILE, b"second").expect("write");
        assert_eq!(
            std::fs::read(dir.path().join(HEAD_FILE)).expect("read"),
            b"second"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(HEAD_FILE)]);
    }

    #[test]
    fn no_head_file_is_none_and_a_damaged_one_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(read_head(dir.path()), Ok(None)));
        std::fs::write(dir.path().join(HEAD_FILE), b"{\"log_id\": ").expect("write");
        let error = read_head(dir.path()).expect_err("damaged");
        assert!(error.to_string().contains(HEAD_FILE), "{error}");
    }
}
