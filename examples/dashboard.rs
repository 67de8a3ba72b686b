//! The operators' dashboard mounted in an application's own axum router,
//! under `/ops`, behind the application's own authentication, beside a
//! subscription that fails on some messages so there is something to
//! retry or skip.
//!
//! ```sh
//! cargo run --example dashboard      # then open http://127.0.0.1:8080/ops (ops / change-me)
//! ```
//!
//! `beckett::run()` serves the same dashboard by itself, at the root, when
//! `BECKETT_DASHBOARD` says where (`BECKETT_DASHBOARD=9090`).

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use beckett::dashboard::Dashboard;
use beckett::{Beckett, ExpectedVersion, Message, NewMessage};
use serde::{Deserialize, Serialize};

#[derive(Debug, Message, Serialize, Deserialize)]
struct PaymentRequested {
    amount: u32,
}

/// Declines payments over 1,000, which fails their streams.
#[beckett::subscription(group = "Payments", messages(PaymentRequested), max_retries = 1)]
async fn charge(payment: PaymentRequested) -> Result<(), beckett::BoxError> {
    if payment.amount > 1_000 {
        return Err(format!("card declined: {} is over the limit", payment.amount).into());
    }
    Ok(())
}

/// The application's own authentication, here HTTP basic with the user
/// `ops` and the password `change-me` (base64 of `ops:change-me`).
async fn operators_only(request: Request, next: Next) -> Response {
    const EXPECTED: &str = "Basic b3BzOmNoYW5nZS1tZQ==";
    let given = request.headers().get(header::AUTHORIZATION);
    if given.is_some_and(|value| value == EXPECTED) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"operators\"")],
    )
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = beckett::open_from_env().await?;
    for (n, amount) in [120, 2_500, 80, 4_000].into_iter().enumerate() {
        let payment = NewMessage::new(&PaymentRequested { amount })?;
        let stream = format!("Payment-{n}");
        storage
            .messages()
            .append(&stream, ExpectedVersion::Any, vec![payment])
            .await?;
    }
    let engine = Beckett::builder().storage(storage.clone()).build()?;
    let running = tokio::spawn(engine.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    }));

    let ops = Dashboard::on(storage)
        .router()
        .layer(middleware::from_fn(operators_only));
    let app = Router::new()
        .route(
            "/",
            get(|| async { "the application; its operators go to /ops" }),
        )
        .nest("/ops", ops);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("dashboard at http://127.0.0.1:8080/ops (user ops, password change-me)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    running.await??;
    Ok(())
}
