//! Where a mistake sits in `streams.toml`: byte offsets turned into
//! `FILE:LINE:COL`, and the error that carries every problem found.

use std::path::{Path, PathBuf};

/// One mistake in the file, at a place the operator can jump to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

/// Where a value was written in the file (1-based), so that a check made
/// after loading (FFmpeg exists, `hls_dir` is writable) can still point the
/// operator at the line to fix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Place {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

impl Place {
    /// The place of a byte offset in `text`.
    pub(crate) fn of(text: &str, offset: usize) -> Place {
        let (line, col) = line_col(text, offset);
        Place { line, col }
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source} (check the path and its permissions)", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file was read but is not a valid onair config.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// One problem found after loading (the file parsed, but what it names
    /// does not work on this machine), at `place` or else the file's start.
    pub fn at(path: &Path, place: Option<Place>, message: impl Into<String>) -> ConfigError {
        let place = place.unwrap_or(Place { line: 1, col: 1 });
        ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem {
                line: place.line,
                col: place.col,
                message: message.into(),
            }],
        }
    }

    /// The first problem as one `FILE:LINE:COL: message` line, for a status bar.
    pub fn headline(&self) -> String {
        match self {
            ConfigError::Io { .. } => self.to_string(),
            ConfigError::Invalid { path, problems } => {
                let first = problems
                    .first()
                    .map(|p| format!("{}:{}:{}: {}", path.display(), p.line, p.col, p.message))
                    .unwrap_or_default();
                if problems.len() > 1 {
                    format!("{first} (+{} more)", problems.len() - 1)
                } else {
                    first
                }
            }
        }
    }
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}:{}:{}: {}", path.display(), p.line, p.col, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
