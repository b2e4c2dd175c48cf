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

/// Errors that a restart cannot fix: the command line itself is wrong (an
/// unknown option, encoder, filter or format, a value FFmpeg cannot parse).
/// A line that names a URL is about the network, never the command line;
/// FFmpeg's closing `Error opening output files: Invalid argument` says
/// nothing of the cause and is not one either.
pub fn is_configuration_error(line: &str) -> bool {
    [
        "Unrecognized option",
        "Error splitting the argument list",
        "Option not found",
        "No such filter",
        "Unknown encoder",
        "Unknown decoder",
        "Unknown input format",
        "Unknown pixel format",
        "Unable to parse option value",
        "Error setting option",
        "Error setting preset",
        "invalid preset",
        "Invalid encoder type",
        "Requested output format",
    ]
    .iter()
    .any(|p| line.contains(p))
        && !line.contains("://")
}

/// The error lines of one FFmpeg run, read as they come: the newest one
/// (what the operator sees while it runs) and the first that says the
/// command line itself is wrong. FFmpeg often ends with a generic line
/// after the real cause, so whether to give up is decided from every line
/// of the run, not the last one.
#[derive(Debug, Clone, Default)]
pub struct RunErrors {
    last: Option<String>,
    unfixable: Option<String>,
}

impl RunErrors {
    /// Takes one error line (see [`error_text`]) and returns what to show
    /// as the stream's latest error.
    pub fn push(&mut self, text: String) -> &str {
        if self.unfixable.is_none() && is_configuration_error(&text) {
            self.unfixable = Some(text.clone());
        }
        let shown = keep_server_reason(self.last.as_deref(), text);
        self.last.insert(shown).as_str()
    }

    /// The line that says the command line is wrong, if any line did: a
    /// restart would fail the same way.
    pub fn unfixable(&self) -> Option<&str> {
        self.unfixable.as_deref()
    }

    /// Why the run ended, as far as FFmpeg said: the line that makes it
    /// unfixable if there is one, else the newest error.
    pub fn reason(&self) -> Option<&str> {
        self.unfixable.as_deref().or(self.last.as_deref())
    }
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
        " — the host does not answer: is it switched on and reachable? check the network and the address in the URL"
    } else if reason.contains("401 Unauthorized") {
        " — the camera refused the user name or password: check user:password in the input URL"
    } else if reason.contains("403 Forbidden") {
        " — the camera refused this user: give it the right to view the stream in the camera's settings"
    } else if reason.contains("404 Not Found") {
        " — the camera has no stream at that path: check the path in the input URL against the camera's manual"
    } else if reason.contains("5XX Server Error") || reason.contains("453 Not Enough Bandwidth") {
        " — the camera could not serve the stream: too many viewers, or its encoder is restarting"
    } else if reason.contains("rtsp://")
        && reason.contains("Invalid data found when processing input")
    {
        " — the camera accepted the connection but sent no RTSP answer: check the port in the URL, or the camera is hung (power-cycle it)"
    } else {
        ""
    };
    format!("{reason}{hint}")
}

/// Why FFmpeg could not be started, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnFailure {
    /// What happened and what to do.
    pub message: String,
    /// A passing shortage (no memory or processes left for a moment, the
    /// binary being replaced): back off and try again. Otherwise the
    /// program itself is wrong and only the operator can fix it.
    pub retry: bool,
}

/// Reads an error from starting `program`.
pub fn spawn_failure(program: &str, error: &std::io::Error) -> SpawnFailure {
    let fatal = |message: String| SpawnFailure {
        message,
        retry: false,
    };
    match error.kind() {
        std::io::ErrorKind::NotFound => fatal(format!(
            "ffmpeg not found at `{program}`: install it (apt-get install ffmpeg) or set [server].ffmpeg in streams.toml"
        )),
        std::io::ErrorKind::PermissionDenied => fatal(format!(
            "`{program}` is not executable: check [server].ffmpeg and the file's permissions"
        )),
        _ if matches!(
            error.raw_os_error(),
            Some(libc::ENOEXEC | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG | libc::EISDIR)
        ) =>
        {
            fatal(format!(
                "cannot start `{program}`: {error} (check [server].ffmpeg)"
            ))
        }
        _ => SpawnFailure {
            message: format!("cannot start `{program}` right now: {error}"),
            retry: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as FFmpeg 5.1 prints them for a camera, already masked.
    #[test]
    fn every_camera_failure_gets_its_hint() {
        let cases = [
            (
                "rtsp://****@127.0.0.1:8554/cam: Server returned 401 Unauthorized (authorization failed)",
                "user name or password",
            ),
            (
                "rtsp://127.0.0.1:8554/cam/nope: Server returned 404 Not Found",
                "no stream at that path",
            ),
            (
                "rtsp://127.0.0.1:8554/cam: Connection refused",
                "nothing is listening",
            ),
            (
                "rtsp://127.0.0.1:8554/cam: Connection timed out",
                "does not answer",
            ),
            (
                "rtsp://127.0.0.1:8554/cam: Invalid data found when processing input",
                "sent no RTSP answer",
            ),
            (
                "rtsp://127.0.0.1:8554/cam: Server returned 5XX Server Error reply",
                "could not serve the stream",
            ),
        ];
        for (line, hint) in cases {
            let shown = with_hint(&format!("exited with code 1: {line}"));
            assert!(shown.contains(hint), "{shown}");
        }
        assert_eq!(
            with_hint("exited with code 1: x.mp4: Invalid data found when processing input"),
            "exited with code 1: x.mp4: Invalid data found when processing input"
        );
    }

    #[test]
    fn argument_errors_are_not_retried_but_network_errors_are() {
        assert!(is_configuration_error("Unrecognized option 'foo'."));
        assert!(!is_configuration_error(
            "rtmp://h/app/****: Invalid argument"
        ));
        assert!(!is_configuration_error("Connection refused"));
        assert!(!is_configuration_error(
            "Error opening output files: Invalid argument"
        ));
    }

    #[test]
    fn the_cause_counts_even_when_a_generic_line_follows_it() {
        let mut run = RunErrors::default();
        run.push("[AVFilterGraph @ 0x5] No such filter: 'blurr'".to_string());
        let shown = run
            .push("Error while processing the decoded data for stream #0:0".to_string())
            .to_string();
        assert_eq!(
            shown,
            "Error while processing the decoded data for stream #0:0"
        );
        assert_eq!(
            run.unfixable(),
            Some("[AVFilterGraph @ 0x5] No such filter: 'blurr'")
        );
        assert_eq!(run.reason(), run.unfixable());

        let mut run = RunErrors::default();
        run.push(
            "[tcp @ 0x5] Connection to tcp://127.0.0.1:9 failed: Connection refused".to_string(),
        );
        run.push("Error opening output files: Invalid argument".to_string());
        assert_eq!(run.unfixable(), None);
        assert_eq!(
            run.reason(),
            Some("Error opening output files: Invalid argument")
        );
    }

    #[test]
    fn passing_shortages_at_spawn_are_retried_and_a_wrong_program_is_not() {
        let retry =
            |errno| spawn_failure("ffmpeg", &std::io::Error::from_raw_os_error(errno)).retry;
        assert!(retry(libc::EAGAIN));
        assert!(retry(libc::ENOMEM));
        assert!(retry(libc::ETXTBSY));
        assert!(!retry(libc::ENOENT));
        assert!(!retry(libc::EACCES));
        assert!(!retry(libc::ENOEXEC));
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
