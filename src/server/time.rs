//! `/time`: onair's clock, for screens that keep in step.
//!
//! Every screen of a room aims at the same moment of the program: the frame
//! whose `PROGRAM-DATE-TIME` is onair's now minus the profile's
//! `screen_delay`. A TV's own clock may be seconds off, so each screen
//! measures the offset between its clock and this one (several round trips,
//! the shortest one counted, half of it taken as the way back).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::time::{SystemTime, UNIX_EPOCH};

/// `GET /time`: Unix time in milliseconds with three decimals, as plain
/// text; never cached.
pub(crate) async fn now() -> Response {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0);
    let response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        format!("{millis:.3}"),
    )
        .into_response();
    super::cors::allow_any_origin(response)
}
