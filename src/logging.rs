//! Where log lines go and how they are written. Every request writes an
//! access line, so the line's cost is part of every page's (see
//! docs/performance.md, "What every request costs"): events are formatted by
//! tracing-subscriber, with the time and the fields written by cheaper
//! parts that write the same text, and the access line is written without
//! tracing at all, in the same bytes.

use std::{
    cell::RefCell,
    fmt::{self, Write as _},
    io::{IsTerminal as _, Write},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::ThreadId,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use parking_lot::{Condvar, Mutex};
use tracing::{
    Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    EnvFilter,
    field::RecordFields,
    fmt::{FormatFields, MakeWriter, format::Writer, time::FormatTime},
    util::SubscriberInitExt as _,
};

/// The shape of log lines on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What is logged unless `RUST_LOG` says otherwise.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Sends this process's log lines to stderr, in `format`, until the
/// returned [`LogWriter`] is dropped; dropping it writes out the lines still
/// waiting, so a server stopped by a signal still writes its last access
/// lines.
pub fn start(format: LogFormat) -> LogWriter {
    let (lines, writer) = LogWriter::start(std::io::stderr());
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let queue = Arc::clone(&lines.0);
    subscriber(format, lines, colour).init();
    if !colour {
        let _ = ACCESS_LINES.set(AccessLines {
            queue,
            format,
            enabled: Access::enabled_in_tracing(),
        });
    }
    writer
}

/// Formats events as `format`, filtered by `RUST_LOG`, into `lines`.
fn subscriber<W>(format: LogFormat, lines: W, colour: bool) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let logging = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
        )
        .with_writer(lines)
        .with_ansi(colour)
        .with_timer(LogClock)
        // If the log's reader goes away, keep serving: reporting the failed
        // write would itself panic (`eprintln!` to the same broken pipe).
        .log_internal_errors(false);
    match format {
        LogFormat::Text => Box::new(logging.fmt_fields(PlainFields).finish()),
        LogFormat::Json => Box::new(logging.json().finish()),
    }
}

/// The access lines' writer, once [`start`] has set the log up without colour.
static ACCESS_LINES: OnceLock<AccessLines> = OnceLock::new();

/// Writes access lines into the log's queue as the log's formatter writes
/// the same event ([`Access::as_event`]), byte for byte,
/// without tracing's dispatch and field visitors: they were the access
/// line's cost, which every request pays (`--profile`).
#[derive(Debug)]
struct AccessLines {
    queue: Arc<LineQueue>,
    format: LogFormat,
    /// Whether `RUST_LOG` lets access lines through, asked once: the filter
    /// cannot change while the process runs.
    enabled: bool,
}

/// One request, as its access line names it.
#[derive(Debug)]
pub struct Access<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub router: Names<'a>,
    pub cookie: Names<'a>,
    pub micros: u64,
}

/// A field with a name for each router the request went through:
/// comma-separated, or `-` for none.
#[derive(Clone, Copy, Debug)]
pub struct Names<'a>(pub &'a [&'a str]);

impl Names<'_> {
    fn push_to(self, line: &mut String) {
        let Some((first, rest)) = self.0.split_first() else {
            line.push('-');
            return;
        };
        line.push_str(first);
        for name in rest {
            line.push(',');
            line.push_str(name);
        }
    }
}

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut listed = String::new();
        self.push_to(&mut listed);
        f.write_str(&listed)
    }
}

thread_local! {
    /// The line being written on this thread, kept for the next.
    static ACCESS_LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl AccessLines {
    fn write(&self, access: &Access<'_>) {
        ACCESS_LINE.with_borrow_mut(|line| {
            line.clear();
            let written = match self.format {
                LogFormat::Text => access.write_text(line),
                LogFormat::Json => access.write_json(line),
            };
            if written.is_ok() {
                self.queue.push(line.as_bytes());
            }
        });
    }
}

impl Access<'_> {
    /// Whether access lines are written at all, so that a request with
    /// logging off measures nothing for one: decided at start when [`start`]
    /// set the log up, else asked of tracing (a test's own subscriber).
    pub fn enabled() -> bool {
        match ACCESS_LINES.get() {
            Some(lines) => lines.enabled,
            None => Self::enabled_in_tracing(),
        }
    }

    fn enabled_in_tracing() -> bool {
        tracing::enabled!(target: "access", tracing::Level::INFO)
    }

    /// Writes the line: straight into the log's queue when [`start`] set
    /// one up without colour, or else as a tracing event, which a terminal
    /// in colour or a test's own subscriber formats.
    pub fn write(&self) {
        match ACCESS_LINES.get() {
            Some(lines) => lines.write(self),
            None => self.as_event(),
        }
    }

    fn as_event(&self) {
        tracing::info!(
            target: "access",
            method = %self.method,
            path = %self.path,
            status = self.status,
            router = %self.router,
            cookie = %self.cookie,
            micros = self.micros,
        );
    }

    /// As tracing-subscriber's full format with [`PlainFields`] writes it.
    fn write_text(&self, line: &mut String) -> fmt::Result {
        LogClock::write_now(line)?;
        line.push_str("  INFO access: method=");
        line.push_str(self.method);
        line.push_str(" path=");
        line.push_str(self.path);
        line.push_str(" status=");
        line.push_str(itoa::Buffer::new().format(self.status));
        line.push_str(" router=");
        self.router.push_to(line);
        line.push_str(" cookie=");
        self.cookie.push_to(line);
        line.push_str(" micros=");
        line.push_str(itoa::Buffer::new().format(self.micros));
        line.push('\n');
        Ok(())
    }

    /// As tracing-subscriber's JSON format writes it.
    fn write_json(&self, line: &mut String) -> fmt::Result {
        line.push_str(r#"{"timestamp":""#);
        LogClock::write_now(line)?;
        line.push_str(r#"","level":"INFO","fields":{"method":"#);
        push_json_string(line, self.method)?;
        line.push_str(r#","path":"#);
        push_json_string(line, self.path)?;
        line.push_str(r#","status":"#);
        line.push_str(itoa::Buffer::new().format(self.status));
        line.push_str(r#","router":"#);
        push_json_string(line, self.router)?;
        line.push_str(r#","cookie":"#);
        push_json_string(line, self.cookie)?;
        line.push_str(r#","micros":"#);
        line.push_str(itoa::Buffer::new().format(self.micros));
        line.push_str(r#"},"target":"access"}"#);
        line.push('\n');
        Ok(())
    }
}

/// `value` as one JSON string, quoted and escaped as serde_json writes it.
fn push_json_string(line: &mut String, value: impl fmt::Display) -> fmt::Result {
    line.push('"');
    write!(JsonEscaped(line), "{value}")?;
    line.push('"');
    Ok(())
}

struct JsonEscaped<'a>(&'a mut String);

impl fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\x08' => self.0.push_str("\\b"),
                '\x0c' => self.0.push_str("\\f"),
                c if c < ' ' => write!(self.0, "\\u{:04x}", u32::from(c))?,
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// How long a line may wait before it is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Waiting lines, on one thread's shelf, that make the writer write at
/// once rather than at the next interval.
const WRITE_AT_BYTES: usize = 256 * 1024;

/// Waiting lines, on one thread's shelf, at which that thread waits for
/// the writer rather than lines being dropped (a log that cannot keep up
/// slows the server down, visibly).
const WAIT_AT_BYTES: usize = 4 * 1024 * 1024;

/// A thread that writes log lines out in batches: a line costs the request
/// that logs it a copy onto its thread's shelf, never a system call or a
/// thread woken up (which cost more than the rest of the request: see
/// docs/performance.md, "What every request costs").
#[derive(Debug)]
pub struct LogWriter {
    queue: Arc<LineQueue>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The lines waiting to be written. Each thread that logs fills a shelf of
/// its own, and the writer empties every shelf: with one buffer under one
/// lock, two cores logging at once passed the lock and the buffer's end
/// back and forth on every line (`perf` showed the push as hot as hyper's
/// parser). A thread's lines keep their order; a batch holds each
/// thread's lines together.
#[derive(Debug)]
struct LineQueue {
    /// Tells this queue's shelf from another queue's in a thread's memory.
    id: u64,
    shelves: Mutex<Vec<(ThreadId, Arc<Shelf>)>>,
    closing: AtomicBool,
    /// Held while `closing` is checked and the writer goes to sleep, so
    /// that the wake-up of a closing writer is never missed.
    pace: Mutex<()>,
    /// Wakes the writer early: a shelf is long, or the process is ending.
    write_now: Condvar,
    /// Wakes threads waiting for room on their shelf.
    written: Condvar,
}

/// One thread's lines, waiting.
type Shelf = Mutex<Vec<u8>>;

impl Default for LineQueue {
    fn default() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shelves: Mutex::default(),
            closing: AtomicBool::new(false),
            pace: Mutex::default(),
            write_now: Condvar::new(),
            written: Condvar::new(),
        }
    }
}

thread_local! {
    /// This thread's shelf, and the queue it belongs to.
    static SHELF: RefCell<Option<(u64, Arc<Shelf>)>> = const { RefCell::new(None) };
}

/// What `tracing-subscriber` writes each formatted line to.
#[derive(Clone, Debug)]
pub struct Lines(Arc<LineQueue>);

impl LogWriter {
    /// Starts the thread that writes to `out`.
    pub fn start<W: Write + Send + 'static>(out: W) -> (Lines, LogWriter) {
        let queue = Arc::new(LineQueue::default());
        let writer_queue = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name("log-writer".to_owned())
            .spawn(move || writer_queue.write_out(out))
            .ok();
        let lines = Lines(Arc::clone(&queue));
        if thread.is_none() {
            // No thread: lines are written by the requests themselves.
            queue.closing.store(true, Ordering::SeqCst);
        }
        (lines, LogWriter { queue, thread })
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        {
            let _pace = self.queue.pace.lock();
            self.queue.closing.store(true, Ordering::SeqCst);
        }
        self.queue.write_now.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl LineQueue {
    /// The writer's loop: every interval (or sooner when a shelf is
    /// long), everything that waits, in one write. Once closing, one last
    /// round: a line pushed after `closing` is set is written by its thread.
    fn write_out(&self, mut out: impl Write) {
        let mut batch = Vec::new();
        loop {
            {
                let mut pace = self.pace.lock();
                if !self.closing.load(Ordering::SeqCst) {
                    self.write_now.wait_for(&mut pace, FLUSH_INTERVAL);
                }
            }
            let closing = self.closing.load(Ordering::SeqCst);
            // A shelf only this list holds belonged to a thread that ended.
            self.shelves.lock().retain(|(_, shelf)| {
                batch.append(&mut shelf.lock());
                Arc::strong_count(shelf) > 1
            });
            self.written.notify_all();
            if !batch.is_empty() {
                // A log that cannot be written is not a reason to stop
                // serving: the lines are dropped.
                let _ = out.write_all(&batch).and_then(|()| out.flush());
                batch.clear();
            }
            if closing {
                return;
            }
        }
    }

    fn push(&self, line: &[u8]) {
        // A line logged while this thread's memory is being torn down
        // (a destructor at thread exit) has no shelf: it is written directly.
        let shelved = SHELF.try_with(|own| {
            let mut own = own.borrow_mut();
            let own = &mut *own;
            let shelf = match own {
                Some((queue, shelf)) if *queue == self.id => shelf,
                _ => &own.insert((self.id, self.shelf_of_this_thread())).1,
            };
            let mut waiting = shelf.lock();
            if self.closing.load(Ordering::SeqCst) {
                drop(waiting);
                // After the writer stopped (or without one): write directly.
                let _ = std::io::stderr().write_all(line);
                return;
            }
            let before = waiting.len();
            waiting.extend_from_slice(line);
            let after = waiting.len();
            drop(waiting);
            if before < WRITE_AT_BYTES && after >= WRITE_AT_BYTES {
                self.write_now.notify_one();
            }
            if after >= WAIT_AT_BYTES {
                self.wait_for_room(shelf);
            }
        });
        if shelved.is_err() {
            let _ = std::io::stderr().write_all(line);
        }
    }

    fn shelf_of_this_thread(&self) -> Arc<Shelf> {
        let thread = std::thread::current().id();
        let mut shelves = self.shelves.lock();
        if let Some((_, shelf)) = shelves.iter().find(|(owner, _)| *owner == thread) {
            return Arc::clone(shelf);
        }
        let shelf = Arc::new(Shelf::default());
        shelves.push((thread, Arc::clone(&shelf)));
        shelf
    }

    fn wait_for_room(&self, shelf: &Shelf) {
        let mut pace = self.pace.lock();
        while shelf.lock().len() >= WAIT_AT_BYTES && !self.closing.load(Ordering::SeqCst) {
            self.write_now.notify_one();
            self.written.wait_for(&mut pace, FLUSH_INTERVAL);
        }
    }
}

/// One line on its way into the queue.
#[derive(Debug)]
pub struct Line<'a>(&'a LineQueue);

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.push(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(&self.0)
    }
}

/// `name=value` pairs, the message bare, as tracing-subscriber's default
/// writes them, without the styling calls it makes for every field name
/// even when colour is off, and with integers written without going
/// through `fmt` (together most of an access line's cost).
#[derive(Clone, Copy, Debug, Default)]
struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Starts a field: a space before all but the first, then `name=`
    /// (nothing for the message). False when the field is not written.
    fn start(&mut self, field: &Field) -> bool {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if name == "message" {
            self.writer.write_str(separator)
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.writer
                .write_str(separator)
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='))
        };
        self.result.is_ok()
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.start(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.start(field) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field) {
            self.result = if field.name() == "message" {
                // As tracing-subscriber does: a message cannot smuggle
                // escape sequences into a terminal.
                write!(WithoutControls(&mut self.writer), "{value:?}")
            } else {
                write!(self.writer, "{value:?}")
            };
        }
    }
}

/// Writes the characters a terminal takes as the start of an escape
/// sequence escaped, as tracing-subscriber does for messages.
struct WithoutControls<'a, 'writer>(&'a mut Writer<'writer>);

impl fmt::Write for WithoutControls<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let starts_a_sequence = |c: char| {
            matches!(
                c,
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
            )
        };
        let mut rest = text;
        while let Some(at) = rest.find(starts_a_sequence) {
            self.0.write_str(&rest[..at])?;
            let control = rest[at..].chars().next().unwrap_or_default();
            match u32::from(control) {
                code @ 0..0x80 => write!(self.0, "\\x{code:02x}")?,
                code => write!(self.0, "\\u{{{code:x}}}")?,
            }
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// The time as tracing-subscriber writes it (RFC 3339, UTC, microseconds:
/// `2026-12-02T01:21:34.175240Z`), with the date and time of day formatted
/// once a second per thread instead of on every line.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogClock;

thread_local! {
    /// The second last formatted on this thread, and its text up to the dot.
    static LAST_SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl LogClock {
    /// The time now, as tracing-subscriber writes it.
    fn write_now(w: &mut impl fmt::Write) -> fmt::Result {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self::write_at(w, since_epoch)
    }

    fn write_at(w: &mut impl fmt::Write, since_epoch: Duration) -> fmt::Result {
        let (second, micros) = (since_epoch.as_secs(), since_epoch.subsec_micros());
        LAST_SECOND.with_borrow_mut(|(last, text)| {
            if *last != second {
                let at = i64::try_from(second)
                    .ok()
                    .and_then(|second| chrono::DateTime::from_timestamp(second, 0))
                    .unwrap_or_default();
                text.clear();
                fmt::write(text, format_args!("{}", at.format("%Y-%m-%dT%H:%M:%S")))?;
                *last = second;
            }
            w.write_str(text)?;
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(micros);
            w.write_char('.')?;
            w.write_str("000000".get(digits.len()..).unwrap_or_default())?;
            w.write_str(digits)?;
            w.write_char('Z')
        })
    }
}

impl FormatTime for LogClock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        LogClock::write_now(w)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// One event, with every kind of field, as a subscriber formatting
    /// its fields with `fields` writes it.
    fn line_with<F>(fields: F) -> String
    where
        F: for<'writer> FormatFields<'writer> + Send + Sync + 'static,
    {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&written);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(Arc::clone(&sink)))
            .with_ansi(false)
            .without_time()
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let path = "/token/get_session/";
            tracing::warn!(
                target: "access",
                %path,
                status = 200_u16,
                offset = -3_i64,
                fresh = true,
                reason = "a \"quoted\" reason",
                listed = ?["a", "b"],
                "refused \u{1b}[31m cookie"
            );
        });
        let written = written.lock().unwrap().clone();
        String::from_utf8(written).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_queued_before_the_writer_is_dropped_is_written_in_order() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (lines, writer) = LogWriter::start(Sink(Arc::clone(&written)));
        for n in 0..1000 {
            lines
                .make_writer()
                .write_all(format!("line {n}\n").as_bytes())
                .unwrap();
        }
        drop(writer);
        let written = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(written, expected);
    }

    #[test]
    fn lines_from_many_threads_are_all_written_each_threads_in_order() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (lines, writer) = LogWriter::start(Sink(Arc::clone(&written)));
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let lines = &lines;
                scope.spawn(move || {
                    for n in 0..500 {
                        let line = format!("{thread} {n}\n");
                        lines.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(writer);
        let written = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let mut next = [0; 8];
        for line in written.lines() {
            let (thread, n) = line.split_once(' ').unwrap();
            let (thread, n): (usize, i32) = (thread.parse().unwrap(), n.parse().unwrap());
            assert_eq!(n, next[thread], "thread {thread} out of order");
            next[thread] += 1;
        }
        assert_eq!(next, [500; 8]);
    }

    #[test]
    fn the_shelf_of_a_thread_that_ended_is_emptied_then_let_go() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (lines, _writer) = LogWriter::start(Sink(Arc::clone(&written)));
        std::thread::scope(|scope| {
            scope.spawn(|| lines.make_writer().write_all(b"last words\n").unwrap());
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !lines.0.shelves.lock().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the shelf was kept");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(written.lock().unwrap().as_slice(), b"last words\n");
    }

    #[test]
    fn a_line_is_written_within_the_interval_without_a_flush() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (lines, _writer) = LogWriter::start(Sink(Arc::clone(&written)));
        lines.make_writer().write_all(b"soon\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while written.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was never written"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(written.lock().unwrap().as_slice(), b"soon\n");
    }

    #[test]
    fn plain_fields_write_what_tracing_subscribers_default_writes() {
        let ours = line_with(PlainFields);
        let theirs = line_with(tracing_subscriber::fmt::format::DefaultFields::new());
        assert_eq!(ours, theirs);
        assert!(ours.contains("status=200 offset=-3 fresh=true"), "{ours}");
    }

    #[test]
    fn a_message_cannot_write_an_escape_sequence() {
        let line = line_with(PlainFields);
        assert!(!line.contains('\u{1b}'), "{line:?}");
    }

    #[test]
    fn the_clock_writes_what_tracing_subscriber_writes() {
        let mut ours = String::new();
        LogClock.format_time(&mut Writer::new(&mut ours)).unwrap();
        let mut theirs = String::new();
        tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut Writer::new(&mut theirs))
            .unwrap();
        assert_eq!(ours.len(), theirs.len(), "{ours} vs {theirs}");
        assert_eq!(ours.len(), "2026-12-02T01:21:34.175240Z".len());
        assert!(ours.ends_with('Z'));
        // Same second unless the test ran across a second's boundary.
        let seconds = |text: &str| text[..19].to_owned();
        assert!(
            seconds(&ours) == seconds(&theirs) || ours[..19] < theirs[..19],
            "{ours} vs {theirs}"
        );
    }

    #[test]
    fn the_clock_reformats_when_the_second_changes() {
        LAST_SECOND.with_borrow_mut(|(last, text)| {
            *last = 0;
            *text = "1970-01-01T00:00:00".to_owned();
        });
        let mut line = String::new();
        LogClock.format_time(&mut Writer::new(&mut line)).unwrap();
        assert!(!line.starts_with("1970"), "{line}");
    }

    #[test]
    fn the_clock_writes_six_digits_of_microseconds_leading_zeros_included() {
        for (micros, written) in [
            (42, "1970-01-01T00:00:07.000042Z"),
            (0, "1970-01-01T00:00:07.000000Z"),
            (999_999, "1970-01-01T00:00:07.999999Z"),
            (120_000, "1970-01-01T00:00:07.120000Z"),
        ] {
            let mut line = String::new();
            LogClock::write_at(&mut line, Duration::new(7, micros * 1000)).unwrap();
            assert_eq!(line, written);
        }
    }

    /// The access line of one request, written through the log's
    /// subscriber as an event and by [`AccessLines`], each without its time.
    fn access_line_both_ways(format: LogFormat, path: &str, routers: &[&str]) -> (String, String) {
        let access = Access {
            method: "GET",
            path,
            status: 404,
            router: Names(routers),
            cookie: Names(&["valid", "tampered"][..routers.len()]),
            micros: 1234,
        };
        let through_tracing = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&through_tracing);
        let subscriber = subscriber(format, move || Sink(Arc::clone(&sink)), false);
        tracing::subscriber::with_default(subscriber, || access.as_event());
        let mut direct = String::new();
        match format {
            LogFormat::Text => access.write_text(&mut direct),
            LogFormat::Json => access.write_json(&mut direct),
        }
        .unwrap();
        let through_tracing = String::from_utf8(through_tracing.lock().unwrap().clone()).unwrap();
        (without_time(&through_tracing), without_time(&direct))
    }

    /// `line` with its RFC 3339 time (27 bytes, ending in `Z`) taken out.
    fn without_time(line: &str) -> String {
        let at = line.find("20").unwrap();
        assert_eq!(&line[at + 26..at + 27], "Z", "{line}");
        format!("{}{}", &line[..at], &line[at + 27..])
    }

    #[test]
    fn an_access_line_is_written_as_the_text_log_writes_the_event() {
        for (path, routers) in [
            ("/token/get_session/", &["token"][..]),
            ("/", &["server", "token"]),
            ("/a\"b\\c%22", &[]),
        ] {
            let (through_tracing, direct) = access_line_both_ways(LogFormat::Text, path, routers);
            assert_eq!(direct, through_tracing);
            assert!(direct.ends_with(" micros=1234\n"), "{direct}");
        }
    }

    #[test]
    fn an_access_line_is_written_as_the_json_log_writes_the_event() {
        for (path, routers) in [
            ("/token/get_session/", &["token"][..]),
            ("/", &["server", "token"]),
            ("/a\"b\\c\u{1}\u{7f}\té", &[]),
        ] {
            let (through_tracing, direct) = access_line_both_ways(LogFormat::Json, path, routers);
            assert_eq!(direct, through_tracing);
            let parsed: serde_json::Value = serde_json::from_str(&direct).unwrap();
            assert_eq!(parsed["fields"]["path"], path, "{direct}");
        }
    }
}
