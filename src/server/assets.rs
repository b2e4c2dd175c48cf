//! `/assets/…`: the player (page, script, style), hls.js and logos.
//!
//! Everything the player needs is compiled into the binary, so onair works
//! from any directory and a screen never breaks because a file was not
//! copied. An `assets/` directory beside `streams.toml` takes precedence:
//! that is where the operator puts the logos that `[[screen]] logo.image`
//! names (and may put a customised player).

use super::confined::ConfinedFiles;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tower_http::services::ServeDir;
use tower_http::services::fs::DefaultServeDirFallback;

/// One file compiled into the binary.
struct Embedded {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The files compiled into the binary.
const EMBEDDED: &[Embedded] = &[
    Embedded {
        name: "player.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/player.html"),
    },
    Embedded {
        name: "player.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/player.js"),
    },
    Embedded {
        name: "clock.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/clock.js"),
    },
    Embedded {
        name: "sync.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/sync.js"),
    },
    Embedded {
        name: "overlays.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/overlays.js"),
    },
    Embedded {
        name: "screen-report.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/screen-report.js"),
    },
    Embedded {
        name: "player.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/player.css"),
    },
    Embedded {
        name: "wall.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/wall.html"),
    },
    Embedded {
        name: "wall.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/wall.js"),
    },
    Embedded {
        name: "wall.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/wall.css"),
    },
    Embedded {
        name: "hls.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/hls.min.js"),
    },
    Embedded {
        name: "hls.js.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../assets/hls.js.LICENSE"),
    },
    Embedded {
        name: "onair-logo.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/onair-logo.svg"),
    },
];

/// Asset files: the operator's directory first, then the embedded copies.
#[derive(Clone)]
pub(crate) struct Assets(Arc<AssetsInner>);

pub(crate) struct AssetsInner {
    dir: PathBuf,
    disk: ServeDir<DefaultServeDirFallback, ConfinedFiles>,
}

impl std::ops::Deref for Assets {
    type Target = AssetsInner;

    fn deref(&self) -> &AssetsInner {
        &self.0
    }
}

impl Assets {
    /// Assets from `dir` (which need not exist), falling back to the embedded ones.
    pub(crate) fn new(dir: PathBuf) -> Assets {
        let backend = ConfinedFiles::new(&dir, |_| false);
        let disk = ServeDir::with_backend(&dir, backend)
            .append_index_html_on_directories(false)
            .redirect_to_trailing_slash(false);
        Assets(Arc::new(AssetsInner { dir, disk }))
    }

    /// The text of an asset (the player page template), from disk if the
    /// operator provided one, else the embedded copy.
    pub(crate) async fn text(&self, name: &str) -> Option<String> {
        if let Ok(text) = tokio::fs::read_to_string(self.dir.join(name)).await {
            return Some(text);
        }
        embedded(name).map(|(file, _)| String::from_utf8_lossy(file.body).into_owned())
    }
}

fn embedded(name: &str) -> Option<(&'static Embedded, &'static str)> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    let etags = ETAGS.get_or_init(|| EMBEDDED.iter().map(|file| etag(file.body)).collect());
    let index = EMBEDDED.iter().position(|file| file.name == name)?;
    Some((&EMBEDDED[index], etags[index].as_str()))
}

/// A strong validator for an embedded file (FNV-1a of its bytes), so a
/// screen revalidates cheaply and still picks up a new binary's player.
fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

/// `GET`/`HEAD /assets/{*path}`, readable from any origin.
pub(crate) async fn serve(State(assets): State<Assets>, request: Request) -> Response {
    super::cors::allow_any_origin(serve_asset(assets, request).await)
}

async fn serve_asset(assets: Assets, request: Request) -> Response {
    let Some(relative) = request
        .uri()
        .path()
        .strip_prefix("/assets")
        .map(str::to_owned)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let headers = request.headers().clone();
    if let Ok(uri) = relative.parse() {
        let (mut parts, body) = request.into_parts();
        parts.uri = uri;
        let mut disk = assets.disk.clone();
        if let Ok(response) = disk.try_call(Request::from_parts(parts, body)).await
            && response.status() != StatusCode::NOT_FOUND
        {
            let mut response = response.map(Body::new);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return response;
        }
    }
    let name = super::hls::percent_decode(relative.trim_start_matches('/')).unwrap_or_default();
    match embedded(&name) {
        Some((file, tag)) => embedded_response(file, tag, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn embedded_response(file: &Embedded, tag: &str, request_headers: &HeaderMap) -> Response {
    let matches = request_headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| super::etag::matches(v, tag.as_bytes()));
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, value);
    }
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    (headers, file.body).into_response()
}

/// The directory the operator's assets live in: `assets/` beside the config.
pub(crate) fn dir_beside(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .map(|dir| dir.join("assets"))
        .unwrap_or_else(|| PathBuf::from("assets"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_asset_is_there() {
        for name in [
            "player.html",
            "player.js",
            "player.css",
            "wall.html",
            "wall.js",
            "wall.css",
            "hls.min.js",
            "hls.js.LICENSE",
        ] {
            let (file, _) = embedded(name).expect(name);
            assert!(!file.body.is_empty(), "{name} is empty");
        }
        let hls = String::from_utf8_lossy(embedded("hls.min.js").expect("hls").0.body);
        assert!(hls.contains("Hls"), "hls.min.js is not hls.js");
    }

    #[test]
    fn etags_differ_with_content() {
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"a"), etag(b"a"));
    }
}
