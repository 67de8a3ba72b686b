// February has no 31st.
#[beckett::recurring("0 0 31 2 *", group = "Reporting")]
async fn digest() -> beckett::Result<()> {
    Ok(())
}

fn main() {}
