//! What FFmpeg's stderr says when something goes wrong: which lines are
//! errors, which errors a restart cannot fix, and what the operator should
//! do about the common ones.
//!
//! Pure functions over already masked text; the engine feeds them and
//! decides what to do.

use std::process::ExitStatus;

/// The error text of a stderr line printed with `-loglevel level+…`, or
/// `None` for a line that is not an error. `[hls @ 0x55] [error] text`
/// becomes `[hls @ 0x55] text`; `[fatal] text` becomes `text`.
pub fn error_text(line: &str) -> Option<String> {
    if let Some(text) = line
        .strip_prefix("[error] ")
        .or_else(|| line.strip_prefix("[fatal] "))
    {
        return Some(text.to_string());
    }
    (line.contains("] [error] ") || line.contains("] [fatal] ")).then(|| strip_level(line))
}

/// `[hls @ 0x55] [error] text` → `[hls @ 0x55] text`.
fn strip_level(line: &str) -> String {
    line.replace("[error] ", "").replace("[fatal] ", "")
}

/// An RTMP server says why it refused (`Server error: No such stream`,
/// `Already publishing`) in one line, and FFmpeg then ends with a generic
/// one (`rtmp://host/app/****: Operation not permitted`). The last line
/// alone would hide the reason, so the server's words are kept beside it.
pub fn keep_server_reason(previous: Option<&str>, line: String) -> String {
    const SERVER: &str = "Server error: ";
    match previous.and_then(|p| p.find(SERVER).map(|at| &p[at..])) {
        Some(reason) if !line.contains(SERVER) => format!("{line} ({reason})"),
        _ => line,
    }
}

/// How a process ended, in words.
pub fn describe_exit(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => "exited".to_string(),
        },
        None => "exited (status unknown)".to_string(),
    }
}

/// Errors that a restart cannot fix: the command line itself is wrong.
pub fn is_configuration_error(line: &str) -> bool {
    [
        "Unrecognized option",
        "Error splitting the argument list",
        "Option not found",
        "No such filter",
        "Unknown encoder",
        "Invalid argument",
    ]
    .iter()
    .any(|p| line.contains(p))
        && !line.contains("://")
}

/// Adds what to do for the errors operators meet most.
pub fn with_hint(reason: &str) -> String {
    let hint = if reason.contains("No space left on device") {
        " — the disk is full: free space under hls_dir"
    } else if reason.contains("No such stream") {
        " — nothing is published under that name yet: is the encoder sending to it?"
    } else if reason.contains("Already publishing") {
        " — another sender already uses that stream name: check for a second encoder or a duplicate destination"
    } else if reason.contains("Connection refused") {
        " — nothing is listening there: is the source or destination up?"
    } else if reason.contains("Permission denied") {
        " — check the permissions of hls_dir and the input"
    } else if reason.contains("Connection timed out") || reason.contains("timed out") {
        " — the host does not answer: check the network and the URL"
    } else {
        ""
    };
    format!("{reason}{hint}")
}

/// Why FFmpeg could not be started, and what to do.
pub fn spawn_failure(program: &str, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => format!(
            "ffmpeg not found at `{program}`: install it (apt-get install ffmpeg) or set [server].ffmpeg in streams.toml"
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!(
                "`{program}` is not executable: check [server].ffmpeg and the file's permissions"
            )
        }
        _ => format!("cannot start `{program}`: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_errors_are_not_retried_but_network_errors_are() {
        assert!(is_configuration_error("Unrecognized option 'foo'."));
        assert!(!is_configuration_error(
            "rtmp://h/app/****: Invalid argument"
        ));
        assert!(!is_configuration_error("Connection refused"));
    }

    #[test]
    fn error_lines_are_told_from_the_rest() {
        assert_eq!(error_text("[error] boom").as_deref(), Some("boom"));
        assert_eq!(
            error_text("[hls @ 0x55] [error] cannot open").as_deref(),
            Some("[hls @ 0x55] cannot open")
        );
        assert_eq!(error_text("[warning] late"), None);
        assert_eq!(error_text("[info] frame=1"), None);
    }

    #[test]
    fn an_rtmp_server_refusal_is_kept_beside_the_final_error() {
        let reason = keep_server_reason(
            Some("[rtmp @ 0x55] Server error: No such stream"),
            "rtmp://127.0.0.1/live/****: Operation not permitted".to_string(),
        );
        assert_eq!(
            reason,
            "rtmp://127.0.0.1/live/****: Operation not permitted (Server error: No such stream)"
        );
        assert!(with_hint(&reason).contains("is the encoder sending"));
        assert_eq!(
            keep_server_reason(Some("Broken pipe"), "Connection refused".to_string()),
            "Connection refused"
        );
    }

    #[test]
    fn a_full_disk_says_what_to_do() {
        assert!(with_hint("exited with code 1: No space left on device").contains("free space"));
    }
}
