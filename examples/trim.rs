//! Prints what reply trimming keeps of a file (or stdin): `cargo run --example trim FILE`.
fn main() {
    let text = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(path).expect("readable file"),
        None => std::io::read_to_string(std::io::stdin()).expect("stdin"),
    };
    println!("{}", replyrelay::reply::trim(&text));
}
