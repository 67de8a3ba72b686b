//! Connecting: a database that cannot be reached is named, password masked.

use beckett::Error;

#[tokio::test]
async fn unreachable_database_is_named_with_password_masked() {
    // Port 1 on loopback: nothing listens, so the connection is refused.
    let error = beckett::connect("postgres://app:hunter2@127.0.0.1:1/app")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("postgres://app:***@127.0.0.1:1/app"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn malformed_database_url_names_the_setting_without_echoing_it() {
    let error = beckett::connect("app:hunter2@nowhere").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Config {
                setting: "DATABASE_URL",
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
