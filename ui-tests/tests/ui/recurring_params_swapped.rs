use beckett::recurring::Occurrence;
use beckett::Context;

#[beckett::recurring("0 9 * * *", group = "Reporting")]
async fn digest(ctx: Context, occurrence: Occurrence) -> beckett::Result<()> {
    let _ = (ctx, occurrence);
    Ok(())
}

fn main() {}
