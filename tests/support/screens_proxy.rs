//! The screens proxy a venue puts in front of onair: the shipped
//! `assets/nginx-screens.conf` run by a real nginx. A test that includes
//! this file also has `mod common;` (for `free_port`).
#![allow(dead_code)]

pub use crate::common::free_port;

#[path = "rtmp_hub.rs"]
pub mod nginx;

/// The shipped `assets/nginx-screens.conf` in front of onair at `onair`,
/// in a new directory: the tests run the very file the README tells
/// operators to install, with its port, upstream, cache and logs moved.
pub fn screens_proxy(onair: std::net::SocketAddr) -> (tempfile::TempDir, nginx::Nginx) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("proxy dir");
    // nginx's workers run as another user: they must reach the cache.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the proxy dir");
    let proxy = nginx::Nginx::start_config(dir.path(), "proxy", |dir, port| {
        const FILE: &str = "assets/nginx-screens.conf";
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/nginx-screens.conf"
        ))
        .expect("assets/nginx-screens.conf is missing");
        let cache = dir.join("cache");
        std::fs::create_dir_all(&cache).expect("the proxy's cache dir");
        let mut text = shipped.replace("/var/cache/onair-screens", &cache.display().to_string());
        for (directive, replacement) in [
            ("pid ", format!("pid {};", dir.join("nginx.pid").display())),
            (
                "error_log ",
                format!("error_log {} warn;", dir.join("error.log").display()),
            ),
            ("listen ", format!("listen 127.0.0.1:{port};")),
            ("server 127.0.0.1:8080", format!("server {onair};")),
        ] {
            text = nginx::replace_directive(&text, directive, &replacement, FILE);
        }
        text
    });
    (dir, proxy)
}
