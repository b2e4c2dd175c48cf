//! Time as onair uses it: wall-clock times as an operator reads them (local
//! `HH:MM:SS`), and the optional deadlines its event loops wait for.

/// Sleeps until `at`; with no deadline, never wakes (a `select!` branch
/// that stays quiet until there is something to wait for).
pub async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Formats Unix milliseconds as local `HH:MM:SS` (the venue's time zone,
/// from the system's `TZ` settings).
pub fn local_hms(unix_millis: u64) -> String {
    let secs = (unix_millis / 1000) as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we pass; a zeroed `tm` is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if ok {
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
    } else {
        let day = unix_millis / 1000 % 86_400;
        format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
    }
}
