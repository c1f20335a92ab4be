//! The checkpointer: copies the WAL back into the database file on a thread of its own.

use super::pool::{RESTART_FRAMES, RESTART_TRIES};
use rusqlite::Connection;
use std::sync::Arc;
use std::time::Duration;

/// Copies committed pages from the WAL into the database file every [`CHECKPOINT_ROWS`](super::pool::CHECKPOINT_ROWS)
/// rows, until the pool is gone. SQLite would do it inside the commit that fills the WAL past
/// 1,000 pages, and that commit would wait for it: a batch of 256 emails spent 5 ms of its
/// 13 ms commit there. A passive checkpoint never blocks readers or the writer.
///
/// But a passive checkpoint alone lets the WAL grow for as long as writes keep coming: SQLite
/// starts the WAL over only when a write begins with every frame already copied, which a
/// steady stream of commits never allows (measured: 350,000 frames, 1.4 GB, during the inbound
/// benchmark, and every page read searching them all). So once the WAL passes
/// [`RESTART_FRAMES`], the checkpointer takes the write turn and copies the few frames written
/// since; with every frame copied, the next writer starts at the beginning of the file.
/// Writers wait for that (a few milliseconds at most), not for the bulk of the copying.
pub(super) fn checkpoints(
    conn: Connection,
    wanted: std::sync::mpsc::Receiver<()>,
    turn: Arc<tokio::sync::Mutex<()>>,
    begun: Arc<std::sync::atomic::AtomicU64>,
) {
    // (frames in the WAL, frames copied into the database file)
    let passive = || -> rusqlite::Result<(i64, i64)> {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })
    };
    while wanted.recv().is_ok() {
        begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let done = passive().and_then(|(frames, _)| {
            if frames < RESTART_FRAMES {
                return Ok(());
            }
            // No frame is added while the turn is held. A reader of older pages holds back
            // their copy for a moment; once all are copied, the next writer starts the WAL over.
            // (SQLite's RESTART mode waits for readers with the busy handler, and a stream of
            // readers kept it waiting for seconds.)
            let _turn = turn.blocking_lock();
            for _ in 0..RESTART_TRIES {
                let (frames, copied) = passive()?;
                if copied >= frames {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "WAL checkpoint failed; trying again after the next write");
        }
    }
}
