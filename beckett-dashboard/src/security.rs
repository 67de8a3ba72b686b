//! What guards every request: no change from another site, none at all
//! when read-only, and a content security policy on every answer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Nothing from elsewhere, no inline script or style, no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Refuses changes a dashboard must not make, then adds the security
/// headers to the answer.
pub async fn guard(State(read_only): State<bool>, request: Request, next: Next) -> Response {
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changes && read_only {
        return (StatusCode::FORBIDDEN, "this dashboard is read-only").into_response();
    }
    if changes && !same_origin(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "refused: the request comes from another site",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether a request that changes something comes from the dashboard's
/// own pages. Browsers say where a request comes from in `Sec-Fetch-Site`,
/// or, before they sent that, in `Origin`, which must then name the host
/// asked. A request with neither comes from no browser (a script, `curl`),
/// which no other site can make a user's browser send.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn fetch_metadata_decides_first() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://ops.example"),
            ("host", "ops.example"),
        ])));
    }

    #[test]
    fn origin_must_name_the_host() {
        let ours = [
            ("origin", "http://127.0.0.1:9000"),
            ("host", "127.0.0.1:9000"),
        ];
        assert!(same_origin(&headers(&ours)));
        let theirs = [
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:9000"),
        ];
        assert!(!same_origin(&headers(&theirs)));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "a")])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:9000")])));
    }
}
