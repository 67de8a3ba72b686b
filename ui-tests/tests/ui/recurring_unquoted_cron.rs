#[beckett::recurring(0 9 * * *, group = "Reporting")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
