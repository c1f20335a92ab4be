//! Logging set-up, in one place: human-readable lines by default, JSON with `--log-json`;
//! the level comes from `RUST_LOG` (default `info`). Under systemd, when stderr is the
//! journal's stream (`JOURNAL_STREAM` names it), each line starts with its syslog priority
//! (`<3>` error … `<7>` debug, the sd-daemon convention), so `journalctl -p err` keeps the
//! levels.
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
    install(json, "info", std::io::stderr);
}

/// For `ingest`, whose stderr an MTA reads as the one-line status of the delivery: nothing
/// is logged unless `RUST_LOG` asks for it, and the command writes its outcome itself.
pub fn init_quiet(json: bool) {
    install(json, "off", std::io::stderr);
}

/// For the daemon: lines written to stderr in batches by a thread of their own.
pub fn init_daemon(json: bool) {
    install(json, "info", || Batched);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush();
        previous(info);
    }));
}

fn install<W>(json: bool, default: &str, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let writer = Prioritised {
        inner: writer,
        journal: stderr_is_the_journal(),
    };
    // Colour only for a person at a terminal: codes in a file, the journal or (through
    // `ingest`) an MTA's bounce text are noise.
    // no-color.org: a `NO_COLOR` that is set and not empty turns colour off.
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !no_colour;
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

/// Whether stderr is the stream systemd connected to the journal: `JOURNAL_STREAM` holds its
/// `device:inode`, and a stderr redirected elsewhere (a file, a pipe) no longer matches.
fn stderr_is_the_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(named) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = named.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()))
}

/// The syslog priority of a level (RFC 5424 severities, as sd-daemon(3) reads them).
fn priority(level: tracing::Level) -> &'static [u8] {
    match level {
        tracing::Level::ERROR => b"<3>",
        tracing::Level::WARN => b"<4>",
        tracing::Level::INFO => b"<6>",
        _ => b"<7>",
    }
}

/// A writer that puts each line's priority in front of it when stderr is the journal.
struct Prioritised<W> {
    inner: W,
    /// Decided once at start: whether stderr is the journal's stream.
    journal: bool,
}

/// One event's writer: its lines, prefixed by the event's priority.
struct WithPriority<W> {
    inner: W,
    prefix: Option<&'static [u8]>,
}

impl<'a, W: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for Prioritised<W>
{
    type Writer = WithPriority<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        WithPriority {
            inner: self.inner.make_writer(),
            prefix: None,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        WithPriority {
            inner: self.inner.make_writer_for(meta),
            prefix: self.journal.then(|| priority(*meta.level())),
        }
    }
}

impl<W: Write> Write for WithPriority<W> {
    /// The formatter writes an event's whole text at once; each of its lines gets the prefix
    /// (a line without one would be filed at the journal's default, info).
    fn write(&mut self, text: &[u8]) -> std::io::Result<usize> {
        let Some(prefix) = self.prefix else {
            return self.inner.write(text);
        };
        let mut out = Vec::with_capacity(text.len() + 8);
        for line in text.split_inclusive(|b| *b == b'\n') {
            out.extend_from_slice(prefix);
            out.extend_from_slice(line);
        }
        self.inner.write_all(&out)?;
        Ok(text.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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
