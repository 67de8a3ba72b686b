use beckett::recurring::Occurrence;

#[beckett::recurring("0 9 * * *", group = "Reporting")]
async fn digest(occurrence: &Occurrence) -> beckett::Result<()> {
    let _ = occurrence;
    Ok(())
}

fn main() {}
