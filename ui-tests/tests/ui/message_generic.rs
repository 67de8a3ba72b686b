use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct Created<T> {
    value: T,
}

fn main() {}
