#[beckett::recurring("0 9 * * *", gruop = "Reporting")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
