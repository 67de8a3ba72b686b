#[beckett::recurring("0 9 * * *")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
