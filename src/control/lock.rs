//! One engine per config: a lock file beside the socket, held with
//! `flock` for as long as the engine runs.
//!
//! The kernel releases the lock however the engine ends (`kill -9`
//! included), so a lock that can be taken means no engine runs, whatever
//! files a dead one left behind. The engine takes it before it reads its
//! config or touches any directory or port, so a second engine is refused
//! while the first one's playlists, segments and processes stay as they are.

use super::place::Place;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// How long a starting engine keeps trying a lock that is briefly held by a
/// client looking at it ([`EngineLock::holder`]).
const CONTENDED_FOR: Duration = Duration::from_millis(300);

/// Why the engine cannot take its lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another engine runs for this config.
    #[error(
        "an engine already runs for {shown} ({pid_text}): attach a console with `onair {shown}`, stop it with `onair stop {shown}`",
        shown = config.display(),
        pid_text = describe_pid(*pid)
    )]
    Held {
        /// The config.
        config: PathBuf,
        /// The running engine, as its lock file says.
        pid: Option<u32>,
    },
    /// The lock file cannot be opened or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

fn describe_pid(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".to_string(),
    }
}

/// The running engine's claim on its config; released when dropped (and by
/// the kernel when the process dies).
#[derive(Debug)]
pub struct EngineLock {
    _file: File,
    /// A shared lock on the socket directory: `systemd-tmpfiles` leaves a
    /// locked directory alone, so an engine running for weeks keeps its
    /// socket in `/tmp`.
    _dir: Option<File>,
    path: PathBuf,
}

/// Who holds a config's lock, as a client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// No engine runs (or none has ever run) for this config.
    Free,
    /// An engine runs or is starting; its pid, once it has written it.
    Engine(Option<u32>),
}

impl EngineLock {
    /// Takes the lock of `place` and writes this process's pid into it. The
    /// place's directory must exist ([`Place::prepare`]).
    pub fn acquire(place: &Place) -> Result<EngineLock, LockError> {
        let io = |source| LockError::Io {
            path: place.lock.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&place.lock)
            .map_err(io)?;
        let deadline = std::time::Instant::now() + CONTENDED_FOR;
        loop {
            match try_flock(&file, libc::LOCK_EX) {
                Ok(true) => break,
                Ok(false) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(false) => {
                    return Err(LockError::Held {
                        config: place.config.clone(),
                        pid: read_pid(&mut file),
                    });
                }
                Err(e) => return Err(io(e)),
            }
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        let dir = File::open(&place.dir)
            .ok()
            .filter(|dir| try_flock(dir, libc::LOCK_SH).unwrap_or(false));
        Ok(EngineLock {
            _file: file,
            _dir: dir,
            path: place.lock.clone(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether an engine holds the lock of `place`, without ever creating
    /// anything. Looking takes a shared lock for an instant; a starting
    /// engine rides over that ([`CONTENDED_FOR`]).
    pub fn holder(place: &Place) -> Holder {
        let Ok(mut file) = File::open(&place.lock) else {
            return Holder::Free;
        };
        match try_flock(&file, libc::LOCK_SH) {
            Ok(true) => Holder::Free,
            _ => Holder::Engine(read_pid(&mut file)),
        }
    }
}

/// `flock(2)` without waiting: `Ok(true)` when taken, `Ok(false)` when
/// someone else holds a conflicting lock. The lock belongs to the open
/// file and goes with its last descriptor.
fn try_flock(file: &File, operation: libc::c_int) -> std::io::Result<bool> {
    // SAFETY: flock on a descriptor this `File` owns; no memory is touched.
    let rc = unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

/// The pid a lock file holds. A starting engine writes it just after
/// taking the lock, so an empty file is read again for a moment.
fn read_pid(file: &mut File) -> Option<u32> {
    for _ in 0..10 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            if let Ok(pid) = text.trim().parse() {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(dir: &std::path::Path) -> Place {
        let place = Place::new(dir.join("streams.toml"), dir.join("onair"));
        place.prepare().unwrap();
        place
    }

    #[test]
    fn a_second_engine_is_refused_with_the_first_ones_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let place = place(tmp.path());
        assert_eq!(EngineLock::holder(&place), Holder::Free);
        let first = EngineLock::acquire(&place).unwrap();
        // flock locks belong to the open file, so a second open in the same
        // process meets the first lock just as another process would.
        match EngineLock::acquire(&place) {
            Err(LockError::Held { pid, config }) => {
                assert_eq!(pid, Some(std::process::id()));
                assert_eq!(config, place.config);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            EngineLock::holder(&place),
            Holder::Engine(Some(std::process::id()))
        );
        drop(first);
        assert_eq!(EngineLock::holder(&place), Holder::Free);
        let again = EngineLock::acquire(&place).unwrap();
        assert_eq!(
            std::fs::read_to_string(again.path()).unwrap().trim(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn a_lock_file_left_by_a_dead_engine_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let place = place(tmp.path());
        std::fs::write(&place.lock, "999999999\n").unwrap();
        assert_eq!(EngineLock::holder(&place), Holder::Free);
        let lock = EngineLock::acquire(&place).unwrap();
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn the_refusal_says_how_to_attach_and_stop() {
        let text = LockError::Held {
            config: PathBuf::from("/etc/onair/streams.toml"),
            pid: Some(42),
        }
        .to_string();
        assert_eq!(
            text,
            "an engine already runs for /etc/onair/streams.toml (pid 42): attach a console with `onair /etc/onair/streams.toml`, stop it with `onair stop /etc/onair/streams.toml`"
        );
    }
}
