//! Logging set-up, in one place: human-readable lines by default, JSON with `--log-json`;
//! the level comes from `RUST_LOG` (default `info`).
//!
//! The daemon logs a line per email and per reply. Its lines are formatted where they happen but
//! written to stderr by a thread of their own, many per `write`: one system call per line was a
//! tenth of the cost of composing an email. [`flush`] waits until every line logged so far is
//! out; the daemon calls it before it tells systemd it is ready, before it exits and when it
//! panics, so those keep their order with what was logged before them. One-shot commands write
//! straight to stderr.

use std::io::Write;
use std::sync::{Condvar, Mutex, OnceLock};
use tracing_subscriber::EnvFilter;

/// For one-shot commands: each line written to stderr as it is logged.
pub fn init(json: bool) {
    install(json, std::io::stderr);
}

/// For the daemon: lines written to stderr in batches by a thread of their own.
pub fn init_daemon(json: bool) {
    install(json, || Batched);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush();
        previous(info);
    }));
}

fn install<W>(json: bool, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: codes in a file, the journal or (through
    // `ingest`) an MTA's bounce text are noise.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if json {
        // Each line lists its spans (`spans`, innermost last); the innermost again on its own
        // (`span`) would cost a second copy of its fields in every line.
        builder.json().with_current_span(false).try_init()
    } else {
        builder.try_init()
    };
}

/// Lines logged and not yet written.
struct Pending {
    /// Whole lines, in the order they were logged.
    bytes: Vec<u8>,
    /// Whether the writer thread holds lines it has not finished writing: `flush` waits for
    /// those too.
    writing: bool,
    /// Whether the writer thread sleeps until a first line arrives: only then is it woken (a
    /// wake-up per line would be a system call per line again).
    idle: bool,
    /// Someone waits in [`flush`]: the writer stops gathering and writes at once.
    flushing: bool,
}

struct Buffer {
    pending: Mutex<Pending>,
    /// Lines arrived, a flush is wanted, or the buffer is full: wakes the writer thread.
    arrived: Condvar,
    /// A batch was written: wakes `flush` and loggers held back by a full buffer.
    written: Condvar,
}

impl Buffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves whole lines behind: carry on with them.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// After a first line, the writer gathers more for this long before it writes: a busy daemon's
/// lines leave in a few writes per second, an idle one's within this delay.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// The writer thread's name.
const WRITER: &str = "log-writer";

/// The longest [`flush`] waits.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A buffer this full is written at once.
const WRITE_AT: usize = 64 << 10;

/// Beyond this a logger waits for the writer thread: lines are never dropped, and a stalled
/// stderr cannot grow memory without bound.
const MAX_PENDING: usize = 1 << 20;

static BUFFER: OnceLock<Buffer> = OnceLock::new();

/// The buffer, with its writer thread started on first use.
fn buffer() -> &'static Buffer {
    BUFFER.get_or_init(|| {
        std::thread::Builder::new()
            .name(WRITER.into())
            .spawn(write_out)
            .expect("cannot start the log writer thread");
        Buffer {
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                writing: false,
                idle: false,
                flushing: false,
            }),
            arrived: Condvar::new(),
            written: Condvar::new(),
        }
    })
}

/// Waits until every line logged so far has been written to stderr. Returns at once when
/// lines are not batched, and gives up after `FLUSH_WAIT` (a stderr nobody reads must not
/// keep the daemon from starting or exiting).
pub fn flush() {
    let Some(buffer) = BUFFER.get() else { return };
    // The writer thread itself (its panic hook) has nobody to wait for.
    if std::thread::current().name() == Some(WRITER) {
        return;
    }
    let deadline = std::time::Instant::now() + FLUSH_WAIT;
    let mut pending = buffer.lock();
    while !pending.bytes.is_empty() || pending.writing {
        let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
            return;
        };
        pending.flushing = true;
        buffer.arrived.notify_one();
        pending = (buffer.written.wait_timeout(pending, left))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The writer thread: sleeps until a line arrives, gathers for [`GATHER`], writes everything
/// in one go.
fn write_out() {
    let buffer = buffer();
    let mut batch = Vec::new();
    loop {
        {
            let mut pending = buffer.lock();
            pending.writing = false;
            buffer.written.notify_all();
            while pending.bytes.is_empty() {
                pending.idle = true;
                pending = buffer
                    .arrived
                    .wait(pending)
                    .unwrap_or_else(|e| e.into_inner());
            }
            pending.idle = false;
            if !pending.flushing && pending.bytes.len() < WRITE_AT {
                pending = (buffer.arrived.wait_timeout(pending, GATHER))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            pending.flushing = false;
            batch.clear();
            std::mem::swap(&mut batch, &mut pending.bytes);
            pending.writing = true;
        }
        // Nothing better to do with a failed write to stderr than what `eprintln!` does not do
        // either: carry on.
        let _ = std::io::stderr().write_all(&batch);
    }
}

/// What the subscriber writes each formatted line to.
struct Batched;

impl Write for Batched {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let buffer = buffer();
        let mut pending = buffer.lock();
        while pending.bytes.len() > MAX_PENDING {
            pending = buffer
                .written
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        pending.bytes.extend_from_slice(line);
        // The writer is woken by the first line, and again only when the buffer fills.
        if pending.idle || pending.bytes.len() >= WRITE_AT {
            pending.idle = false;
            buffer.arrived.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
