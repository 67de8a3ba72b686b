// Every mistake is reported in one compile.
#[beckett::recurring("61 25 * * 9", group = "", timeout = "soon", retries = 3)]
fn digest<T>(value: T) {
    let _ = value;
}

fn main() {}
