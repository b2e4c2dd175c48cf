//! Who may talk to an engine: its own user, and root.
//!
//! The socket's directory already keeps other users out (mode 0700); the
//! engine checks the peer's uid on every connection as well (`SO_PEERCRED`),
//! so a loosened directory or a socket handed over by hand still lets no one
//! else stop a stream or read a snapshot.

/// Whether a peer running as `peer_uid` may use the engine of `owner_uid`.
pub fn may_attach(peer_uid: u32, owner_uid: u32) -> bool {
    peer_uid == owner_uid || peer_uid == 0
}

/// The message a refused peer gets.
pub fn refusal(peer_uid: u32, owner_uid: u32) -> String {
    let owner = user_name(owner_uid).unwrap_or_else(|| format!("uid {owner_uid}"));
    let run_as = if owner_uid == 0 {
        owner
    } else {
        format!("{owner} (or as root)")
    };
    format!(
        "this engine belongs to {}; {} may not attach to it, send it commands or read its status: run onair as {run_as}",
        describe_user(owner_uid),
        describe_user(peer_uid),
    )
}

/// `root (uid 0)`, or `uid 1234` for a user with no name.
pub fn describe_user(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// A user's login name from the user database.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes only into `pwd` and `buf` (of the given
    // length) and sets `result` to `&pwd` or null.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_and_root_may_attach_nobody_else() {
        assert!(may_attach(1000, 1000));
        assert!(may_attach(0, 1000));
        assert!(may_attach(0, 0));
        assert!(!may_attach(1001, 1000));
        assert!(!may_attach(65534, 0));
    }

    #[test]
    fn the_refusal_names_both_users_and_what_to_do() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        let text = refusal(4_000_000_000, 0);
        assert!(
            text.starts_with("this engine belongs to root (uid 0); uid 4000000000 may not attach"),
            "{text}"
        );
        assert!(text.ends_with("run onair as root"), "{text}");
        let text = refusal(0, 4_000_000_001);
        assert!(
            text.ends_with("run onair as uid 4000000001 (or as root)"),
            "{text}"
        );
    }
}
