//! Segments in memory that remember the file they were read from, so that
//! sockets can send them with `sendfile` instead of copying them.
//!
//! A 400 KB segment copied into a socket for each of hundreds of screens is
//! most of what serving HLS costs: nginx avoids the copy with `sendfile`
//! from the page cache. onair keeps each cached segment's bytes together
//! with the open file they came from; the process-wide [`lookup`] tells a
//! socket ([`super::socket`]) which file and offset a slice of those bytes
//! is, so the kernel sends the file's cached pages themselves. A segment
//! never changes once FFmpeg has renamed it into place (`temp_file`), and a
//! deleted one stays readable through the open file; should a file shrink
//! all the same, the socket writes the bytes from memory. Anything else
//! is written as usual.

use axum::body::Bytes;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::RwLock;

/// Segments smaller than this are plain bytes: `sendfile` saves little on
/// them.
pub(crate) const FILE_BACKED_MIN: u64 = 32 * 1024;

/// At most this many file-backed segments at once (each holds a file
/// descriptor, which connections need too); beyond it, plain bytes.
pub(crate) const MAX_FILE_BACKED: usize = 256;

/// Where each live file-backed segment's bytes are: start address →
/// (length, the file's descriptor).
static REGIONS: RwLock<BTreeMap<usize, (usize, RawFd)>> = RwLock::new(BTreeMap::new());

/// A segment's bytes and the file they were read from; unregistered (and
/// the file closed) when the last `Bytes` made from it goes.
struct FileBacked {
    data: Box<[u8]>,
    _file: File,
}

impl AsRef<[u8]> for FileBacked {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for FileBacked {
    fn drop(&mut self) {
        // Unregistered before the file closes: no socket may use its
        // descriptor afterwards.
        REGIONS
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(self.data.as_ptr() as usize));
    }
}

/// The whole of `file` (at most `limit` bytes), remembering the file when
/// fewer than [`MAX_FILE_BACKED`] segments do already.
pub(crate) fn read_file_backed(mut file: File, limit: u64) -> io::Result<Bytes> {
    let mut data = Vec::new();
    (&mut file).take(limit).read_to_end(&mut data)?;
    let mut regions = REGIONS.write().unwrap_or_else(|p| p.into_inner());
    if data.is_empty() || regions.len() >= MAX_FILE_BACKED {
        return Ok(Bytes::from(data));
    }
    let data = data.into_boxed_slice();
    regions.insert(data.as_ptr() as usize, (data.len(), file.as_raw_fd()));
    drop(regions);
    Ok(Bytes::from_owner(FileBacked { data, _file: file }))
}

/// The file holding the bytes of `slice` and the offset of its first byte,
/// if it lies wholly in one file-backed segment.
///
/// The descriptor stays open for as long as the caller holds `slice`: a
/// segment leaves the registry before its file closes.
pub(crate) fn lookup(slice: &[u8]) -> Option<(RawFd, u64)> {
    if slice.is_empty() {
        return None;
    }
    let start = slice.as_ptr() as usize;
    let regions = REGIONS.read().unwrap_or_else(|p| p.into_inner());
    let (&base, &(len, fd)) = regions.range(..=start).next_back()?;
    let offset = start - base;
    (offset + slice.len() <= len).then_some((fd, offset as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn segment(dir: &std::path::Path, len: u32) -> File {
        let path = dir.join("seg-1.ts");
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&data))
            .expect("write");
        File::open(&path).expect("open")
    }

    fn registered(address: usize) -> bool {
        let regions = REGIONS.read().unwrap_or_else(|p| p.into_inner());
        regions.contains_key(&address)
    }

    // One test: the registry is shared by the whole process.
    #[test]
    fn segments_remember_their_file_by_address_within_a_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = read_file_backed(segment(dir.path(), 100_000), u64::MAX).expect("read");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(&bytes[..], &data[..]);
        let (fd, offset) = lookup(&bytes[1000..2000]).expect("registered");
        assert_eq!(offset, 1000);
        let mut at_offset = [0u8; 4];
        // SAFETY: a read into a local buffer from a descriptor `bytes` keeps open.
        let read = unsafe { libc::pread(fd, at_offset.as_mut_ptr().cast(), 4, 1000) };
        assert_eq!(read, 4);
        assert_eq!(at_offset, data[1000..1004]);
        assert!(lookup(&bytes[99_000..100_000]).is_some());
        assert!(lookup(&data[..10]).is_none(), "other memory has no file");

        let address = bytes.as_ptr() as usize;
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert!(registered(address), "a slice keeps its segment");
        drop(slice);
        assert!(!registered(address), "a dropped segment stays registered");

        let mut held = Vec::new();
        for _ in 0..=MAX_FILE_BACKED {
            held.push(read_file_backed(segment(dir.path(), 40_000), u64::MAX).expect("read"));
        }
        let backed = held.iter().filter(|b| lookup(b).is_some()).count();
        assert_eq!(backed, MAX_FILE_BACKED);
        assert!(held.iter().all(|b| b.len() == 40_000));
        held.clear();
        let again = read_file_backed(segment(dir.path(), 40_000), u64::MAX).expect("read");
        assert!(lookup(&again).is_some());
    }
}
