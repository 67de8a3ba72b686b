use beckett::recurring::Occurrence;
use beckett::Context;

#[beckett::recurring("0 9 * * *", group = "Reporting")]
async fn digest(occurrence: Occurrence, ctx: Context, retries: u32) -> beckett::Result<()> {
    let _ = (occurrence, ctx, retries);
    Ok(())
}

fn main() {}
