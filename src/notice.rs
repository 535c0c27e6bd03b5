//! Human-facing diagnostics that cannot go through the sink: raised before
//! the format is known, or about the sink itself. One stderr line each, once
//! per cause.
//!
//! Notices about settings raised after the pipeline exists go to the sink in
//! the configured format instead (see `install`); this module is the only
//! other place the crate prints anything.

use std::collections::HashSet;
use std::io::Write;

use parking_lot::Mutex;

static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Prints `message` on stderr unless a message with the same `cause` was
/// printed before. Returns whether it printed.
pub(crate) fn stderr_once(cause: &str, message: &str) -> bool {
    if !first_time(cause) {
        return false;
    }
    stderr_line(message);
    true
}

/// Records `cause` and says whether it is new.
pub(crate) fn first_time(cause: &str) -> bool {
    let mut seen = SEEN.lock();
    seen.get_or_insert_with(HashSet::new)
        .insert(cause.to_owned())
}

/// Prints one line on stderr, ignoring failure (there is nowhere else to
/// report it).
pub(crate) fn stderr_line(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(message.as_bytes());
    let _ = err.write_all(b"\n");
}
