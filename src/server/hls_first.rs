//! What the listener serves: the router, with screens' HLS reads answered
//! ahead of it.
//!
//! Every screen asks for a playlist and a segment per segment, so `GET` and
//! `HEAD` of `/hls/…` are nearly all the traffic. The router's work for them
//! (route matching, decoding the path into parameters, the request's
//! extensions, its layers) cost more than serving the file from memory, so
//! these requests go straight to [`super::hls::answer`], counted as every
//! other request is. Everything else, `OPTIONS /hls/…` included, goes
//! through the router with the peer's address (`ConnectInfo`) as before.

use super::AppState;
use super::hls::{self, HlsFiles};
use super::metrics;
use axum::Router;
use axum::extract::{ConnectInfo, FromRef, Request};
use axum::http::Method;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::Service;

/// The routes and what the HLS shortcut needs.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) routes: Router,
    pub(crate) state: AppState,
}

impl App {
    /// The same app with the router wrapped (e.g. in a per-listener layer).
    pub(crate) fn map_routes(&self, wrap: impl FnOnce(Router) -> Router) -> App {
        App {
            routes: wrap(self.routes.clone()),
            state: self.state.clone(),
        }
    }
}

/// One service per accepted connection, knowing the peer's address.
impl<L> Service<IncomingStream<'_, L>> for App
where
    L: Listener<Addr = SocketAddr>,
{
    type Response = Connection;
    type Error = Infallible;
    type Future = Ready<Result<Connection, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, L>) -> Self::Future {
        ready(Ok(Connection {
            app: self.clone(),
            peer: *stream.remote_addr(),
        }))
    }
}

/// The service of one connection.
#[derive(Clone)]
pub(crate) struct Connection {
    app: App,
    peer: SocketAddr,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Answer {
        let hls_read = matches!(*request.method(), Method::GET | Method::HEAD)
            && request.uri().path().starts_with("/hls/");
        if hls_read {
            let files = HlsFiles::from_ref(&self.app.state);
            let counting = metrics::Counting::start(&self.app.state.traffic, &request);
            Box::pin(async move { Ok(counting.finish(hls::answer(files, request).await)) })
        } else {
            request.extensions_mut().insert(ConnectInfo(self.peer));
            let mut routes = self.app.routes.clone();
            Box::pin(async move { routes.call(request).await })
        }
    }
}
