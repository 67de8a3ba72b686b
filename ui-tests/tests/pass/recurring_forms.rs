use beckett::recurring::Occurrence;
use beckett::Context;

// No parameter, a 5-field expression with day names.
#[beckett::recurring("0 9 * * MON-FRI", group = "Reporting")]
async fn weekday_digest() -> beckett::Result<()> {
    Ok(())
}

// The context, by value; day numbers as in crontab (0 and 7 are Sunday).
#[beckett::recurring("30 18 * * 5-7", group = "Reporting", name = "weekend_report")]
async fn weekend_report(ctx: Context) -> beckett::Result<()> {
    println!("{} #{} (attempt {})", ctx.stream(), ctx.position(), ctx.attempt());
    Ok(())
}

// The context through its full path; 6 fields, seconds first; a std error.
#[beckett::recurring("*/30 * * * * *", group = "Health", max_retries = 0, timeout = "5s")]
async fn heartbeat(ctx: beckett::Context) -> Result<(), std::io::Error> {
    let _ = ctx.stream();
    Ok(())
}

// 7 fields, with a year; a `String` error, boxed on the way out.
#[beckett::recurring("0 0 12 1 JAN * 2030-2040", group = "Reporting", max_retries = 3)]
async fn new_year() -> Result<(), String> {
    Err("not yet".to_owned())
}

// A shorthand, every option, and a name that shadows the macro's locals.
#[beckett::recurring(
    "@hourly",
    group = "Maintenance",
    name = "sweep",
    max_retries = 5,
    timeout = "1m",
)]
async fn ctx(ctx: Context) -> Result<(), beckett::BoxError> {
    let _ = ctx.position();
    Ok(())
}

// A raw identifier, the name without `r#`; `?` for an unrestricted day.
#[beckett::recurring("0 0 1 * ?", group = "Billing")]
async fn r#match() -> beckett::Result<()> {
    Ok(())
}

// The occurrence alone: the time it was due, which a late run still sees.
#[beckett::recurring("0 2 * * *", group = "Billing", name = "nightly_close")]
async fn nightly_close(occurrence: Occurrence) -> beckett::Result<()> {
    println!("closing the books of {}", occurrence.scheduled_at.date_naive());
    Ok(())
}

// The occurrence through its full path, then the context; a group with dots.
#[beckett::recurring("*/15 * * * *", group = "Reporting.eu", timeout = "30s")]
async fn quarter_hour(
    occurrence: beckett::recurring::Occurrence,
    ctx: Context,
) -> Result<(), std::io::Error> {
    println!(
        "{} due at {} ({} #{})",
        occurrence.job,
        occurrence.scheduled_at,
        ctx.stream(),
        ctx.position()
    );
    Ok(())
}

// Parameters named like the macro's locals.
#[beckett::recurring("@daily", group = "Maintenance")]
async fn shadowing(envelope: Occurrence, occurrence: Context) -> beckett::Result<()> {
    let _ = (envelope.scheduled_at, occurrence.position());
    Ok(())
}

fn main() {
    // The functions stay callable.
    let _ = weekday_digest();
    let _ = new_year();
    let _ = r#match();
    let _ = nightly_close(Occurrence::new("nightly_close", Default::default()));
}
