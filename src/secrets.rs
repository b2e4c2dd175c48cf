//! Masking of stream keys and credentials.
//!
//! A key shown on a screen shared with a venue's crew, or left in a log, is
//! a stolen channel. Everything onair displays, logs or serves goes through
//! these functions first.

/// What replaces a hidden value.
pub const MASK: &str = "****";

/// Masks the secret parts of one URL: userinfo, the query string, and for
/// RTMP the last path segment (the stream key). Text that is not a URL is
/// returned unchanged.
pub fn mask_url(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let scheme = &text[..scheme_end];
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return text.to_string();
    }
    let rest = &text[scheme_end + 3..];
    let (before_query, has_query) = match rest.find('?') {
        Some(q) => (&rest[..q], true),
        None => (rest, false),
    };
    let (authority, path) = match before_query.find('/') {
        Some(slash) => (&before_query[..slash], &before_query[slash..]),
        None => (before_query, ""),
    };
    let host = match authority.rfind('@') {
        Some(at) => format!("{MASK}@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let is_rtmp = scheme.to_ascii_lowercase().starts_with("rtmp");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let path = if is_rtmp && segments.len() >= 2 {
        let keep = &segments[..segments.len() - 1];
        format!("/{}/{MASK}", keep.join("/"))
    } else {
        path.to_string()
    };
    let query = if has_query {
        format!("?{MASK}")
    } else {
        String::new()
    };
    format!("{scheme}://{host}{path}{query}")
}

/// Masks free text (an FFmpeg error line, a log message): every URL in it is
/// passed through [`mask_url`], then every known secret value (those that
/// came from `${VAR}`) is replaced wherever it still appears.
pub fn mask_text(text: &str, secret_values: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let start = rest[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+'))
            .map_or(0, |i| i + 1);
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '<' || c == '>')
            .map_or(rest.len(), |i| pos + i);
        let end = trim_trailing_punct(rest, start, end);
        out.push_str(&rest[..start]);
        out.push_str(&mask_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    mask_values(&out, secret_values)
}

/// Masks only the known secret values in a text, leaving URLs as they are:
/// for text written to be shown (an overlay on a screen), where a ticket
/// link's query is not a secret but a stream key pasted in would be.
pub fn mask_values(text: &str, secret_values: &[String]) -> String {
    let mut masked = text.to_string();
    for secret in secret_values {
        if secret.len() >= 3 && masked.contains(secret.as_str()) {
            masked = masked.replace(secret.as_str(), MASK);
        }
    }
    masked
}

/// A URL in prose often ends in `:` or `,` (`rtmp://h/app/key: I/O error`).
fn trim_trailing_punct(text: &str, start: usize, mut end: usize) -> usize {
    while end > start && matches!(text.as_bytes()[end - 1], b':' | b',' | b';' | b')' | b'.') {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_key_is_the_last_segment() {
        assert_eq!(
            mask_url("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl"),
            "rtmp://a.rtmp.youtube.com/live2/****"
        );
        assert_eq!(
            mask_url("rtmps://live.example:443/app/key"),
            "rtmps://live.example:443/app/****"
        );
    }

    #[test]
    fn an_rtmp_url_without_key_is_left_alone() {
        assert_eq!(mask_url("rtmp://127.0.0.1/live"), "rtmp://127.0.0.1/live");
    }

    #[test]
    fn userinfo_and_query_are_hidden() {
        assert_eq!(
            mask_url("rtsp://admin:hunter2@10.0.0.5:554/stream1"),
            "rtsp://****@10.0.0.5:554/stream1"
        );
        assert_eq!(
            mask_url("srt://ingest.example:9000?streamid=publish:abc&passphrase=xyz"),
            "srt://ingest.example:9000?****"
        );
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(mask_url("-c:v"), "-c:v");
        assert_eq!(mask_url("lavfi"), "lavfi");
    }

    #[test]
    fn urls_inside_error_lines_are_masked() {
        let line = "[error] rtmp://live.example/app/SECRETKEY: Connection refused";
        assert_eq!(
            mask_text(line, &[]),
            "[error] rtmp://live.example/app/****: Connection refused"
        );
    }

    #[test]
    fn known_secret_values_are_masked_anywhere() {
        let secrets = vec!["s3cr3t-key".to_string()];
        assert_eq!(
            mask_text("Failed to publish stream s3cr3t-key", &secrets),
            "Failed to publish stream ****"
        );
    }
}
