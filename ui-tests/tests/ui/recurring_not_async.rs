#[beckett::recurring("0 9 * * *", group = "Reporting")]
fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
