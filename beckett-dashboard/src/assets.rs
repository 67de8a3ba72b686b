//! The dashboard's scripts and styles, embedded in the binary: it works
//! with no network beyond the one that reaches it.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Each asset's name, type and content.
const ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "htmx.min.js",
        "text/javascript",
        include_bytes!("../assets/htmx.min.js"),
    ),
    (
        "dashboard.js",
        "text/javascript",
        include_bytes!("../assets/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css",
        include_bytes!("../assets/dashboard.css"),
    ),
];

/// Serves an embedded asset, for a day of caching.
pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, content)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *content,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
