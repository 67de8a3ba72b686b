use beckett::Context;

#[beckett::recurring("0 9 * * *", group = "Reporting")]
async fn digest(ctx: Context, retries: u32) -> beckett::Result<()> {
    let _ = (ctx, retries);
    Ok(())
}

fn main() {}
