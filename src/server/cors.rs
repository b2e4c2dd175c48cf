//! Cross-origin access to the HLS files and assets: any web page may embed
//! onair's streams (a venue's own site, a signage system), so every answer
//! says `Access-Control-Allow-Origin: *`. Done with two static headers
//! rather than a general CORS layer: these routes carry every screen's
//! traffic, and the answer never depends on the origin.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Headers a player may read from a cross-origin answer.
const EXPOSED: &str = "Content-Length, Content-Range, Accept-Ranges, ETag";

/// Marks an answer as readable from any origin.
pub(crate) fn allow_any_origin(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    response
}

/// `OPTIONS`: the preflight a browser sends before a cross-origin request
/// with a `Range` header.
pub(crate) async fn preflight(request: HeaderMap) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    let asked = request
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("Range"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    (StatusCode::NO_CONTENT, headers).into_response()
}
