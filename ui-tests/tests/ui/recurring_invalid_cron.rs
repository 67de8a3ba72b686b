// 5 fields start with the minute, which stops at 59.
#[beckett::recurring("61 9 * * *", group = "Reporting")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
