//! A file backend for `ServeDir` that never leaves its root directory and
//! serves small files from memory.
//!
//! `ServeDir` already refuses `..`, absolute paths and their percent-encoded
//! forms, but it follows symbolic links wherever they point. This backend
//! resolves every path to its real location and answers "not found" for
//! anything that lands outside the root, so a symlink dropped into `hls_dir`
//! can never expose the rest of the disk.
//!
//! Every screen of a venue reads the same few segments, so files are read
//! once and kept in memory ([`super::file_cache`]), validated by inode, size
//! and modification time: a file replaced by rename (FFmpeg's `temp_file`
//! flag) is a new inode and is re-read at once, while a segment, which never
//! changes, costs one `stat` instead of a read — or nothing at all while a
//! watch on the directory reports every change ([`super::playlists`]).

use super::file_backed;
use super::file_cache::FileCache;
pub(crate) use super::file_cache::Stamp;
use axum::body::Bytes;
use axum::http::HeaderValue;
use std::future::Future;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tower_http::services::fs::{Backend, File, Metadata};

/// Files above this size are streamed from disk instead of cached.
const MAX_CACHED_FILE: u64 = 16 * 1024 * 1024;
/// `ServeDir` asks for a file's metadata and then opens it: for a file that
/// never changes once written (a segment), the second call reuses the first
/// one's answer when it is this fresh, without touching the disk.
const REUSE_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);

/// A `ServeDir` backend confined to one directory, with a read cache.
#[derive(Clone)]
pub(crate) struct ConfinedFiles {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    immutable: fn(&Path) -> bool,
    /// Set while a watch on the root reports every change (see
    /// [`super::playlists`]): a cached immutable file is then served without
    /// a `stat` until the watch says it changed.
    trusted: AtomicBool,
    canonical_root: Mutex<Option<PathBuf>>,
    cache: FileCache,
}

/// The metadata `ServeDir` needs, taken from one `stat`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileInfo {
    is_dir: bool,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileInfo {
    fn of(meta: &std::fs::Metadata) -> FileInfo {
        FileInfo {
            is_dir: meta.is_dir(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

impl Metadata for FileInfo {
    fn is_dir(&self) -> bool {
        self.is_dir
    }

    fn modified(&self) -> io::Result<SystemTime> {
        self.modified
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "no modification time"))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// An opened file: its bytes from the cache, or a disk handle for a big one.
pub(crate) enum OpenedFile {
    /// A cached (or freshly read) small file.
    Memory(Cursor<Bytes>, FileInfo),
    /// A file too big to cache.
    Disk(tokio::fs::File, FileInfo),
}

impl AsyncRead for OpenedFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OpenedFile::Memory(cursor, _) => Pin::new(cursor).poll_read(cx, buf),
            OpenedFile::Disk(file, _) => Pin::new(file).poll_read(cx, buf),
        }
    }
}

impl AsyncSeek for OpenedFile {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        match self.get_mut() {
            OpenedFile::Memory(cursor, _) => Pin::new(cursor).start_seek(position),
            OpenedFile::Disk(file, _) => Pin::new(file).start_seek(position),
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        match self.get_mut() {
            OpenedFile::Memory(cursor, _) => Pin::new(cursor).poll_complete(cx),
            OpenedFile::Disk(file, _) => Pin::new(file).poll_complete(cx),
        }
    }
}

impl File for OpenedFile {
    type Metadata = FileInfo;
    type MetadataFuture<'a> = std::future::Ready<io::Result<FileInfo>>;

    fn metadata(&self) -> Self::MetadataFuture<'_> {
        let info = match self {
            OpenedFile::Memory(_, info) | OpenedFile::Disk(_, info) => *info,
        };
        std::future::ready(Ok(info))
    }
}

/// A file as the fast path of a handler sees it.
pub(crate) enum Fetched {
    /// The whole file, from memory, with a strong validator.
    Memory {
        /// The bytes (shared with the cache: no copy).
        data: Bytes,
        /// `"<len>-<mtime>"` in hex: changes whenever the file does.
        etag: HeaderValue,
    },
    /// A file too big to cache: serve it from disk.
    Large,
    /// A directory: never listed.
    Dir,
}

/// A request path checked: answered already, or to be read from disk.
enum Located {
    Done(Resolved),
    Read(PathBuf),
}

/// The outcome of resolving one request path.
enum Resolved {
    Dir(FileInfo),
    Memory(Bytes, FileInfo, HeaderValue),
    Disk(std::fs::File, FileInfo),
}

impl ConfinedFiles {
    /// Serves files under `root` (which may not exist yet: FFmpeg creates
    /// stream directories as streams start). `immutable` tells which files
    /// never change once they exist, so a fresh answer may be reused.
    pub(crate) fn new(root: impl Into<PathBuf>, immutable: fn(&Path) -> bool) -> ConfinedFiles {
        ConfinedFiles {
            inner: Arc::new(Inner {
                root: root.into(),
                immutable,
                trusted: AtomicBool::new(false),
                canonical_root: Mutex::new(None),
                cache: FileCache::default(),
            }),
        }
    }

    /// The file at `relative` (already percent-decoded) under the root, or
    /// "not found" for anything that would leave it.
    pub(crate) async fn fetch(&self, relative: &str) -> io::Result<Fetched> {
        let Some(path) = join_inside(&self.inner.root, relative) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not a plain relative path",
            ));
        };
        Ok(match self.resolve(path).await? {
            Resolved::Memory(data, _, etag) => Fetched::Memory { data, etag },
            Resolved::Disk(..) => Fetched::Large,
            Resolved::Dir(_) => Fetched::Dir,
        })
    }

    /// Serves cached files that never change without a `stat` (`true`)
    /// for as long as someone calls [`ConfinedFiles::forget`] on every
    /// change, or validates each one with a `stat` (`false`).
    pub(crate) fn trust_unchanged(&self, trusted: bool) {
        self.inner.trusted.store(trusted, Ordering::Relaxed);
    }

    /// Drops the cached copy of one file (it changed or went away).
    pub(crate) fn forget(&self, path: &Path) {
        self.inner.cache.forget(path);
    }

    /// Drops every cached file below `dir`.
    pub(crate) fn forget_under(&self, dir: &Path) {
        self.inner.cache.forget_under(dir);
    }

    /// Drops every cached file.
    pub(crate) fn forget_all(&self) {
        self.inner.cache.clear();
    }

    /// The whole content of a small file below the root and its stamp,
    /// read now (blocking; not cached here).
    pub(crate) fn read_whole(&self, relative: &str) -> io::Result<(Vec<u8>, Stamp)> {
        use std::io::Read;
        let path = self.joined(relative)?;
        let (real, _) = self.inner.real_path(&path)?;
        let mut file = std::fs::File::open(real)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() > MAX_CACHED_FILE {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not a small regular file",
            ));
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut data)?;
        Ok((data, Stamp::of(&meta)))
    }

    /// The stamp of a file below the root (blocking).
    pub(crate) fn stamp(&self, relative: &str) -> io::Result<Stamp> {
        let path = self.joined(relative)?;
        let (_, meta) = self.inner.real_path(&path)?;
        Ok(Stamp::of(&meta))
    }

    fn joined(&self, relative: &str) -> io::Result<PathBuf> {
        join_inside(&self.inner.root, relative)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not a plain relative path"))
    }

    async fn resolve(&self, path: PathBuf) -> io::Result<Resolved> {
        if let Some(hit) = self.inner.recent(&path) {
            return Ok(hit);
        }
        match self.inner.locate(&path)? {
            Located::Done(resolved) => Ok(resolved),
            Located::Read(real) => {
                let inner = Arc::clone(&self.inner);
                tokio::task::spawn_blocking(move || inner.load(&path, &real))
                    .await
                    .map_err(|e| io::Error::other(format!("file task failed: {e}")))?
            }
        }
    }
}

impl Inner {
    fn canonical_root(&self) -> io::Result<PathBuf> {
        let mut slot = self
            .canonical_root
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(root) = slot.as_ref() {
            return Ok(root.clone());
        }
        let root = std::fs::canonicalize(&self.root)?;
        *slot = Some(root.clone());
        Ok(root)
    }

    /// A cached answer for a path resolved a moment ago (the open that
    /// follows `ServeDir`'s metadata call), without touching the disk.
    fn recent(&self, path: &Path) -> Option<Resolved> {
        if !(self.immutable)(path) {
            return None;
        }
        let trusted = self.trusted.load(Ordering::Relaxed);
        let hit = self
            .cache
            .recent(path, (!trusted).then_some(REUSE_WINDOW))?;
        let info = FileInfo {
            is_dir: false,
            len: hit.data.len() as u64,
            modified: hit.stamp.modified(),
        };
        Some(Resolved::Memory(hit.data, info, hit.etag))
    }

    /// Where a request lands, checked against the root, and the cached
    /// bytes if they are still current: a few `stat`-like calls on a local
    /// directory, cheap enough to make on the async workers.
    fn locate(&self, requested: &Path) -> io::Result<Located> {
        let (real, meta) = self.real_path(requested)?;
        let info = FileInfo::of(&meta);
        if meta.is_dir() {
            return Ok(Located::Done(Resolved::Dir(info)));
        }
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not a regular file",
            ));
        }
        match self.cache.current(requested, Stamp::of(&meta)) {
            Some(hit) => Ok(Located::Done(Resolved::Memory(hit.data, info, hit.etag))),
            None => Ok(Located::Read(real)),
        }
    }

    /// The real location of a requested path and its metadata, or "not
    /// found" if it is outside the root. Below the root, each component is
    /// `lstat`ed: with no symbolic link on the way (the usual case) that is
    /// the whole check; a link sends the path through `canonicalize`.
    fn real_path(&self, requested: &Path) -> io::Result<(PathBuf, std::fs::Metadata)> {
        let root = self.canonical_root()?;
        if let Ok(relative) = requested.strip_prefix(&self.root) {
            // The canonical root has no link in it by definition.
            let mut path = root.clone();
            let mut meta = None;
            let mut linked = false;
            for component in relative.components() {
                match component {
                    std::path::Component::Normal(part) => path.push(part),
                    std::path::Component::CurDir => continue,
                    _ => return Err(io::Error::new(io::ErrorKind::NotFound, "not a plain path")),
                }
                let found = std::fs::symlink_metadata(&path)?;
                if found.file_type().is_symlink() {
                    linked = true;
                    break;
                }
                meta = Some(found);
            }
            if !linked {
                let meta = match meta {
                    Some(meta) => meta,
                    None => std::fs::metadata(&path)?,
                };
                return Ok((path, meta));
            }
        }
        let real = std::fs::canonicalize(requested)?;
        if !real.starts_with(&root) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "outside the served directory",
            ));
        }
        let meta = std::fs::metadata(&real)?;
        Ok((real, meta))
    }

    /// Reads a file that is not cached yet (blocking: run off the workers).
    fn load(&self, requested: &Path, real: &Path) -> io::Result<Resolved> {
        let file = std::fs::File::open(real)?;
        // Stamp of what was actually opened, which may be newer than the stat.
        let meta = file.metadata()?;
        let info = FileInfo::of(&meta);
        let identity = Stamp::of(&meta);
        if meta.len() > MAX_CACHED_FILE {
            return Ok(Resolved::Disk(file, info));
        }
        let data = if (self.immutable)(requested) && meta.len() >= file_backed::FILE_BACKED_MIN {
            // Sent with `sendfile` from this very file (see super::socket).
            file_backed::read_file_backed(file, MAX_CACHED_FILE)?
        } else {
            read_all(file, meta.len())?
        };
        let info = FileInfo {
            len: data.len() as u64,
            ..info
        };
        let etag = self.cache.store(requested, identity, data.clone());
        Ok(Resolved::Memory(data, info, etag))
    }

    #[cfg(test)]
    fn resolve_blocking(&self, requested: &Path) -> io::Result<Resolved> {
        match self.locate(requested)? {
            Located::Done(resolved) => Ok(resolved),
            Located::Read(real) => self.load(requested, &real),
        }
    }
}

/// `root` joined with a decoded relative path, or `None` if the path has a
/// `..`, a backslash or a NUL in it (the same rules as `ServeDir`).
pub(crate) fn join_inside(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    let mut any = false;
    for part in relative.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            _ if part.contains(['\\', '\0']) => return None,
            _ => {
                path.push(part);
                any = true;
            }
        }
    }
    any.then_some(path)
}

fn read_all(mut file: std::fs::File, expected: u64) -> io::Result<Bytes> {
    use std::io::Read;
    let mut data = Vec::with_capacity(expected as usize);
    file.read_to_end(&mut data)?;
    Ok(Bytes::from(data))
}

type BoxedFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl Backend for ConfinedFiles {
    type File = OpenedFile;
    type Metadata = FileInfo;
    type OpenFuture = BoxedFuture<OpenedFile>;
    type MetadataFuture = BoxedFuture<FileInfo>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let this = self.clone();
        Box::pin(async move {
            match this.resolve(path).await? {
                Resolved::Memory(data, info, _) => Ok(OpenedFile::Memory(Cursor::new(data), info)),
                Resolved::Disk(file, info) => {
                    Ok(OpenedFile::Disk(tokio::fs::File::from_std(file), info))
                }
                Resolved::Dir(_) => Err(io::Error::new(io::ErrorKind::NotFound, "a directory")),
            }
        })
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        let this = self.clone();
        Box::pin(async move {
            Ok(match this.resolve(path).await? {
                Resolved::Dir(info) | Resolved::Memory(_, info, _) | Resolved::Disk(_, info) => {
                    info
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_file_is_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ConfinedFiles::new(dir.path(), |_| false);
        let path = dir.path().join("index.m3u8");
        std::fs::write(&path, "one").expect("write");
        let Ok(Resolved::Memory(first, ..)) = files.inner.resolve_blocking(&path) else {
            panic!("expected a cached read");
        };
        let tmp = dir.path().join("index.m3u8.tmp");
        std::fs::write(&tmp, "second").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        let Ok(Resolved::Memory(second, ..)) = files.inner.resolve_blocking(&path) else {
            panic!("expected a cached read");
        };
        assert_eq!(&first[..], b"one");
        assert_eq!(&second[..], b"second");
    }

    #[test]
    fn joined_paths_stay_below_the_root() {
        let root = Path::new("/srv/hls");
        assert_eq!(
            join_inside(root, "/cam/index.m3u8"),
            Some(root.join("cam/index.m3u8"))
        );
        assert_eq!(
            join_inside(root, "cam/./seg.ts"),
            Some(root.join("cam/seg.ts"))
        );
        assert_eq!(
            join_inside(root, "//etc/passwd"),
            Some(root.join("etc/passwd"))
        );
        assert_eq!(join_inside(root, "cam/../../x.ts"), None);
        assert_eq!(join_inside(root, "..\\x.ts"), None);
        assert_eq!(join_inside(root, "/"), None);
    }

    #[test]
    fn a_symlink_out_of_the_root_is_not_found() {
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret.ts");
        std::fs::write(&secret, "secret").expect("write");
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("link.ts");
        std::os::unix::fs::symlink(&secret, &link).expect("symlink");
        let files = ConfinedFiles::new(dir.path(), |_| false);
        let err = files.inner.resolve_blocking(&link).err().expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_symlink_inside_the_root_is_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("cam")).expect("mkdir");
        std::fs::write(dir.path().join("cam").join("seg-1.ts"), "inside").expect("write");
        std::os::unix::fs::symlink(dir.path().join("cam"), dir.path().join("alias"))
            .expect("symlink");
        let files = ConfinedFiles::new(dir.path(), |_| false);
        let Ok(Resolved::Memory(data, ..)) = files
            .inner
            .resolve_blocking(&dir.path().join("alias").join("seg-1.ts"))
        else {
            panic!("a link that stays inside is served");
        };
        assert_eq!(&data[..], b"inside");
    }

    #[test]
    fn a_directory_symlink_out_of_the_root_is_not_found() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("seg-1.ts"), "secret").expect("write");
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).expect("symlink");
        let files = ConfinedFiles::new(dir.path(), |_| false);
        let err = files
            .inner
            .resolve_blocking(&dir.path().join("out").join("seg-1.ts"))
            .err()
            .expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
