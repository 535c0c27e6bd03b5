//! The fuzz targets' properties on stable, without libFuzzer.
//!
//! Every file under `fuzz/regressions/<target>/` is an input that once
//! broke a property; each must pass now. Then a bounded randomized run of
//! the same three properties, from a fixed seed so a failure repeats, with
//! inputs shaped like what each property reads. The properties themselves
//! live in `fuzz/src/properties.rs`, shared with the fuzz targets, so both
//! check exactly the same thing.

#[path = "../fuzz/src/properties.rs"]
mod properties;

use std::path::{Path, PathBuf};

/// The saved inputs of one target, sorted by file name.
fn saved_inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) => panic!("dynlog: cannot read {}: {error}", dir.display()),
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("dynlog: cannot list a regression").path())
        .filter(|path| path.is_file() && path.file_name() != Some(".gitkeep".as_ref()))
        .collect();
    paths.sort();
    paths
}

fn file_names(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
        .collect()
}

fn replay(target: &str, property: fn(&[u8])) -> Vec<String> {
    let paths = saved_inputs(target);
    for path in &paths {
        let data = std::fs::read(path).expect("dynlog: cannot read a regression");
        property(&data);
    }
    file_names(&paths)
}

#[test]
fn every_saved_directive_input_still_passes() {
    let replayed = replay("directive", properties::directive);
    assert_eq!(replayed, Vec::<String>::new());
}

#[test]
fn every_saved_traceparent_input_still_passes() {
    let replayed = replay("traceparent", properties::traceparent);
    assert_eq!(replayed, ["request-id-cut-before-a-space"]);
}

#[test]
fn every_saved_json_line_input_still_passes() {
    let replayed = replay("json_line", properties::json_line);
    assert_eq!(replayed, ["span-debug-value-cut-mid-character"]);
}

// ----- the randomized run ----------------------------------------------------

/// xorshift64*: small, fast and repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pieces of directive strings, good and bad, that the generator joins.
const DIRECTIVE_PIECES: &[&str] = &[
    "info",
    "WARN",
    "warning",
    "Error",
    "debug",
    "trace",
    "off",
    "0",
    "5",
    "6",
    "loud",
    "app",
    "app::db",
    "tokio",
    "tokio_util",
    "tokio::",
    "h2",
    "my-crate",
    "x.y",
    "日本",
    "é",
    "=",
    ":",
    "::",
    ",",
    " ",
    "\n",
    "\t",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\\"",
    "\\\\",
    "\\",
    "[req]",
    "[req{user=42}]",
    "[{ok=true}]",
    "[span{a,b}]",
    "[\"x]y\"]",
    "{user=\"a,b\"}",
    "\"k=v\"",
    "\"}\"",
    "=debug",
    ":info",
    "[",
    "req",
    "user",
    "=",
    "-1.5",
    "Some(3)",
    "\u{85}",
    "\u{0}",
];

fn random_directives(rng: &mut Rng) -> String {
    let mut input = String::new();
    for _ in 0..rng.below(12) {
        input.push_str(rng.pick(DIRECTIVE_PIECES));
    }
    input
}

#[test]
fn the_directive_property_holds_for_random_strings() {
    let mut rng = Rng(0x51_7cc1_b727_220a);
    for _ in 0..5000 {
        properties::directive(random_directives(&mut rng).as_bytes());
    }
    for _ in 0..500 {
        let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        properties::directive(&bytes);
    }
}

fn hex(rng: &mut Rng, len: usize) -> String {
    let digits = b"0123456789abcdef";
    let mut text: String = (0..len)
        .map(|_| char::from(digits[rng.below(16)]))
        .collect();
    if rng.chance(8) {
        text = "0".repeat(len);
    }
    if rng.chance(10) {
        text = text.to_uppercase();
    }
    if rng.chance(12) {
        text.truncate(len.saturating_sub(1));
    }
    text
}

fn random_traceparent(rng: &mut Rng) -> String {
    let version = rng.pick(&["00", "00", "00", "01", "cc", "ff", "0g", "0", "000"]);
    let mut header = format!(
        "{version}-{}-{}-{}",
        hex(rng, 32),
        hex(rng, 16),
        hex(rng, 2)
    );
    if rng.chance(5) {
        header.push_str(rng.pick(&["-", "-more", "-x-y", "x", ",00"]));
    }
    if rng.chance(5) {
        header = format!(
            "{}{header}{}",
            rng.pick(&[" ", "\t", "  "]),
            rng.pick(&[" ", "\t", ""])
        );
    }
    if rng.chance(10) {
        let at = rng.below(header.len() + 1);
        header.insert_str(at, rng.pick(&["-", "_", "é", "\n", "x"]));
    }
    header
}

fn random_tracestate(rng: &mut Rng) -> String {
    let members = [
        "congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7",
        "a@b=1",
        "k/v=x y",
        "BAD=1",
        "=v",
        "k=",
        "k=v ",
        "k=v=w",
        " ",
        "",
        "tenant@sys=é",
    ];
    let n = if rng.chance(6) { 33 } else { rng.below(6) };
    let mut parts = Vec::new();
    for idx in 0..n {
        if rng.chance(3) {
            parts.push(format!("m{idx}=v{idx}"));
        } else {
            parts.push(rng.pick(&members).to_owned());
        }
    }
    parts.join(rng.pick(&[",", " , ", ",,"]))
}

fn random_request_id(rng: &mut Rng) -> String {
    let piece = rng.pick(&[
        "abc-123", " ", "\t", "é", "日本", "\n", "\u{7f}", "\u{85}", "x",
    ]);
    let n = if rng.chance(4) { 300 } else { rng.below(4) };
    piece.repeat(n)
}

#[test]
fn the_traceparent_property_holds_for_random_headers() {
    let mut rng = Rng(0x2f0b_3c44_8e1d_9a75);
    for _ in 0..5000 {
        let mut data = random_traceparent(&mut rng).into_bytes();
        for part in [
            random_tracestate(&mut rng),
            random_request_id(&mut rng),
            random_request_id(&mut rng),
        ] {
            data.push(0xff);
            data.extend_from_slice(part.as_bytes());
        }
        properties::traceparent(&data);
    }
}

/// Characters that stress escaping and cutting.
const VALUE_PIECES: &[&str] = &[
    "a", "Z", "0", " ", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1b}", "\u{7f}", "\u{85}",
    "\u{9f}", "\u{a0}", "é", "日", "😀", "\u{2028}", "\u{fffd}", "{", "}", ",", ":", "]",
];

/// A string field of a `json_line` input: a length byte, then the bytes.
fn push_string(rng: &mut Rng, data: &mut Vec<u8>) {
    let mut text = String::new();
    let max_len = if rng.chance(4) { 80 } else { 12 };
    let target = rng.below(max_len);
    while text.len() < target {
        text.push_str(rng.pick(VALUE_PIECES));
    }
    let bytes = &text.as_bytes()[..text.len().min(255)];
    data.push(bytes.len() as u8);
    data.extend_from_slice(bytes);
}

fn push_number<const N: usize>(rng: &mut Rng, data: &mut Vec<u8>, edges: &[[u8; N]]) {
    if rng.chance(2) {
        data.extend_from_slice(&edges[rng.below(edges.len())]);
    } else {
        data.extend((0..N).map(|_| rng.next() as u8));
    }
}

/// An input laid out as `properties::json_line` reads it: flags, the five
/// strings, the numbers, then per span a string, an integer, a string and
/// an optional later value.
fn random_line(rng: &mut Rng) -> Vec<u8> {
    let mut data = Vec::new();
    let depth = rng.below(5) as u8;
    data.push((rng.next() as u8 & 0b111) | (depth << 3));
    for _ in 0..5 {
        push_string(rng, &mut data);
    }
    let ints = [0i64, -1, i64::MIN, i64::MAX, 42].map(i64::to_le_bytes);
    let uints = [0u64, u64::MAX, 1 << 53].map(u64::to_le_bytes);
    let floats = [
        0.0,
        -0.0,
        1.5,
        -1e300,
        f64::MIN_POSITIVE / 2.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.1 + 0.2,
    ]
    .map(f64::to_le_bytes);
    let bigs = [0i128, i128::MIN, i128::MAX, -1].map(i128::to_le_bytes);
    let ubigs = [0u128, u128::MAX, 1 << 64].map(u128::to_le_bytes);
    push_number(rng, &mut data, &ints);
    push_number(rng, &mut data, &uints);
    push_number(rng, &mut data, &floats);
    data.push(rng.next() as u8);
    push_number(rng, &mut data, &bigs);
    push_number(rng, &mut data, &ubigs);
    for _ in 0..depth {
        push_string(rng, &mut data);
        push_number(rng, &mut data, &ints);
        push_string(rng, &mut data);
        let is_later = rng.chance(2);
        data.push(u8::from(is_later));
        if is_later {
            push_string(rng, &mut data);
        }
    }
    data
}

#[test]
fn the_json_line_property_holds_for_random_values() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..600 {
        properties::json_line(&random_line(&mut rng));
    }
    for _ in 0..100 {
        let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        properties::json_line(&bytes);
    }
}
