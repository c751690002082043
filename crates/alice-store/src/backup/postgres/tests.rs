#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn urls_lose_their_password() {
    let options = PgConnectOptions::from_str("postgres://anna:p%40ss@db:5433/alice").unwrap();
    assert_eq!(display_url(&options), "postgres://anna@db:5433/alice");
    let env = libpq_env(&options);
    assert!(env.contains(&("PGPASSWORD", "p@ss".to_owned())), "{env:?}");
    assert!(env.contains(&("PGDATABASE", "alice".to_owned())));
}

#[test]
fn a_server_named_by_a_manifest_gets_no_password() {
    let options =
        manifest_server_options("postgres://anna:stolen@evil.example:5432/alice").unwrap();
    assert_eq!(
        display_url(&options),
        "postgres://anna@evil.example:5432/alice"
    );
    let env = libpq_env(&options);
    assert!(env.iter().all(|(name, _)| *name != "PGPASSWORD"), "{env:?}");
    assert!(
        env.contains(&("PGPASSFILE", "/dev/null".to_owned())),
        "{env:?}"
    );
    assert!(!options.to_url_lossy().to_string().contains("stolen"));
}

#[test]
fn only_schema_entries_are_left_out_of_the_restore_list() {
    let list = "; Archive created\n\
                6; 2615 16387 SCHEMA - alice postgres\n\
                3348; 0 0 COMMENT - SCHEMA alice postgres\n\
                215; 1259 16388 TABLE alice users postgres\n\
                3341; 0 16388 TABLE DATA alice users postgres\n";
    let filtered = without_schema_entries(list);
    let kept: Vec<&str> = filtered.lines().filter(|l| !l.starts_with(';')).collect();
    assert_eq!(
        kept,
        [
            "215; 1259 16388 TABLE alice users postgres",
            "3341; 0 16388 TABLE DATA alice users postgres"
        ]
    );
}
