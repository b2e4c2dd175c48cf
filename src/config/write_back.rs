//! Writing a key's change back into `streams.toml` without disturbing the
//! rest of the operator's file: comments, key order and spacing stay.

use super::Change;
use std::io::Write;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, Value};

/// Why a change could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    /// The file is not valid TOML right now (the operator is mid-edit).
    #[error("streams.toml is not valid TOML right now: {0}")]
    Unparsable(String),
    /// No stream of that name is in the file.
    #[error("no stream named `{0}` in streams.toml")]
    NoSuchStream(String),
    /// Reading or writing the file failed.
    #[error("cannot write {path}: {source} (check free space and permissions)")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Applies a change to the text of a config and returns the new text.
/// `name` is a stream name, or `stream/destination` for one of `outputs`.
pub fn apply_change(text: &str, name: &str, change: &Change) -> Result<String, WriteBackError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| WriteBackError::Unparsable(e.message().to_string()))?;
    let (stream_name, destination) = match name.split_once('/') {
        Some((s, d)) => (s, Some(d)),
        None => (name, None),
    };
    let streams = doc
        .get_mut("stream")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| WriteBackError::NoSuchStream(name.to_string()))?;
    let stream = streams
        .iter_mut()
        .find(|t| t.get("name").and_then(Item::as_str) == Some(stream_name))
        .ok_or_else(|| WriteBackError::NoSuchStream(name.to_string()))?;
    match destination {
        None => set_in_table(stream, change),
        Some(dest) => set_in_destination(stream, dest, change)
            .ok_or_else(|| WriteBackError::NoSuchStream(name.to_string()))?,
    }
    Ok(doc.to_string())
}

fn change_value(change: &Change) -> (&'static str, Value) {
    match change {
        Change::Enabled(on) => ("enabled", Value::from(*on)),
        Change::Profile(profile) => ("profile", Value::from(profile.as_str())),
    }
}

/// Replaces a value but keeps the spacing and comment around it.
fn replace_keeping_decor(existing: &mut Value, value: Value) {
    let decor = existing.decor().clone();
    *existing = value;
    *existing.decor_mut() = decor;
}

fn set_in_table(table: &mut Table, change: &Change) {
    let (key, value) = change_value(change);
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(existing) => replace_keeping_decor(existing, value),
        None => {
            table.insert(key, toml_edit::value(value));
        }
    }
}

fn set_in_destination(stream: &mut Table, dest: &str, change: &Change) -> Option<()> {
    let (key, value) = change_value(change);
    let outputs = stream.get_mut("outputs")?;
    if let Some(array) = outputs.as_array_mut() {
        let entry = array
            .iter_mut()
            .filter_map(Value::as_inline_table_mut)
            .find(|t| t.get("name").and_then(Value::as_str) == Some(dest))?;
        match entry.get_mut(key) {
            Some(existing) => replace_keeping_decor(existing, value),
            None => {
                // `{ a = 1 }` → `{ a = 1, key = v }`: the space before `}`
                // moves from the old last value to the new one.
                let trailing = entry
                    .iter_mut()
                    .last()
                    .and_then(|(_, v)| {
                        let suffix = v
                            .decor()
                            .suffix()
                            .and_then(|s| s.as_str())
                            .map(str::to_string);
                        v.decor_mut().set_suffix("");
                        suffix
                    })
                    .unwrap_or_else(|| " ".to_string());
                let mut value = value;
                value.decor_mut().set_prefix(" ");
                value.decor_mut().set_suffix(trailing);
                entry.insert(key, value);
            }
        }
        return Some(());
    }
    let tables = outputs.as_array_of_tables_mut()?;
    let entry = tables
        .iter_mut()
        .find(|t| t.get("name").and_then(Item::as_str) == Some(dest))?;
    set_in_table(entry, change);
    Some(())
}

/// Reads the file, applies the change on top of what is on disk now (so an
/// edit the operator just saved is kept), and writes it atomically.
pub fn write_change(path: &Path, name: &str, change: &Change) -> Result<String, WriteBackError> {
    let io = |source| WriteBackError::Io {
        path: path.display().to_string(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let updated = apply_change(&text, name, change)?;
    if updated != text {
        write_atomically(path, &updated).map_err(io)?;
    }
    Ok(updated)
}

/// Writes `.NAME.onair-tmp` beside the file, syncs it and renames it over
/// the file, so that neither a reader nor a crash ever sees half a file.
/// The file's mode and owner are kept. A file that is a symlink stays one:
/// the link's target is what gets replaced.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = real_file(path)?;
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "streams.toml".to_string());
    let tmp = dir.join(format!(".{file_name}.onair-tmp"));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(&target) {
            use std::os::unix::fs::MetadataExt;
            file.set_permissions(meta.permissions())?;
            // Only root can give a file away; anyone else writes their own.
            if let Err(e) = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))
                && e.kind() != std::io::ErrorKind::PermissionDenied
            {
                return Err(e);
            }
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The file a path names: the file at the end of its symlinks, or the path
/// itself when it is no symlink (or not there yet).
pub fn real_file(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}
