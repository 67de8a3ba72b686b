use beckett::Context;

// The first of two parameters receives the occurrence.
#[beckett::recurring("0 9 * * *", group = "Reporting")]
async fn digest(scheduled_at: u64, ctx: Context) -> beckett::Result<()> {
    let _ = (scheduled_at, ctx);
    Ok(())
}

fn main() {}
