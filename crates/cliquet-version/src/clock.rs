//! [`Clock`]: where the layers read the current time, and the parsing of the
//! `eos` date.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The source of the current time, for the end-of-service comparison and
/// the `Expires` / `Last-Modified` headers of redirects.
///
/// [`SystemClock`] is the default; any `Fn() -> SystemTime` is a clock too,
/// which makes tests deterministic:
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use cliquet_version::EosLayer;
///
/// let eos = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// let layer = EosLayer::new(eos).clock(|| UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// # let _ = layer;
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

impl<F> Clock for F
where
    F: Fn() -> SystemTime + Send + Sync + 'static,
{
    fn now(&self) -> SystemTime {
        self()
    }
}

/// The system's clock: [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Why an `eos` value is not a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadDate;

impl fmt::Display for BadDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "expected a date such as 2030-12-31, optionally with a time (2030-12-31T12:00:00Z)",
        )
    }
}

/// Parses an `eos` setting: `YYYY-MM-DD` (`/` also accepted as separator),
/// optionally followed by `T` or a space and `HH:MM[:SS[.fraction]]`, and
/// an optional `Z`. The moment is taken in UTC; a date alone is its
/// midnight.
pub(crate) fn parse_moment(text: &str) -> Result<SystemTime, BadDate> {
    let text = text.trim();
    let mut cursor = Cursor { rest: text };
    let year = cursor.number(4, 4)?;
    cursor.separator(&['-', '/'])?;
    let month = cursor.number(1, 2)?;
    cursor.separator(&['-', '/'])?;
    let day = cursor.number(1, 2)?;
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    if cursor.separator(&['T', 't', ' ']).is_ok() {
        hour = cursor.number(2, 2)?;
        cursor.separator(&[':'])?;
        minute = cursor.number(2, 2)?;
        if cursor.separator(&[':']).is_ok() {
            second = cursor.number(2, 2)?;
            if cursor.separator(&['.']).is_ok() {
                cursor.number(1, 9)?;
            }
        }
    }
    let _ = cursor.separator(&['Z', 'z']);
    if !cursor.rest.is_empty() || hour > 23 || minute > 59 || second > 59 {
        return Err(BadDate);
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(BadDate);
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3_600 + minute * 60 + second);
    Ok(if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    })
}

struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn number(&mut self, min: usize, max: usize) -> Result<u32, BadDate> {
        let len = self
            .rest
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if len < min {
            return Err(BadDate);
        }
        let (digits, rest) = self.rest.split_at(len);
        self.rest = rest;
        // At most nine digits: always fits.
        digits.parse().map_err(|_| BadDate)
    }

    fn separator(&mut self, accepted: &[char]) -> Result<(), BadDate> {
        let mut chars = self.rest.chars();
        match chars.next() {
            Some(c) if accepted.contains(&c) => {
                self.rest = chars.as_str();
                Ok(())
            }
            _ => Err(BadDate),
        }
    }
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> i64 {
        let moment = parse_moment(text).unwrap();
        match moment.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        }
    }

    #[test]
    fn dates_are_their_utc_midnight() {
        assert_eq!(secs("1970-01-01"), 0);
        assert_eq!(secs("2000-03-01"), 951_868_800);
        assert_eq!(secs("2024-02-29"), 1_709_164_800);
        assert_eq!(secs("1969-12-31"), -86_400);
        assert_eq!(secs(" 2030/1/5 "), secs("2030-01-05"));
    }

    #[test]
    fn dates_with_times() {
        assert_eq!(secs("1970-01-02T01:02:03Z"), 86_400 + 3_723);
        assert_eq!(secs("1970-01-02 01:02"), 86_400 + 3_720);
        assert_eq!(secs("1970-01-01T00:00:01.250"), 1);
    }

    #[test]
    fn nonsense_is_rejected() {
        for text in [
            "",
            "soon",
            "2030-13-01",
            "2030-02-30",
            "2023-02-29",
            "2030-01-01T25:00",
            "2030-01-01 extra",
            "30-01-01",
            "2030-01-01T12:00+02:00",
        ] {
            assert_eq!(parse_moment(text), Err(BadDate), "{text}");
        }
    }

    #[test]
    fn closures_are_clocks() {
        let clock = || UNIX_EPOCH;
        assert_eq!(Clock::now(&clock), UNIX_EPOCH);
        assert!(SystemClock.now() > UNIX_EPOCH);
    }
}
