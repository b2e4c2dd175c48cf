//! Where an engine's socket and lock file live.
//!
//! Each user has one directory for them, which only that user can enter:
//! `/tmp/onair-$UID/` (mode 0700), or `$ONAIR_RUNTIME_DIR` when set. Inside,
//! one engine per canonical config path: `streams-<hash>.sock` and
//! `streams-<hash>.lock`, the hash taken of the path, so `onair` from any
//! working directory, any login and a service manager all find the same
//! engine.
//!
//! Not `$XDG_RUNTIME_DIR`: that directory is removed when its user's last
//! login session ends (an SSH drop is exactly that), which would leave the
//! engine running with no socket and let the next `onair` start a second
//! one; and a service has none while an SSH login has one, so the two would
//! never meet. tmux keeps its sockets in `/tmp` for the same reasons. The
//! running engine holds a shared `flock` on the directory, which keeps
//! `systemd-tmpfiles` from cleaning it up.

use std::ffi::OsStr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The longest path a unix socket address holds on Linux (108 bytes with
/// the terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Why the socket's place cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The config file cannot be found.
    #[error("cannot read {}: {source}", path.display())]
    Config {
        /// The path as given.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The directory cannot be made or read.
    #[error("cannot use {} for the control socket: {source} (set ONAIR_RUNTIME_DIR to a directory of yours)", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Someone else made the directory: using it would hand them the socket.
    #[error("{} belongs to uid {owner}, not to you (uid {uid}): remove it, or set ONAIR_RUNTIME_DIR to a directory of yours", dir.display())]
    NotOwned {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's user.
        uid: u32,
    },
    /// The path is a symlink or a file, not a directory.
    #[error("{} is not a directory: remove it, or set ONAIR_RUNTIME_DIR to a directory of yours", dir.display())]
    NotDir {
        /// The path.
        dir: PathBuf,
    },
    /// A unix socket path cannot be that long.
    #[error("the control socket path {} is longer than {MAX_SOCKET_PATH} bytes: set ONAIR_RUNTIME_DIR to a shorter directory", path.display())]
    TooLong {
        /// The path.
        path: PathBuf,
    },
}

/// The socket, lock file and directory of the engine of one config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The config file, canonical: the engine's identity.
    pub config: PathBuf,
    /// The user's directory of engine sockets (mode 0700).
    pub dir: PathBuf,
    /// The control socket (mode 0600).
    pub socket: PathBuf,
    /// The lock file held by the running engine; it holds its pid.
    pub lock: PathBuf,
}

impl Place {
    /// The place of the engine of `config` for this process's user. The
    /// file must exist (its canonical path names the engine).
    pub fn for_config(config: &Path) -> Result<Place, PlaceError> {
        let canonical = std::fs::canonicalize(config).map_err(|source| PlaceError::Config {
            path: config.to_path_buf(),
            source,
        })?;
        let dir = runtime_dir(std::env::var_os(RUNTIME_DIR_VAR).as_deref(), current_uid());
        let place = Place::new(canonical, dir);
        if place.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(PlaceError::TooLong { path: place.socket });
        }
        Ok(place)
    }

    /// The place of a canonical config path inside a socket directory.
    pub fn new(config: PathBuf, dir: PathBuf) -> Place {
        let name = engine_name(&config);
        Place {
            socket: dir.join(format!("{name}.sock")),
            lock: dir.join(format!("{name}.lock")),
            dir,
            config,
        }
    }

    /// Makes the directory (mode 0700) if needed and checks that it is this
    /// user's own, tightening its mode if it is. Only the engine calls this;
    /// a client never creates anything.
    pub fn prepare(&self) -> Result<(), PlaceError> {
        let dir_error = |source| PlaceError::Dir {
            dir: self.dir.clone(),
            source,
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The parent of ONAIR_RUNTIME_DIR is missing: make the whole path.
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .recursive(true)
                    .create(&self.dir)
                    .map_err(dir_error)?;
            }
            Err(e) => return Err(dir_error(e)),
        }
        let meta = std::fs::symlink_metadata(&self.dir).map_err(dir_error)?;
        if !meta.is_dir() {
            return Err(PlaceError::NotDir {
                dir: self.dir.clone(),
            });
        }
        let uid = current_uid();
        if meta.uid() != uid {
            return Err(PlaceError::NotOwned {
                dir: self.dir.clone(),
                owner: meta.uid(),
                uid,
            });
        }
        if meta.mode() & 0o777 != 0o700 {
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(dir_error)?;
        }
        Ok(())
    }

    /// The owner of the socket directory, if it can be seen (to say whose
    /// engine a refused client met).
    pub fn dir_owner(&self) -> Option<u32> {
        std::fs::symlink_metadata(&self.dir).ok().map(|m| m.uid())
    }
}

/// The variable that moves the socket directory (tests give each run its
/// own; a system with a private `/tmp` per service sets it for the service
/// and its operators alike).
pub const RUNTIME_DIR_VAR: &str = "ONAIR_RUNTIME_DIR";

/// The user's socket directory: `$ONAIR_RUNTIME_DIR` when that is an
/// absolute path, `/tmp/onair-$UID` otherwise.
pub fn runtime_dir(override_dir: Option<&OsStr>, uid: u32) -> PathBuf {
    match override_dir.map(Path::new) {
        Some(dir) if dir.is_absolute() => dir.to_path_buf(),
        _ => PathBuf::from(format!("/tmp/onair-{uid}")),
    }
}

/// `streams-1f2e3d4c5b6a7988`: the config's file stem (for a person reading
/// the directory) and a hash of its whole canonical path (for uniqueness).
pub fn engine_name(config: &Path) -> String {
    let stem: String = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    let stem = if stem.is_empty() {
        "config".into()
    } else {
        stem
    };
    format!(
        "{stem}-{:016x}",
        fnv1a(config.as_os_str().as_encoded_bytes())
    )
}

/// FNV-1a, 64 bits: stable across Rust releases and machines, unlike the
/// standard library's hasher, so every onair build finds the same socket.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// This process's effective user id.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_per_user_in_tmp_unless_moved() {
        assert_eq!(runtime_dir(None, 1000), PathBuf::from("/tmp/onair-1000"));
        assert_eq!(
            runtime_dir(Some(OsStr::new("/srv/onair/run")), 1000),
            PathBuf::from("/srv/onair/run")
        );
        assert_eq!(
            runtime_dir(Some(OsStr::new("")), 7),
            PathBuf::from("/tmp/onair-7")
        );
        assert_eq!(
            runtime_dir(Some(OsStr::new("relative/dir")), 7),
            PathBuf::from("/tmp/onair-7"),
            "a relative directory would depend on where onair is started"
        );
    }

    #[test]
    fn one_name_per_canonical_path_readable_and_stable() {
        let a = engine_name(Path::new("/etc/onair/streams.toml"));
        let b = engine_name(Path::new("/srv/venue/streams.toml"));
        assert_ne!(a, b);
        assert_eq!(a, engine_name(Path::new("/etc/onair/streams.toml")));
        assert!(
            a.starts_with("streams-") && a.len() == "streams-".len() + 16,
            "{a}"
        );
        // Pinned: a different name in another build would hide running engines.
        assert_eq!(
            engine_name(Path::new("/etc/onair/streams.toml")),
            format!("streams-{:016x}", fnv1a(b"/etc/onair/streams.toml"))
        );
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn odd_file_names_make_safe_socket_names() {
        let name = engine_name(Path::new("/x/my venue (main).toml"));
        assert!(name.starts_with("my_venue__main_-"), "{name}");
        let long = engine_name(Path::new(&format!("/x/{}.toml", "a".repeat(200))));
        assert_eq!(long.len(), 24 + 1 + 16);
    }

    #[test]
    fn socket_and_lock_sit_side_by_side() {
        let place = Place::new(
            PathBuf::from("/etc/onair/streams.toml"),
            PathBuf::from("/tmp/onair-0"),
        );
        assert_eq!(place.socket.parent(), Some(Path::new("/tmp/onair-0")));
        assert_eq!(place.socket.with_extension("lock"), place.lock);
    }

    #[test]
    fn prepare_makes_a_private_directory_and_tightens_an_open_one() {
        let tmp = tempfile::tempdir().unwrap();
        let place = Place::new(
            PathBuf::from("/etc/onair/streams.toml"),
            tmp.path().join("runtime/onair"),
        );
        place.prepare().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&place.dir), 0o700);
        std::fs::set_permissions(&place.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        place.prepare().unwrap();
        assert_eq!(mode(&place.dir), 0o700);
    }

    #[test]
    fn prepare_refuses_a_symlink_in_place_of_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), tmp.path().join("onair")).unwrap();
        let place = Place::new(PathBuf::from("/x/streams.toml"), tmp.path().join("onair"));
        assert!(
            matches!(place.prepare(), Err(PlaceError::NotDir { .. })),
            "{:?}",
            place.prepare()
        );
    }
}
