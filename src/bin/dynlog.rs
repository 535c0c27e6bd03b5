//! `dynlog check`: the operator's view of the configuration `init()` would
//! use, and a directive checker.
//!
//! `dynlog check` reads the same environment variables and TOML files as
//! `dynlog::init()` and prints every setting with its value and where it
//! came from, the files read, the assembled filter in canonical form and
//! every bad setting with its message. `dynlog check --filter DIRECTIVES`
//! parses one directive string and puts a caret under the first error.
//! Exit status: 0 when everything is valid, 1 when something is bad, 2 for
//! a usage error. The tool only reads; it installs nothing and logs nothing.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use dynlog::config::{self, Config, Problem, Settings};
use dynlog::filter::{Filter, ParseError};

const USAGE: &str = "\
usage: dynlog check [--prefix PREFIX] [--default-file PATH]
       dynlog check --filter DIRECTIVES

  check                 print the configuration init() would use: each
                        setting, its value and source, the filter in
                        canonical form, and every bad setting
  --prefix PREFIX       read PREFIX_LOG, PREFIX_LOGGING_JSONL, ... (default DYN)
  --default-file PATH   the default TOML file (default /opt/dynamo/etc/logging.toml)
  --filter DIRECTIVES   parse DIRECTIVES, print their canonical form or show
                        the first error under a caret

exit status: 0 valid, 1 something is bad, 2 usage error";

/// What the command line asks for.
enum Command {
    Help,
    Config {
        prefix: String,
        default_file: PathBuf,
    },
    Filter(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(args) => args,
        Err(arg) => return usage_error(&format!("expected UTF-8 arguments, found {arg:?}")),
    };
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(message) => return usage_error(&message),
    };

    let mut out = Vec::new();
    let is_valid = match command {
        Command::Help => {
            out.extend_from_slice(USAGE.as_bytes());
            out.push(b'\n');
            true
        }
        Command::Config {
            prefix,
            default_file,
        } => {
            let config =
                config::resolve_process_with_file(&Settings::default(), &prefix, &default_file);
            write_config(&mut out, &config)
        }
        Command::Filter(directives) => write_filter_check(&mut out, &directives),
    };

    // A closed stdout (`dynlog check | head`) is not worth a panic.
    let _ = io::stdout().lock().write_all(&out);
    if is_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn usage_error(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr().lock(), "dynlog: {message}\n{USAGE}");
    ExitCode::from(2)
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let Some((first, rest)) = args.split_first() else {
        return Err("expected a command (check), found nothing".to_owned());
    };
    match first.as_str() {
        "help" | "--help" | "-h" => return Ok(Command::Help),
        "check" => {}
        other => return Err(format!("expected a command (check), found {other:?}")),
    }

    let mut prefix = None;
    let mut default_file = None;
    let mut filter = None;
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        let slot = match arg.as_str() {
            "help" | "--help" | "-h" => return Ok(Command::Help),
            "--prefix" => &mut prefix,
            "--default-file" => &mut default_file,
            "--filter" => &mut filter,
            other => return Err(format!("expected an option of check, found {other:?}")),
        };
        let Some(value) = rest.next() else {
            return Err(format!("expected a value after {arg}, found nothing"));
        };
        if slot.replace(value.clone()).is_some() {
            return Err(format!("expected {arg} once, found it twice"));
        }
    }

    match (filter, prefix, default_file) {
        (Some(directives), None, None) => Ok(Command::Filter(directives)),
        (Some(_), _, _) => Err("expected --filter alone, found other options with it".to_owned()),
        (None, prefix, default_file) => Ok(Command::Config {
            prefix: prefix.unwrap_or_else(|| config::DEFAULT_PREFIX.to_owned()),
            default_file: default_file.map_or_else(|| config::DEFAULT_FILE.into(), PathBuf::from),
        }),
    }
}

/// Writes the report of `dynlog check`; returns whether nothing was bad.
fn write_config(out: &mut Vec<u8>, config: &Config) -> bool {
    let (filter, filter_problems) = config::effective_filter(config);
    let rows = config.describe();
    let width = rows
        .iter()
        .map(|(name, _, _)| name.len())
        .max()
        .unwrap_or(0);

    let mut text = String::from("settings:\n");
    for (name, value, source) in &rows {
        let value = printable(value);
        let source = printable(&source.to_string());
        text.push_str(&format!("  {name:<width$}  {value}  ({source})\n"));
    }

    text.push_str("files read:");
    if config.files.is_empty() {
        text.push_str(" none");
    }
    text.push('\n');
    for file in &config.files {
        text.push_str(&format!("  {}\n", printable(&file.display().to_string())));
    }

    text.push_str(&format!(
        "effective filter:\n  {}\n",
        printable(&filter.to_string())
    ));
    if filter.used_colon_spelling() {
        let source = printable(&config.filter.directives_source.to_string());
        text.push_str(&format!(
            "note: {source}: read `target:level` as `target=level`; write `=` instead\n"
        ));
    }

    let problems: Vec<&Problem> = config.problems.iter().chain(&filter_problems).collect();
    if problems.is_empty() {
        text.push_str("problems: none\n");
    } else {
        text.push_str(&format!("problems: {}\n", problems.len()));
        for problem in &problems {
            text.push_str(&format!("  {}\n", printable(&problem.to_string())));
        }
    }
    out.extend_from_slice(text.as_bytes());
    problems.is_empty()
}

/// Writes the report of `dynlog check --filter`; returns whether the
/// directives parsed.
fn write_filter_check(out: &mut Vec<u8>, directives: &str) -> bool {
    let mut text = String::new();
    let is_valid = match Filter::parse(directives) {
        Ok(filter) => {
            text.push_str(&format!("canonical: {}\n", printable(&filter.to_string())));
            if filter.used_colon_spelling() {
                text.push_str("note: read `target:level` as `target=level`; write `=` instead\n");
            }
            true
        }
        Err(error) => {
            write_caret(&mut text, directives, &error);
            text.push_str(&format!("error: {error}\n"));
            let (kept, errors) = Filter::parse_lossy(directives);
            if errors.len() > 1 {
                text.push_str(&format!("{} more invalid directives\n", errors.len() - 1));
            }
            text.push_str(&format!("init keeps: {}\n", printable(&kept.to_string())));
            false
        }
    };
    out.extend_from_slice(text.as_bytes());
    is_valid
}

/// Shows the line of `input` holding the error, with a caret under the
/// error's position; for input of several lines, says which line.
fn write_caret(text: &mut String, input: &str, error: &ParseError) {
    let offset = error.offset().min(input.len());
    let line_start = input[..offset].rfind('\n').map_or(0, |idx| idx + 1);
    let line_end = input[offset..]
        .find('\n')
        .map_or(input.len(), |idx| offset + idx);
    if input.contains('\n') {
        let line_number = input[..line_start].matches('\n').count() + 1;
        text.push_str(&format!("line {line_number}:\n"));
    }

    let shown: String = input[line_start..line_end]
        .chars()
        .map(shown_char)
        .collect();
    let column: usize = input[line_start..offset].chars().map(char_width).sum();
    text.push_str(&format!("  {shown}\n  {}^\n", " ".repeat(column)));
}

/// A character as the echoed directive line shows it: a tab as a space and
/// other control characters as `?`, so every character keeps its width.
fn shown_char(c: char) -> char {
    match c {
        '\t' => ' ',
        c if c.is_control() => '?',
        c => c,
    }
}

/// Columns a character takes in a terminal: 2 for the wide East Asian
/// blocks and emoji, 0 for combining marks, else 1. An approximation of
/// Unicode's East Asian Width that keeps the caret in place for the usual
/// scripts.
fn char_width(c: char) -> usize {
    match u32::from(c) {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// `text` with control characters escaped, so a value cannot break the
/// report's lines.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "expected a command (check), found nothing"),
            (&["chek"], "expected a command (check), found \"chek\""),
            (
                &["check", "--jsonl"],
                "expected an option of check, found \"--jsonl\"",
            ),
            (
                &["check", "--prefix"],
                "expected a value after --prefix, found nothing",
            ),
            (
                &["check", "--prefix", "A", "--prefix", "B"],
                "expected --prefix once, found it twice",
            ),
            (
                &["check", "--filter", "info", "--prefix", "A"],
                "expected --filter alone, found other options with it",
            ),
        ];
        for &(list, want) in cases {
            let got = parse_args(&args(list)).err();
            assert_eq!(got.as_deref(), Some(want), "args {list:?}");
        }
    }

    #[test]
    fn carets_count_columns_not_bytes() {
        let cases: &[(&str, &str)] = &[
            ("a=bad", "  a=bad\n    ^\n"),
            ("é=bad", "  é=bad\n    ^\n"),
            ("日本=bad", "  日本=bad\n       ^\n"),
            ("\ta=bad", "   a=bad\n     ^\n"),
            ("info,\nh2=bad", "line 2:\n  h2=bad\n     ^\n"),
        ];
        for &(input, want) in cases {
            let Err(error) = Filter::parse(input) else {
                panic!("dynlog: {input:?} parses");
            };
            let mut text = String::new();
            write_caret(&mut text, input, &error);
            assert_eq!(text, want, "input {input:?}");
        }
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(
            printable("a\nb\u{1b}[31m\u{85}é"),
            "a\\nb\\u{1b}[31m\\u{85}é"
        );
    }
}
