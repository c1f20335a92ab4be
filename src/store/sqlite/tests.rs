//! The query layer and the pool, against a real file.

use super::lite::*;
use rusqlite::Connection;
use std::sync::Arc;

async fn pool() -> (tempfile::TempDir, Pool) {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::open(&dir.path().join("t.db")).unwrap();
    query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, b BLOB)")
        .execute(&pool)
        .await
        .unwrap();
    (dir, pool)
}

#[tokio::test]
async fn placeholders_are_numbered_like_postgres() {
    let (_dir, pool) = pool().await;
    // $2 appears before $1 and twice: each name binds its own argument.
    query("INSERT INTO t (v, k) VALUES ($2 || $2, $1)")
        .bind(7i64)
        .bind("ab")
        .execute(&pool)
        .await
        .unwrap();
    let v: String = query_scalar("SELECT v FROM t WHERE k = $1")
        .bind(7i64)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(v, "abab");
}

#[tokio::test]
async fn a_dropped_transaction_keeps_nothing_and_a_committed_one_everything() {
    let (_dir, pool) = pool().await;
    let mut tx = Tx::begin_write(&pool).await.unwrap();
    query("INSERT INTO t (k) VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    let mut tx = Tx::begin_write(&pool).await.unwrap();
    query("INSERT INTO t (k, b) VALUES (2, $1)")
        .bind(vec![0u8, 1, 2])
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let rows = query("SELECT k, b FROM t").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].try_get::<i64, _>("k").unwrap(), 2);
    assert_eq!(rows[0].try_get::<Vec<u8>, _>("b").unwrap(), vec![0, 1, 2]);
    assert!(rows[0].try_get::<i64, _>("nope").is_err());
    assert!(rows[0].try_get::<i64, _>("b").is_err());
}

/// `PRAGMA synchronous` of the connection the next write gets: 2 is FULL.
async fn writer_sync(pool: &Pool) -> i64 {
    let tx = Tx::begin_write(pool).await.unwrap();
    let level: i64 = tx
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    tx.commit().await.unwrap();
    level
}

#[tokio::test]
async fn a_deferred_transaction_keeps_its_writes_and_leaves_commits_synced_after_it() {
    let (_dir, pool) = pool().await;
    let mut tx = Tx::begin_write_deferred(&pool).await.unwrap();
    let inside: i64 = tx
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(inside, 1, "NORMAL inside the deferred transaction");
    query("INSERT INTO t (k) VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(writer_sync(&pool).await, 2);
    // Rolled back (dropped) as well.
    let tx = Tx::begin_write_deferred(&pool).await.unwrap();
    drop(tx);
    assert_eq!(writer_sync(&pool).await, 2);
    let n: i64 = query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_started_over_while_writes_keep_coming() {
    let (dir, pool) = pool().await;
    // Short readers all along, as the daemon has (inbound routing, the API).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = tokio::spawn({
        let (pool, stop) = (pool.clone(), stop.clone());
        async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut tx = Tx::begin_read(&pool).await.unwrap();
                query("SELECT k FROM t WHERE k = 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                tokio::task::yield_now().await;
            }
        }
    });
    // ~100 MB of rows, a page each, in back-to-back transactions taking turns as the
    // store's writers do. Each transaction starts once the checkpointer has taken up every
    // round asked of it, and goes on while it runs: the writes keep coming, however the
    // thread is scheduled.
    let (transactions, rows, size) = (250, 100, 3000);
    for i in 0..transactions {
        pool.checkpointer_caught_up().await;
        let _turn = pool.turn().lock_owned().await;
        let mut tx = Tx::begin_write(&pool).await.unwrap();
        for j in 0..rows {
            query("INSERT INTO t (k, b) VALUES ($1, $2)")
                .bind((i * rows + j) as i64)
                .bind(vec![7u8; size])
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.await.unwrap();
    let written = (transactions * rows * size) as u64;
    let wal = std::fs::metadata(dir.path().join("t.db-wal"))
        .unwrap()
        .len();
    // Left to grow, the WAL would hold every page written (more than `written`); started
    // over, it stays near `RESTART_FRAMES` pages plus what came in while checkpointing.
    assert!(
        wal < written / 3,
        "WAL of {wal} bytes after {written} bytes written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_by_another_process_is_waited_for() {
    let (dir, pool) = pool().await;
    // Another process's writer: a plain connection holding the lock until told.
    let other = Connection::open(dir.path().join("t.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        released.recv().unwrap();
        other.execute_batch("COMMIT").unwrap();
    });
    let writer = pool.clone();
    let waiting = tokio::spawn(async move {
        let mut tx = Tx::begin_write(&writer).await?;
        query("INSERT INTO t (k) VALUES (3)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    });
    // The order, not a time: the writer found the lock taken and began to wait...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pool.lock_waits() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never tried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    // ...and is still waiting, not failed, while the other process holds it.
    assert!(!waiting.is_finished());
    release.send(()).unwrap();
    holder.join().unwrap();
    // Released, it goes through.
    waiting.await.unwrap().unwrap();
    let mut tx = Tx::begin_read(&pool).await.unwrap();
    let stored: Vec<i64> = query_scalar("SELECT k FROM t WHERE k = 3")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(stored, [3]);
}
