//! Reading `streams.toml` from disk and handing its text to the resolver.
//!
//! A broken file must never take anything down: every problem is collected
//! with its `FILE:LINE:COL` and the caller keeps the config it already had.

use super::Config;
use super::problem::{ConfigError, Problem, line_col};
use super::resolve::Resolver;
use super::schema;
use std::path::{Path, PathBuf};

/// Reads and resolves a config file, with `${VAR}` taken from the environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let absolute = absolute_path(path);
    let text = std::fs::read_to_string(&absolute).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config = load_str(&text, &absolute, &|name| std::env::var(name).ok())
        .map_err(|e| with_display_path(e, path))?;
    if !config.literal_keys.is_empty() && readable_by_others(&absolute) {
        config.warnings.push(format!(
            "{} holds a literal stream key (in {}) and is readable by other users: run `chmod 600 {}` or move the key into ${{VAR}}",
            path.display(),
            config.literal_keys.join(", "),
            path.display()
        ));
    }
    Ok(config)
}

fn with_display_path(error: ConfigError, path: &Path) -> ConfigError {
    match error {
        ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        },
        other => other,
    }
}

fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o004 != 0)
        .unwrap_or(false)
}

fn absolute_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Resolves config text; `path` places relative paths and names the file in
/// messages, `env` answers `${VAR}` (a seam so tests need not touch the
/// process environment).
pub fn load_str(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let file: schema::File = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem {
                line,
                col,
                message: e.message().trim().to_string(),
            }],
        }
    })?;
    let mut resolver = Resolver {
        text,
        env,
        problems: Vec::new(),
        secrets: Vec::new(),
        base: path.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let config = resolver.resolve(file, path);
    if resolver.problems.is_empty() {
        let mut config = config;
        config.secrets = resolver.secrets;
        config.secrets.sort();
        config.secrets.dedup();
        Ok(config)
    } else {
        let mut problems = resolver.problems;
        problems.sort_by_key(|p| (p.line, p.col));
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}
