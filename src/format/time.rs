//! RFC 3339 timestamps with exactly six fraction digits, in UTC
//! (`2024-02-29T13:45:07.123456Z`) or in a time zone with a numeric offset
//! (`2024-02-29T19:15:07.123456+05:30`, `+00:00` on a UTC host).
//!
//! Promise: any `SystemTime` gives a well-formed stamp without panicking;
//! microseconds are truncated, never rounded up into the next second; times
//! outside years 0000 to 9999 are clamped to the nearest end of that range.
//! A per-thread [`TimeCache`] holds the formatted text of the current
//! second, so an event in the same second costs a comparison, six digits and
//! three short copies. Local offsets come from jiff's copy of the system time zone,
//! looked up again whenever the second changes, so DST changes show within a
//! second; libc's `localtime` is never called.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Bytes in `YYYY-MM-DDTHH:MM:SS.`, the part cached per second.
const PREFIX_LEN: usize = 20;

/// Bytes in `YYYY-MM-DDTHH:MM:SS.ffffff`.
const FRACTION_END: usize = PREFIX_LEN + 6;

/// Bytes in a stamp with an offset, `YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM`.
const STAMP_MAX: usize = FRACTION_END + 6;

const SECONDS_PER_DAY: i64 = 86_400;

/// The earliest second written: 0000-01-02T00:00:00Z. One day of margin
/// keeps the local date in year 0000 for any offset down to -23:59.
const MIN_SECOND: i64 = -62_167_132_800;

/// The latest second written: 9999-12-30T23:59:59Z, one day short of the
/// end of year 9999 for the same reason.
const MAX_SECOND: i64 = 253_402_214_399;

/// The widest offset written, 23:59, in seconds: RFC 3339 allows no more.
const MAX_OFFSET: i32 = 23 * 3600 + 59 * 60;

/// Clock ids for [`TimeCache`]; 0 is every UTC clock.
static NEXT_CLOCK_ID: AtomicU64 = AtomicU64::new(1);

/// Where a [`Clock`] gets its offset from UTC.
#[derive(Clone, Debug)]
enum OffsetSource {
    /// UTC, written with a `Z`.
    Utc,
    /// A fixed offset in seconds, already a whole number of minutes within
    /// `±MAX_OFFSET`.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "only tests build fixed-offset clocks")
    )]
    Fixed(i32),
    /// A time zone whose offset is looked up once per second.
    Zone(TimeZone),
}

/// Turns the current time into RFC 3339 text, in UTC or in a time zone.
///
/// Offsets with seconds (old local mean times) are cut to whole minutes,
/// towards zero, and the local time is computed with the offset written, so
/// the stamp always names the right instant to the second.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    source: OffsetSource,
    /// Tells apart the clocks that share a [`TimeCache`]: equal ids format
    /// every second the same way.
    id: u64,
}

impl Clock {
    /// A clock writing UTC with a `Z`.
    pub(crate) fn utc() -> Clock {
        Clock {
            source: OffsetSource::Utc,
            id: 0,
        }
    }

    /// A clock writing the system's local time with a numeric offset. The
    /// system zone is read once, here (jiff honours `TZ`, then
    /// `/etc/localtime`); an unknown zone behaves as UTC and writes
    /// `+00:00`.
    pub(crate) fn local() -> Clock {
        Clock::from_zone(TimeZone::system())
    }

    /// A clock writing local time in `zone` with a numeric offset.
    pub(crate) fn from_zone(zone: TimeZone) -> Clock {
        Clock {
            source: OffsetSource::Zone(zone),
            id: next_clock_id(),
        }
    }

    /// A clock writing local time at a fixed offset of `seconds` east of
    /// UTC, cut towards zero to whole minutes and clamped to ±23:59.
    #[cfg(test)]
    pub(crate) fn fixed_offset(seconds: i32) -> Clock {
        Clock {
            source: OffsetSource::Fixed(normalize_offset(seconds)),
            id: next_clock_id(),
        }
    }

    /// Appends the timestamp of `now` (unquoted) to `out`.
    ///
    /// `cache` should belong to the calling thread; it may be shared by
    /// several clocks, at the price of a rebuild when they alternate.
    #[inline]
    pub(crate) fn write(&self, cache: &mut TimeCache, now: SystemTime, out: &mut Vec<u8>) {
        let (second, nanos) = split_unix(now);
        self.write_unix(cache, second, nanos, out);
    }

    /// Appends the timestamp of `second` seconds and `nanos` nanoseconds
    /// after the Unix epoch, as `clock_gettime` gives them (`nanos` below
    /// 1,000,000,000; larger values count as 999,999,999).
    ///
    /// [`Clock::write`] costs a `SystemTime::duration_since` more, which
    /// was most of its time when measured; callers that read the clock
    /// themselves can come here directly.
    #[inline]
    pub(crate) fn write_unix(
        &self,
        cache: &mut TimeCache,
        second: i64,
        nanos: u32,
        out: &mut Vec<u8>,
    ) {
        let (second, micros) = clamp_unix(second, nanos);
        if cache.second != second || cache.clock_id != self.id {
            self.fill(cache, second);
        }

        // The digits are built in a register, not stored into the cached
        // text: reading that text back right after narrow stores would stall
        // on store forwarding. Constant lengths make each copy inline moves.
        let digits = micros_digits(micros);
        out.reserve(STAMP_MAX);
        out.extend_from_slice(&cache.stamp[..PREFIX_LEN]);
        out.extend_from_slice(&digits[..6]);
        if cache.is_utc {
            out.push(b'Z');
        } else {
            out.extend_from_slice(&cache.stamp[FRACTION_END..]);
        }
    }

    /// Rebuilds `cache` for `second`: date, time, `.` and the offset.
    #[cold]
    fn fill(&self, cache: &mut TimeCache, second: i64) {
        let offset = match &self.source {
            OffsetSource::Utc => 0,
            OffsetSource::Fixed(offset) => *offset,
            OffsetSource::Zone(zone) => {
                // jiff's range ends a few hours before ours; past it, the
                // zone's last rule applies anyway.
                let second = second.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
                let instant = Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH);
                normalize_offset(zone.to_offset(instant).seconds())
            }
        };

        let local = second + i64::from(offset);
        let (year, month, day) = civil_from_days(local.div_euclid(SECONDS_PER_DAY));
        let second_of_day = local.rem_euclid(SECONDS_PER_DAY) as u32;
        let stamp = &mut cache.stamp;
        put2(stamp, 0, year / 100);
        put2(stamp, 2, year % 100);
        stamp[4] = b'-';
        put2(stamp, 5, month);
        stamp[7] = b'-';
        put2(stamp, 8, day);
        stamp[10] = b'T';
        put2(stamp, 11, second_of_day / 3600);
        stamp[13] = b':';
        put2(stamp, 14, second_of_day / 60 % 60);
        stamp[16] = b':';
        put2(stamp, 17, second_of_day % 60);
        stamp[PREFIX_LEN - 1] = b'.';

        let is_utc = match self.source {
            OffsetSource::Utc => true,
            OffsetSource::Fixed(_) | OffsetSource::Zone(_) => {
                stamp[FRACTION_END] = if offset < 0 { b'-' } else { b'+' };
                let minutes = offset.unsigned_abs() / 60;
                put2(stamp, FRACTION_END + 1, minutes / 60);
                stamp[FRACTION_END + 3] = b':';
                put2(stamp, FRACTION_END + 4, minutes % 60);
                false
            }
        };

        cache.is_utc = is_utc;
        cache.second = second;
        cache.clock_id = self.id;
    }
}

/// The formatted text of one second, kept per thread.
///
/// Invariant: when `second` and `clock_id` match the call, `stamp` holds
/// the text of that second: `YYYY-MM-DDTHH:MM:SS.` at `..PREFIX_LEN`, and
/// unless `is_utc`, the offset `+HH:MM` at `FRACTION_END..`. The bytes in
/// between are unused; `Clock::write` puts the fraction digits in `out`.
#[derive(Clone, Debug)]
pub(crate) struct TimeCache {
    second: i64,
    clock_id: u64,
    is_utc: bool,
    stamp: [u8; STAMP_MAX],
}

impl TimeCache {
    /// An empty cache; the first write fills it.
    pub(crate) const fn new() -> TimeCache {
        TimeCache {
            // No clamped second is i64::MIN and no clock gets u64::MAX.
            second: i64::MIN,
            clock_id: u64::MAX,
            is_utc: true,
            stamp: [0; STAMP_MAX],
        }
    }
}

impl Default for TimeCache {
    fn default() -> Self {
        TimeCache::new()
    }
}

fn next_clock_id() -> u64 {
    // Relaxed: the id only has to be unique; nothing is published through it.
    NEXT_CLOCK_ID.fetch_add(1, Ordering::Relaxed)
}

/// Cuts an offset to whole minutes towards zero and clamps it to ±23:59.
fn normalize_offset(seconds: i32) -> i32 {
    (seconds - seconds % 60).clamp(-MAX_OFFSET, MAX_OFFSET)
}

/// Splits `now` into whole Unix seconds, rounded down also before 1970, and
/// nanoseconds.
#[inline]
fn split_unix(now: SystemTime) -> (i64, u32) {
    match now.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-whole, 0),
                nanos => (-whole - 1, 1_000_000_000 - nanos),
            }
        }
    }
}

/// Truncates to microseconds and clamps to `MIN_SECOND..=MAX_SECOND`.
#[inline]
fn clamp_unix(second: i64, nanos: u32) -> (i64, u32) {
    if second < MIN_SECOND {
        (MIN_SECOND, 0)
    } else if second > MAX_SECOND {
        (MAX_SECOND, 999_999)
    } else {
        (second, nanos.min(999_999_999) / 1_000)
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month,
/// day). Counts in 400-year eras of 146,097 days whose years start on
/// 1 March, so the leap day is the last day of a year.
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    // Shift the origin to 0000-03-01, the start of an era.
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);

    // Years of the era: 365 days each, plus a leap day every 4 years except
    // at 100 and 400 (the era's last day).
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);

    // Months from March: 153 days per five months.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);

    // The callers clamp to years 0000..=9999, so these fit.
    (year as u32, month as u32, day as u32)
}

/// The six ASCII digits of `micros` (below 1,000,000), then two zero bytes,
/// computed as one little-endian word.
#[inline]
fn micros_digits(micros: u32) -> [u8; 8] {
    let pair = |value: u32| u64::from(value / 10) | u64::from(value % 10) << 8;
    let word = pair(micros / 10_000) | pair(micros / 100 % 100) << 16 | pair(micros % 100) << 32;
    (word | 0x3030_3030_3030).to_le_bytes()
}

/// Writes `value % 100` as two ASCII digits at `buf[at..at + 2]`.
#[inline]
fn put2(buf: &mut [u8; STAMP_MAX], at: usize, value: u32) {
    let value = value % 100;
    buf[at] = b'0' + (value / 10) as u8;
    buf[at + 1] = b'0' + (value % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(second: i64, micros: u32) -> SystemTime {
        let fraction = Duration::from_micros(u64::from(micros));
        if second >= 0 {
            UNIX_EPOCH + Duration::from_secs(second as u64) + fraction
        } else {
            UNIX_EPOCH - Duration::from_secs(second.unsigned_abs()) + fraction
        }
    }

    fn stamp(clock: &Clock, cache: &mut TimeCache, now: SystemTime) -> String {
        let mut out = b"t=".to_vec();
        clock.write(cache, now, &mut out);
        String::from_utf8(out.split_off(2)).unwrap()
    }

    fn one(clock: &Clock, now: SystemTime) -> String {
        stamp(clock, &mut TimeCache::new(), now)
    }

    /// jiff's own rendering, the oracle for the hand-written conversion.
    fn jiff_utc(second: i64, micros: u32) -> String {
        let ts = Timestamp::new(second, micros as i32 * 1_000).unwrap();
        ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }

    #[test]
    fn utc_table() {
        let cases: [(i64, u32, &str); 10] = [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (0, 1, "1970-01-01T00:00:00.000001Z"),
            (1_709_164_800, 0, "2024-02-29T00:00:00.000000Z"),
            (1_709_251_199, 999_999, "2024-02-29T23:59:59.999999Z"),
            (1_735_689_599, 999_999, "2024-12-31T23:59:59.999999Z"),
            (1_735_689_600, 0, "2025-01-01T00:00:00.000000Z"),
            (951_782_400, 123_456, "2000-02-29T00:00:00.123456Z"),
            (4_107_542_400, 500_000, "2100-03-01T00:00:00.500000Z"),
            (-1, 999_999, "1969-12-31T23:59:59.999999Z"),
            (-2_208_988_800, 10, "1900-01-01T00:00:00.000010Z"),
        ];
        for (second, micros, expected) in cases {
            assert_eq!(one(&Clock::utc(), at(second, micros)), expected);
        }
    }

    #[test]
    fn write_unix_table() {
        let clock = Clock::utc();
        let mut cache = TimeCache::new();
        let cases: [(i64, u32, &str); 5] = [
            (0, 999, "1970-01-01T00:00:00.000000Z"),
            (0, 1_000, "1970-01-01T00:00:00.000001Z"),
            (-1, 999_999_999, "1969-12-31T23:59:59.999999Z"),
            (59, u32::MAX, "1970-01-01T00:00:59.999999Z"),
            (i64::MAX, 0, "9999-12-30T23:59:59.999999Z"),
        ];
        for (second, nanos, expected) in cases {
            let mut out = Vec::new();
            clock.write_unix(&mut cache, second, nanos, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn sub_microsecond_is_truncated_not_rounded() {
        let now = UNIX_EPOCH + Duration::new(1_735_689_599, 999_999_999);
        assert_eq!(one(&Clock::utc(), now), "2024-12-31T23:59:59.999999Z");

        let before = UNIX_EPOCH - Duration::from_nanos(1);
        assert_eq!(one(&Clock::utc(), before), "1969-12-31T23:59:59.999999Z");

        let before = UNIX_EPOCH - Duration::from_nanos(1_500);
        assert_eq!(one(&Clock::utc(), before), "1969-12-31T23:59:59.999998Z");
    }

    #[test]
    fn far_past_and_future_are_clamped() {
        assert_eq!(
            one(
                &Clock::utc(),
                UNIX_EPOCH - Duration::from_secs(100_000_000_000)
            ),
            "0000-01-02T00:00:00.000000Z"
        );
        assert_eq!(
            one(
                &Clock::utc(),
                UNIX_EPOCH + Duration::from_secs(300_000_000_000)
            ),
            "9999-12-30T23:59:59.999999Z"
        );
        assert_eq!(jiff_utc(MIN_SECOND, 0), "0000-01-02T00:00:00.000000Z");
        assert_eq!(
            jiff_utc(MAX_SECOND - 7_199, 0),
            "9999-12-30T22:00:00.000000Z"
        );

        let clock = Clock::fixed_offset(-MAX_OFFSET);
        assert_eq!(
            one(&clock, UNIX_EPOCH - Duration::from_secs(100_000_000_000)),
            "0000-01-01T00:01:00.000000-23:59"
        );
        let clock = Clock::fixed_offset(MAX_OFFSET);
        assert_eq!(
            one(&clock, UNIX_EPOCH + Duration::from_secs(300_000_000_000)),
            "9999-12-31T23:58:59.999999+23:59"
        );

        if std::path::Path::new("/usr/share/zoneinfo/Asia/Tokyo").exists() {
            let clock = Clock::from_zone(TimeZone::get("Asia/Tokyo").unwrap());
            assert_eq!(
                one(&clock, UNIX_EPOCH + Duration::from_secs(300_000_000_000)),
                "9999-12-31T08:59:59.999999+09:00"
            );
        }
    }

    #[test]
    fn utc_matches_jiff_across_the_whole_range() {
        let mut cache = TimeCache::new();
        let clock = Clock::utc();
        let step = 86_400 * 97 + 3_631;
        let mut second = MIN_SECOND;
        while second <= MAX_SECOND {
            let micros = (second.rem_euclid(1_000_000)) as u32;
            assert_eq!(
                stamp(&clock, &mut cache, at(second, micros)),
                jiff_utc(second, micros)
            );
            second += step;
        }
    }

    #[test]
    fn fixed_offsets() {
        let noon = at(1_709_208_000, 42); // 2024-02-29T12:00:00Z
        let cases: [(i32, &str); 8] = [
            (0, "2024-02-29T12:00:00.000042+00:00"),
            (19_800, "2024-02-29T17:30:00.000042+05:30"),
            (-25_200, "2024-02-29T05:00:00.000042-07:00"),
            (50_400, "2024-03-01T02:00:00.000042+14:00"),
            (-43_200, "2024-02-29T00:00:00.000042-12:00"),
            (-1_075, "2024-02-29T11:43:00.000042-00:17"),
            (200_000, "2024-03-01T11:59:00.000042+23:59"),
            (i32::MIN, "2024-02-28T12:01:00.000042-23:59"),
        ];
        for (offset, expected) in cases {
            assert_eq!(
                one(&Clock::fixed_offset(offset), noon),
                expected,
                "{offset}"
            );
        }
    }

    #[test]
    fn cache_follows_seconds_and_clocks() {
        let mut cache = TimeCache::default();
        let utc = Clock::utc();
        let india = Clock::fixed_offset(19_800);
        let cases: [(&Clock, i64, u32, &str); 6] = [
            (&utc, 59, 1, "1970-01-01T00:00:59.000001Z"),
            (&utc, 59, 999_999, "1970-01-01T00:00:59.999999Z"),
            (&utc, 60, 0, "1970-01-01T00:01:00.000000Z"),
            (&india, 60, 7, "1970-01-01T05:31:00.000007+05:30"),
            (&utc, 60, 8, "1970-01-01T00:01:00.000008Z"),
            (&utc, 59, 2, "1970-01-01T00:00:59.000002Z"),
        ];
        for (clock, second, micros, expected) in cases {
            assert_eq!(stamp(clock, &mut cache, at(second, micros)), expected);
        }
    }

    #[test]
    fn dst_changes_are_followed_within_a_second() {
        if !std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists() {
            eprintln!("note: no tzdata for America/New_York; DST test skipped");
            return;
        }
        let clock = Clock::from_zone(TimeZone::get("America/New_York").unwrap());
        let mut cache = TimeCache::new();
        let cases: [(i64, &str); 4] = [
            // 2024-03-10: 02:00 EST jumps to 03:00 EDT.
            (1_710_053_999, "2024-03-10T01:59:59.250000-05:00"),
            (1_710_054_000, "2024-03-10T03:00:00.250000-04:00"),
            // 2024-11-03: 02:00 EDT falls back to 01:00 EST.
            (1_730_613_599, "2024-11-03T01:59:59.250000-04:00"),
            (1_730_613_600, "2024-11-03T01:00:00.250000-05:00"),
        ];
        for (second, expected) in cases {
            assert_eq!(stamp(&clock, &mut cache, at(second, 250_000)), expected);
        }
    }

    #[test]
    fn local_clock_matches_jiff_for_the_system_zone() {
        let zone = TimeZone::system();
        let clock = Clock::local();
        for second in [0, 1_709_208_000, 1_720_000_000] {
            let ts = Timestamp::from_second(second).unwrap();
            let expected = ts
                .to_zoned(zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S.000000%:z");
            assert_eq!(one(&clock, at(second, 0)), expected.to_string());
        }
    }
}
