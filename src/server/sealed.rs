//! Segments kept in sealed memory files, so that sockets can send them
//! with `sendfile` instead of copying them.
//!
//! A 400 KB segment copied into a socket for each of hundreds of screens is
//! most of what serving HLS costs: nginx avoids the copy with `sendfile`
//! from the page cache. onair keeps each cached segment in a memory file
//! (`memfd`) that is sealed (it can never change or shrink) and mapped
//! read-only; the mapping is the `Bytes` every response holds, and the
//! process-wide [`lookup`] tells a socket ([`super::socket`]) which memory
//! file and offset a slice of it is, so the kernel sends the file's pages
//! themselves. Anything else (or a kernel that refuses) is written as usual:
//! the bytes are the same either way.

use axum::body::Bytes;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::RwLock;

/// Segments smaller than this stay on the heap: a memory file and a mapping
/// cost more than copying them.
pub(crate) const SEALED_MIN: u64 = 32 * 1024;

/// At most this many sealed segments at once (each holds a file
/// descriptor, which connections need too); beyond it, the heap.
pub(crate) const MAX_SEALED: usize = 256;

/// Where each live sealed buffer is mapped: start address → (length, fd).
static REGIONS: RwLock<BTreeMap<usize, (usize, RawFd)>> = RwLock::new(BTreeMap::new());

/// A sealed memory file and its read-only mapping; unregistered, unmapped
/// and closed when the last `Bytes` made from it goes.
struct SealedBuffer {
    address: usize,
    len: usize,
    _file: OwnedFd,
}

// SAFETY: the mapping is read-only and never changes (the file is sealed
// against writes, shrinking and growing), so it may be read from any thread.
unsafe impl Send for SealedBuffer {}
unsafe impl Sync for SealedBuffer {}

impl AsRef<[u8]> for SealedBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `address..address+len` is a live PROT_READ mapping of a
        // file sealed against every change, unmapped only in `drop`.
        unsafe { std::slice::from_raw_parts(self.address as *const u8, self.len) }
    }
}

impl Drop for SealedBuffer {
    fn drop(&mut self) {
        // Unregistered first: no socket may look this region up once unmapped.
        REGIONS
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.address);
        // SAFETY: this is the mapping made in `seal`, not used after this.
        unsafe {
            libc::munmap(self.address as *mut libc::c_void, self.len);
        }
    }
}

/// The whole of `file` (at most `limit` bytes) in a sealed memory file, as
/// `Bytes`. An error means the kernel offers no sealed memory files, memory
/// ran out or [`MAX_SEALED`] are in use: the caller reads the file onto the
/// heap instead.
pub(crate) fn read_sealed(file: &mut File, limit: u64) -> io::Result<Bytes> {
    if REGIONS.read().unwrap_or_else(|p| p.into_inner()).len() >= MAX_SEALED {
        return Err(io::Error::other("enough sealed segments"));
    }
    // SAFETY: a plain system call with a NUL-terminated name.
    let fd = unsafe {
        libc::memfd_create(
            c"onair-segment".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut memory = File::from(owned);
    let len = usize::try_from(io::copy(&mut file.take(limit), &mut memory)?)
        .map_err(|_| io::Error::other("segment too large"))?;
    if len == 0 {
        return Ok(Bytes::new());
    }
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: plain system calls on a file this function owns.
    if unsafe { libc::fcntl(memory.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new read-only shared mapping of the whole sealed file.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            memory.as_raw_fd(),
            0,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let buffer = SealedBuffer {
        address: address as usize,
        len,
        _file: OwnedFd::from(memory),
    };
    REGIONS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(buffer.address, (len, buffer._file.as_raw_fd()));
    Ok(Bytes::from_owner(buffer))
}

/// The sealed memory file holding `slice` and the offset of its first byte,
/// if it lies wholly in one.
///
/// The fd is valid for as long as the caller holds `slice`: a buffer leaves
/// the registry before its mapping and file go.
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

    // One test: the registry is shared by the whole process.
    #[test]
    fn sealed_segments_hold_the_file_are_found_by_address_and_are_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = read_sealed(&mut segment(dir.path(), 100_000), u64::MAX).expect("sealed");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(&bytes[..], &data[..]);
        let (fd, offset) = lookup(&bytes[1000..2000]).expect("registered");
        assert_eq!(offset, 1000);
        assert!(lookup(&bytes[99_000..100_000]).is_some());
        // The memory file can be neither written nor shrunk.
        // SAFETY: a write attempt on a descriptor that `bytes` keeps open.
        let written = unsafe { libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) };
        assert!(written < 0, "a sealed segment was written to");
        // SAFETY: as above.
        assert!(
            unsafe { libc::ftruncate(fd, 10) } < 0,
            "a sealed segment shrank"
        );
        assert!(lookup(&data[..10]).is_none(), "heap memory is not sealed");

        let address = bytes.as_ptr() as usize;
        drop(bytes);
        let registered = |address| {
            let regions = REGIONS.read().unwrap_or_else(|p| p.into_inner());
            regions.contains_key(&address)
        };
        assert!(!registered(address), "a dropped segment stays registered");

        let mut held = Vec::new();
        while let Ok(bytes) = read_sealed(&mut segment(dir.path(), 40_000), u64::MAX) {
            held.push(bytes);
            assert!(
                held.len() <= MAX_SEALED,
                "more sealed segments than allowed"
            );
        }
        assert_eq!(held.len(), MAX_SEALED);
        held.clear();
        assert!(read_sealed(&mut segment(dir.path(), 40_000), u64::MAX).is_ok());
    }
}
