// On the 1st, or on Mondays? crontab and the scheduler disagree.
#[beckett::recurring("0 9 1 * MON", group = "Reporting")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
