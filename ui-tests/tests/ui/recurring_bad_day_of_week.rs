// Saturday to Sunday, written the wrong way round.
#[beckett::recurring("0 9 * * 6-0", group = "Reporting")]
async fn weekend() -> beckett::Result<()> {
    Ok(())
}

// Day 8 does not exist.
#[beckett::recurring("0 9 * * 1,8", group = "Reporting")]
async fn weekly() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
