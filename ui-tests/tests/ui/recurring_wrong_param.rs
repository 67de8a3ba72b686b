// A job receives nothing, or the context; not the occurrence's time.
#[beckett::recurring("0 9 * * *", group = "Reporting")]
async fn digest(day: u32) -> beckett::Result<()> {
    let _ = day;
    Ok(())
}

fn main() {}
