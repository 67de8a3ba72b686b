#[beckett::recurring(group = "Reporting")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
