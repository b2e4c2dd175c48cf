//! The bytes of small files kept in memory, within a budget, the least
//! recently used going first.
//!
//! Every screen of a venue reads the same few segments, so each is read
//! from disk once. An entry is valid for the version of the file it was
//! read from ([`Stamp`]); whoever serves it decides how that is checked (a
//! `stat` per request, or a watch that forgets changed files).

use axum::body::Bytes;
use axum::http::HeaderValue;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Total size of the cache.
pub(crate) const CACHE_BUDGET: u64 = 96 * 1024 * 1024;

/// What makes two versions of a file the same file: a rename produces a new
/// inode, a rewrite in place a new size or modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Stamp {
    /// The stamp of a file's metadata.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }

    /// A strong validator: `"<len>-<mtime ns>"` in hex.
    pub(crate) fn etag(&self) -> HeaderValue {
        HeaderValue::from_str(&format!("\"{:x}-{:x}\"", self.len, self.mtime_ns))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
    }

    /// True when this file was written after `other` (a later modification
    /// time; the inode says nothing about order).
    pub(crate) fn is_newer_than(&self, other: &Stamp) -> bool {
        self.mtime_ns > other.mtime_ns
    }

    /// The modification time.
    pub(crate) fn modified(&self) -> Option<SystemTime> {
        let ns = u64::try_from(self.mtime_ns).ok()?;
        Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
    }
}

/// A cached file.
pub(crate) struct Hit {
    /// Its bytes (shared with the cache: no copy).
    pub(crate) data: Bytes,
    /// Its validator.
    pub(crate) etag: HeaderValue,
    /// The version it was read from.
    pub(crate) stamp: Stamp,
}

/// Files in memory, keyed by the path they were requested under.
#[derive(Default)]
pub(crate) struct FileCache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    entries: HashMap<PathBuf, Cached>,
    bytes: u64,
    clock: u64,
}

struct Cached {
    stamp: Stamp,
    data: Bytes,
    etag: HeaderValue,
    last_used: u64,
    checked_at: Instant,
}

impl Cached {
    fn hit(&self) -> Hit {
        Hit {
            data: self.data.clone(),
            etag: self.etag.clone(),
            stamp: self.stamp,
        }
    }
}

impl FileCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached file if it was checked against the disk within `within`
    /// (`None`: however long ago).
    pub(crate) fn recent(&self, path: &Path, within: Option<Duration>) -> Option<Hit> {
        let mut cache = self.lock();
        cache.clock += 1;
        let clock = cache.clock;
        let entry = cache.entries.get_mut(path)?;
        if within.is_some_and(|limit| entry.checked_at.elapsed() > limit) {
            return None;
        }
        entry.last_used = clock;
        Some(entry.hit())
    }

    /// The cached file if it is still the version `stamp` (just read from
    /// the disk): counts as a fresh check.
    pub(crate) fn current(&self, path: &Path, stamp: Stamp) -> Option<Hit> {
        let mut cache = self.lock();
        cache.clock += 1;
        let clock = cache.clock;
        let entry = cache.entries.get_mut(path)?;
        if entry.stamp != stamp {
            return None;
        }
        entry.last_used = clock;
        entry.checked_at = Instant::now();
        Some(entry.hit())
    }

    /// Keeps a file's bytes; returns its validator.
    pub(crate) fn store(&self, path: &Path, stamp: Stamp, data: Bytes) -> HeaderValue {
        let etag = stamp.etag();
        let mut cache = self.lock();
        cache.clock += 1;
        let size = data.len() as u64;
        let entry = Cached {
            stamp,
            data,
            etag: etag.clone(),
            last_used: cache.clock,
            checked_at: Instant::now(),
        };
        if let Some(old) = cache.entries.insert(path.to_path_buf(), entry) {
            cache.bytes -= old.data.len() as u64;
        }
        cache.bytes += size;
        while cache.bytes > CACHE_BUDGET {
            let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            if let Some(gone) = cache.entries.remove(&oldest) {
                cache.bytes -= gone.data.len() as u64;
            }
        }
        etag
    }

    /// Drops one file (it changed or went away).
    pub(crate) fn forget(&self, path: &Path) {
        let mut cache = self.lock();
        if let Some(gone) = cache.entries.remove(path) {
            cache.bytes -= gone.data.len() as u64;
        }
    }

    /// Drops every file below `dir`.
    pub(crate) fn forget_under(&self, dir: &Path) {
        let mut cache = self.lock();
        let mut freed = 0;
        cache.entries.retain(|path, entry| {
            let keep = !path.starts_with(dir);
            if !keep {
                freed += entry.data.len() as u64;
            }
            keep
        });
        cache.bytes -= freed;
    }

    /// Drops everything.
    pub(crate) fn clear(&self) {
        let mut cache = self.lock();
        cache.entries.clear();
        cache.bytes = 0;
    }

    /// Bytes held right now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp_of(path: &Path) -> Stamp {
        Stamp::of(&std::fs::metadata(path).expect("metadata"))
    }

    #[test]
    fn the_cache_stays_within_its_budget_dropping_the_least_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::default();
        let chunk = Bytes::from(vec![7u8; 8 * 1024 * 1024]);
        for i in 0..20 {
            let path = dir.path().join(format!("seg-{i}.ts"));
            std::fs::write(&path, b"x").expect("write");
            cache.store(&path, stamp_of(&path), chunk.clone());
        }
        assert!(
            cache.bytes() <= CACHE_BUDGET,
            "{} bytes cached",
            cache.bytes()
        );
        let newest = dir.path().join("seg-19.ts");
        assert!(cache.recent(&newest, None).is_some());
        assert!(cache.recent(&dir.path().join("seg-0.ts"), None).is_none());
    }

    #[test]
    fn a_changed_file_is_not_current_and_forgotten_files_are_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::default();
        let path = dir.path().join("cam").join("seg-1.ts");
        std::fs::create_dir(dir.path().join("cam")).expect("mkdir");
        std::fs::write(&path, b"one").expect("write");
        let first = stamp_of(&path);
        cache.store(&path, first, Bytes::from_static(b"one"));
        assert!(cache.current(&path, first).is_some());
        std::fs::write(&path, b"second").expect("write");
        assert!(cache.current(&path, stamp_of(&path)).is_none());
        assert!(cache.recent(&path, Some(Duration::ZERO)).is_none());
        cache.forget_under(&dir.path().join("cam"));
        assert!(cache.recent(&path, None).is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
