//! Conditional requests: whether a client's cached copy (its
//! `If-None-Match` or `If-Range` list) is the one we would send.

use axum::http::HeaderValue;

/// True when `value` (a comma-separated list of entity tags, or `*`) names
/// `etag`. Weak tags (`W/"…"`) match their strong twin: a player's cache
/// may weaken a tag, and the bytes behind ours never change.
pub(crate) fn matches(value: &HeaderValue, etag: &[u8]) -> bool {
    value.to_str().is_ok_and(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/").as_bytes() == etag
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_weak_listed_and_any_tags_match() {
        let etag = br#""abc""#;
        let check = |v: &'static str| matches(&HeaderValue::from_static(v), etag);
        assert!(check(r#""abc""#));
        assert!(check(r#"W/"abc""#));
        assert!(check(r#""x", W/"abc""#));
        assert!(check("*"));
        assert!(!check(r#""abd""#));
        assert!(!check(r#"W/"x""#));
    }
}
