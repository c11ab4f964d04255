//! PostgreSQL over TLS, on the test server that `scripts/pg.sh` runs with `ssl = on` and a
//! certificate from a CA of its own: needs `MILEVERSE_TEST_DATABASE_URL` and
//! `MILEVERSE_TEST_PG_CA` (`eval "$(bash scripts/pg.sh env)"` exports both).

mod common;

use common::database_url;
use store::postgres::PostgresStore;

fn ca_file() -> std::path::PathBuf {
    std::env::var_os("MILEVERSE_TEST_PG_CA")
        .expect(
            "MILEVERSE_TEST_PG_CA is not set: run `eval \"$(bash scripts/pg.sh env)\"` (it \
             starts PostgreSQL with TLS and exports the CA's path)",
        )
        .into()
}

fn with_sslmode(mode: &str) -> String {
    let url = database_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode={mode}")
}

fn uses_tls(store: &mut PostgresStore) -> bool {
    store
        .client()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl")
        .get(0)
}

fn schema(name: &str) -> String {
    format!("t_tls_{name}_{}", std::process::id())
}

#[test]
fn the_store_connects_over_tls_when_the_url_requires_it() {
    let tls = tls::ClientTls::new(Some(&ca_file()))
        .expect("the test CA")
        .postgres();
    let schema = schema("require");
    let mut store = PostgresStore::connect_schema(&with_sslmode("require"), &schema, &tls)
        .expect("a TLS connection trusting the test CA");
    assert!(uses_tls(&mut store));
    // The default (`prefer`) uses TLS too when the server offers it.
    let mut preferred = PostgresStore::connect_schema(&database_url(), &schema, &tls).unwrap();
    assert!(uses_tls(&mut preferred));
    // `disable` is plain, as asked.
    let mut plain = PostgresStore::connect_schema(&with_sslmode("disable"), &schema, &tls).unwrap();
    assert!(!uses_tls(&mut plain));
    plain
        .client()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
}

#[test]
fn a_server_certificate_nobody_vouched_for_is_refused() {
    // The system's roots only: the test server's CA is not among them, so the handshake
    // fails, under `require` and under `prefer` alike (no silent fallback to an
    // unauthenticated server).
    let tls = tls::ClientTls::system().postgres();
    for url in [with_sslmode("require"), with_sslmode("prefer")] {
        let error = PostgresStore::connect(&url, &tls)
            .err()
            .expect("an untrusted certificate must not connect");
        let text = format!("{error:?}");
        assert!(
            text.to_lowercase().contains("certificate"),
            "the error should say why: {text}"
        );
    }
}
