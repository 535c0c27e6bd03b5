//! The crate's error type, returned by the fallible entry points
//! (`try_init`, `Builder::install`).
//!
//! An [`Error`] is one lowercase line without a trailing period: a bad
//! setting names the variable, file position or code setting, the value
//! and what was expected. Its [`ErrorKind`] lets a caller branch without
//! reading the text.

use std::fmt;
use std::io;

use crate::config::Problem;

/// What kind of failure an [`Error`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A variable, file or code setting held a value that is not allowed.
    BadSetting,
    /// A global subscriber was already installed.
    AlreadyInstalled,
    /// An operating-system call failed, for example opening the sink.
    Io,
}

/// An error from installing or configuring dynlog.
///
/// `Display` writes one line, e.g.
/// `DYN_LOGGING_JSONL: expected a boolean (1, true, on, yes, 0, false, off, no), found "maybe"`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<io::Error>,
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// An error for one bad setting.
    pub(crate) fn bad_setting(problem: &Problem) -> Error {
        Error {
            kind: ErrorKind::BadSetting,
            message: problem.to_string(),
            source: None,
        }
    }

    /// An error for installing over another global subscriber.
    pub(crate) fn already_installed() -> Error {
        Error {
            kind: ErrorKind::AlreadyInstalled,
            message: "a global subscriber is already installed".to_owned(),
            source: None,
        }
    }

    /// An error for a failed system call; `context` says what was being
    /// done, e.g. `cannot open "/var/log/app.log"`.
    pub(crate) fn io(context: &str, err: io::Error) -> Error {
        Error {
            kind: ErrorKind::Io,
            message: format!("{context}: {}", io_text(&err)),
            source: Some(err),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|err| err as &(dyn std::error::Error + 'static))
    }
}

/// An I/O error as lowercase text without the OS error number, e.g.
/// `no such file or directory`.
pub(crate) fn io_text(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => return "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => return "permission denied".to_owned(),
        _ => {}
    }

    let text = err.to_string();
    let text = match text.find(" (os error ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_with_a_kind() {
        let problem = Problem {
            source: "DYN_LOGGING_JSONL".to_owned(),
            message: "expected a boolean (1, true, on, yes, 0, false, off, no), found \"maybe\""
                .to_owned(),
        };
        let cases: Vec<(Error, ErrorKind, &str)> = vec![
            (
                Error::bad_setting(&problem),
                ErrorKind::BadSetting,
                "DYN_LOGGING_JSONL: expected a boolean (1, true, on, yes, 0, false, off, no), found \"maybe\"",
            ),
            (
                Error::already_installed(),
                ErrorKind::AlreadyInstalled,
                "a global subscriber is already installed",
            ),
            (
                Error::io(
                    "cannot open \"/x.log\"",
                    io::Error::from(io::ErrorKind::NotFound),
                ),
                ErrorKind::Io,
                "cannot open \"/x.log\": no such file or directory",
            ),
            (
                Error::io("cannot write", io::Error::from_raw_os_error(libc::EPIPE)),
                ErrorKind::Io,
                "cannot write: broken pipe",
            ),
            (
                Error::io("cannot write", io::Error::other("Disk on fire")),
                ErrorKind::Io,
                "cannot write: disk on fire",
            ),
        ];
        for (err, kind, text) in cases {
            assert_eq!(err.kind(), kind);
            assert_eq!(err.to_string(), text);
        }
    }

    #[test]
    fn io_errors_keep_their_source() {
        use std::error::Error as _;
        let err = Error::io(
            "cannot open",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("permission denied")
        );
        assert!(Error::already_installed().source().is_none());
    }
}
