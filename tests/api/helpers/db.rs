//! The storage backends every test runs against, fresh databases, and raw SQL on them.

use rstest_reuse::template;
use std::str::FromStr;

/// The storage backends every test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test once per backend: `#[apply(backends)]` on a test taking `#[case] backend`.
#[template]
#[export]
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
pub fn backends(#[case] backend: Backend) {}

/// The URL of the PostgreSQL server tests may use, if any.
pub fn postgres_server() -> Option<String> {
    match std::env::var("REPLYRELAY_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Each caller is one test that will not run: each is counted.
            super::skip::skipped("a PostgreSQL test", "REPLYRELAY_TEST_POSTGRES_URL is unset");
            None
        }
    }
}

/// A fresh database of its own on the test server, as a URL (`rr_t_…`; each new one drops
/// those a run an hour ago or more left behind).
pub async fn fresh_postgres_database() -> Option<String> {
    let server = postgres_server()?;
    Some(super::pg_database::fresh(&server, "rr_t").await)
}

/// The database URL for a test on `backend` (a file in `dir` for SQLite), or `None` when the
/// backend is not available here.
pub async fn database_url(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}", dir.join("rr.db").display())),
        Backend::Postgres => fresh_postgres_database().await,
    }
}

/// Brings the database at `db` to the schema of migration `version` and no further, as an
/// earlier release of the daemon left it.
pub async fn migrate_to(db: &str, version: u32) {
    let backend = if db.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let old = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let number: u32 = name.split('_').next().unwrap().parse().unwrap();
        if number <= version {
            std::fs::copy(&path, old.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    if backend == "sqlite" {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(db)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrator.run(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(db).await.unwrap();
        migrator.run(&pool).await.unwrap();
    }
}

/// Runs `sql` on the database at `db`, whichever backend it is.
pub async fn execute(db: &str, sql: &str) {
    use sqlx::Connection;
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
}
