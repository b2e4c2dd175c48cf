//! Who may see what. Screens get what a screen needs (pages, HLS, their own
//! events, assets); operator data (pids, FFmpeg command lines, stderr tails,
//! paths, metrics) goes only to the addresses in `[server].operator_allow`,
//! this machine by default. Everyone else gets a 403 that says why.
//!
//! A handler of operator data takes an [`Operator`] argument; a handler that
//! shows more to the operator than to others takes a [`Client`].

use super::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

/// The client of a request, and whether it is an operator's address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    /// The peer's address (absent only if the server was not told it).
    pub(crate) address: Option<IpAddr>,
    /// True when `[server].operator_allow` lists the address.
    pub(crate) operator: bool,
}

impl Client {
    /// The 403 a screen or a stranger gets for an operator route.
    pub(crate) fn refusal(&self, path: &str) -> Response {
        let who = self.address.map_or_else(
            || "this client".to_string(),
            |a| a.to_canonical().to_string(),
        );
        (
            StatusCode::FORBIDDEN,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            format!(
                "403 Forbidden: {path} is operator data (pids, commands, logs); {who} is not in \
                 [server].operator_allow in streams.toml, which allows only this machine unless set.\n"
            ),
        )
            .into_response()
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let operator =
            address.is_some_and(|a| state.engine.config().server.operator_allow.allows(a));
        Ok(Client { address, operator })
    }
}

/// Present only when the client may see operator data; otherwise the
/// request is answered with a 403.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(client) = Client::from_request_parts(parts, state).await;
        if client.operator {
            Ok(Operator)
        } else {
            Err(client.refusal(parts.uri.path()))
        }
    }
}
