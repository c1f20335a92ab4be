//! Fresh PostgreSQL databases for tests and benches, on a server given by URL. A database's
//! name holds when it was made: whoever made it cannot drop it on the way out (the daemon it
//! started may still hold connections), so each new one drops those of its kind made an hour
//! or more before (no run takes that long), and those named before names held the time.

/// How old a database must be to be dropped as left over.
const LEFT_OVER_AFTER_SECS: u64 = 3600;

/// Makes a database named `{prefix}_{unix seconds}_{uuid}` on `server`, dropping the left-over
/// ones of the same prefix first; returns its URL (`server`'s, with the database replaced).
pub async fn fresh(server: &str, prefix: &str) -> String {
    use sqlx::Connection;
    let now = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH))
        .unwrap()
        .as_secs();
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .expect("the PostgreSQL server");
    let like = format!("{}\\_%", prefix.replace('_', "\\_"));
    let ours: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(like)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    for (old,) in ours {
        let made = (old.strip_prefix(prefix))
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(secs, _)| secs.parse::<u64>().ok());
        if made.is_none_or(|made| made + LEFT_OVER_AFTER_SECS < now) {
            // Another run may be dropping it too: whichever comes second fails, harmlessly.
            let drop = format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)");
            let _ = sqlx::query(&drop).execute(&mut admin).await;
        }
    }
    let name = format!("{prefix}_{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    match query {
        "" => format!("{}/{name}", &base[..host_end]),
        _ => format!("{}/{name}?{query}", &base[..host_end]),
    }
}
