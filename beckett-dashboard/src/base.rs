//! Where the dashboard is mounted, for the links its pages hold.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use std::convert::Infallible;

/// The path the dashboard is mounted at, without a trailing slash: empty
/// at the root, `/ops` when nested there.
#[derive(Debug, Clone)]
pub struct Base(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let inner = parts.uri.path();
        let full = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(inner, |uri| uri.0.path());
        // Nested at `/ops`, the request for `/ops` itself comes in as `/`.
        let base = full
            .strip_suffix(inner)
            .or_else(|| (inner == "/").then_some(full))
            .unwrap_or_default();
        Ok(Self(base.trim_end_matches('/').to_owned()))
    }
}
