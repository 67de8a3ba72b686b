// Groups may contain dots; names may not.
#[beckett::recurring("0 9 * * *", group = "Reporting.eu", name = "daily.digest")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
