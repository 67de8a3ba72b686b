//! Prints beckett's migrations as one SQL script, for applying with another
//! migration tool (Flyway, Liquibase, psql).
//!
//! ```sh
//! cargo run -q --example migration_script > beckett.sql
//! cargo run -q --example migration_script -- --schema events > beckett.sql
//! ```

use beckett::Schema;

fn main() -> beckett::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let schema = match args.as_slice() {
        [] => Schema::default(),
        [flag, name] if flag == "--schema" => Schema::new(name.as_str())?,
        _ => {
            eprintln!("usage: migration_script [--schema NAME]");
            std::process::exit(2);
        }
    };
    print!("{}", beckett::migration_script(&schema));
    Ok(())
}
