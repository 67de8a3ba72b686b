// A single parameter not named `Occurrence` receives the context; the
// occurrence's time comes in the `Occurrence`, not as a value of its own.
#[beckett::recurring("0 9 * * *", group = "Reporting")]
async fn digest(day: u32) -> beckett::Result<()> {
    let _ = day;
    Ok(())
}

fn main() {}
