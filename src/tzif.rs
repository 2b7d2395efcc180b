//! Time zone data as pure parsers: the TZif file (RFC 8536) and the POSIX
//! `TZ` rule in its footer (`CET-1CEST,M3.5.0,M10.5.0/3`), turned into a
//! [`Zone`] that answers "what is the UTC offset at this instant" without
//! further I/O. Bytes in, values out; no file is opened here.

/// A zone: its transitions and the rule after them.
#[derive(Debug, Default, PartialEq)]
pub struct Zone {
    /// The offset before the first transition (RFC 8536 §3.2: time type 0).
    pub initial: i32,
    /// `(UTC second, offset east of UTC from then on)`, sorted.
    pub transitions: Vec<(i64, i32)>,
    /// For times after the last transition (RFC 8536 §3.3, the footer).
    pub rule: Option<Rule>,
}

impl Zone {
    /// Seconds east of UTC in force at `t` (a Unix time).
    pub fn offset_at(&self, t: i64) -> i32 {
        let after = self.transitions.partition_point(|&(at, _)| at <= t);
        match (after, &self.rule) {
            (0, _) if !self.transitions.is_empty() => self.initial,
            (n, Some(rule)) if n == self.transitions.len() => rule.offset_at(t),
            (0, None) => self.initial,
            (n, _) => self.transitions[n - 1].1,
        }
    }

    /// Parses a TZif file (RFC 8536): the 64-bit data of version 2+ when
    /// present, else the version-1 data; and the footer rule.
    pub fn from_tzif(f: &[u8]) -> Option<Zone> {
        let (header, v1) = Header::parse(f)?;
        if f.get(4)? == &0 {
            return header.zone(f, v1, 4, None);
        }
        let second = v1.checked_add(header.block_len(4)?)?;
        let (header2, data) = Header::parse(f.get(second..)?)?;
        let data = second + data;
        let footer_at = data.checked_add(header2.block_len(8)?)?;
        let footer = f
            .get(footer_at..)
            .and_then(|rest| rest.strip_prefix(b"\n"))
            .and_then(|rest| rest.split(|&b| b == b'\n').next())
            .and_then(|line| std::str::from_utf8(line).ok())
            .and_then(Rule::parse);
        header2.zone(f, data, 8, footer)
    }
}

/// The counts of a TZif header (RFC 8536 §3.1).
struct Header {
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    /// The header at the start of `f` and where its data block starts.
    fn parse(f: &[u8]) -> Option<(Header, usize)> {
        if f.get(..4)? != b"TZif" {
            return None;
        }
        let count = |at: usize| -> Option<usize> {
            let b: [u8; 4] = f.get(at..at + 4)?.try_into().ok()?;
            usize::try_from(u32::from_be_bytes(b)).ok()
        };
        let header = Header {
            isutcnt: count(20)?,
            isstdcnt: count(24)?,
            leapcnt: count(28)?,
            timecnt: count(32)?,
            typecnt: count(36)?,
            charcnt: count(40)?,
        };
        Some((header, 44))
    }

    /// The length of the data block with `time_size`-byte times.
    fn block_len(&self, time_size: usize) -> Option<usize> {
        let parts = [
            self.timecnt.checked_mul(time_size + 1)?,
            self.typecnt.checked_mul(6)?,
            self.charcnt,
            self.leapcnt.checked_mul(time_size + 4)?,
            self.isstdcnt,
            self.isutcnt,
        ];
        parts.iter().try_fold(0usize, |sum, &p| sum.checked_add(p))
    }

    fn zone(&self, f: &[u8], data: usize, time_size: usize, rule: Option<Rule>) -> Option<Zone> {
        let indices = data.checked_add(self.timecnt.checked_mul(time_size)?)?;
        let types = indices.checked_add(self.timecnt)?;
        let utoff = |index: usize| -> Option<i32> {
            let at = types.checked_add(index.checked_mul(6)?)?;
            Some(i32::from_be_bytes(f.get(at..at + 4)?.try_into().ok()?))
        };
        let mut transitions = Vec::with_capacity(self.timecnt);
        for i in 0..self.timecnt {
            let at = data + i * time_size;
            let time = match time_size {
                8 => i64::from_be_bytes(f.get(at..at + 8)?.try_into().ok()?),
                _ => i64::from(i32::from_be_bytes(f.get(at..at + 4)?.try_into().ok()?)),
            };
            let index = usize::from(*f.get(indices + i)?);
            transitions.push((time, utoff(index)?));
        }
        if !transitions.is_sorted_by_key(|&(t, _)| t) {
            return None;
        }
        Some(Zone {
            initial: if self.typecnt > 0 { utoff(0)? } else { 0 },
            transitions,
            rule,
        })
    }
}

/// A POSIX `TZ` rule (RFC 8536 §3.3): standard offset, and optionally a
/// daylight-saving offset with the local times it starts and ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Seconds east of UTC.
    pub std: i32,
    /// `(dst offset, start, end)`; start and end in the local time then in
    /// force (standard time for the start, daylight time for the end).
    dst: Option<(i32, Date, Date)>,
}

/// When in the year a change happens, and at what local second of that day.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Date {
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Month(u8, u8, u8, i32),
    /// `Jn`: day 1–365, February 29 never counted.
    Julian(u16, i32),
    /// `n`: day 0–365, February 29 counted.
    Day(u16, i32),
}

impl Rule {
    /// `std offset [dst [offset] [,start[/time],end[/time]]]`.
    pub fn parse(s: &str) -> Option<Rule> {
        let mut p = s.as_bytes();
        name(&mut p)?;
        let std = -signed_time(&mut p)?;
        if p.is_empty() {
            return Some(Rule { std, dst: None });
        }
        name(&mut p)?;
        let dst_offset = match p.first() {
            Some(b',') | None => std + 3600,
            _ => -signed_time(&mut p)?,
        };
        // A daylight-saving name without its rule leaves the dates to the
        // implementation (POSIX); refused here (then: UTC), as guessing
        // them would be wrong somewhere.
        let p = p.strip_prefix(b",")?;
        let text = std::str::from_utf8(p).ok()?;
        let (start, end) = text.split_once(',')?;
        Some(Rule {
            std,
            dst: Some((dst_offset, Date::parse(start)?, Date::parse(end)?)),
        })
    }

    pub fn offset_at(&self, t: i64) -> i32 {
        let Some((dst, start, end)) = self.dst else {
            return self.std;
        };
        let year = civil_from_days((t + i64::from(self.std)).div_euclid(86_400)).0;
        let start = start.unix(year) - i64::from(self.std);
        let end = end.unix(year) - i64::from(dst);
        let in_dst = if start < end {
            start <= t && t < end
        } else {
            // Southern hemisphere: daylight time spans the new year.
            !(end <= t && t < start)
        };
        if in_dst { dst } else { self.std }
    }
}

impl Date {
    fn parse(s: &str) -> Option<Date> {
        let (day, time) = match s.split_once('/') {
            Some((day, time)) => {
                let mut t = time.as_bytes();
                let secs = signed_time(&mut t)?;
                (day, if t.is_empty() { secs } else { return None })
            }
            None => (s, 7200),
        };
        if let Some(m) = day.strip_prefix('M') {
            let mut it = m.split('.').map(|n| n.parse::<u8>().ok());
            let (m, w, d) = (it.next()??, it.next()??, it.next()??);
            let ok = (1..=12).contains(&m) && (1..=5).contains(&w) && d <= 6;
            return (ok && it.next().is_none()).then_some(Date::Month(m, w, d, time));
        }
        if let Some(n) = day.strip_prefix('J') {
            let n: u16 = n.parse().ok()?;
            return (1..=365).contains(&n).then_some(Date::Julian(n, time));
        }
        let n: u16 = day.parse().ok()?;
        (n <= 365).then_some(Date::Day(n, time))
    }

    /// The local time of this change in `year`, as seconds since the epoch
    /// of that local clock.
    fn unix(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        let (day, time) = match self {
            Date::Month(m, w, d, time) => {
                let first = days_from_civil(year, m.into(), 1);
                let weekday = (first + 4).rem_euclid(7); // 1970-01-01 was a Thursday
                let mut day =
                    first + (i64::from(d) - weekday).rem_euclid(7) + 7 * (i64::from(w) - 1);
                let next_month = if m == 12 {
                    days_from_civil(year + 1, 1, 1)
                } else {
                    days_from_civil(year, i64::from(m) + 1, 1)
                };
                while day >= next_month {
                    day -= 7;
                }
                (day, time)
            }
            Date::Julian(n, time) => {
                let leap = days_from_civil(year, 3, 1) - days_from_civil(year, 2, 28) == 2;
                let skip = i64::from(leap && n >= 60);
                (jan1 + i64::from(n) - 1 + skip, time)
            }
            Date::Day(n, time) => (jan1 + i64::from(n), time),
        };
        day * 86_400 + i64::from(time)
    }
}

/// A zone abbreviation: letters, or anything in `<…>` (like `<+03>`).
fn name(p: &mut &[u8]) -> Option<()> {
    let len = if p.first() == Some(&b'<') {
        p.iter().position(|&b| b == b'>')? + 1
    } else {
        p.iter().take_while(|b| b.is_ascii_alphabetic()).count()
    };
    if len < 3 {
        return None;
    }
    *p = &p[len..];
    Some(())
}

/// `[+|-]hh[:mm[:ss]]` in seconds.
fn signed_time(p: &mut &[u8]) -> Option<i32> {
    let sign = match p.first() {
        Some(b'-') => -1,
        _ => 1,
    };
    if matches!(p.first(), Some(b'-' | b'+')) {
        *p = &p[1..];
    }
    let mut secs = 0i32;
    for (i, scale) in [3600, 60, 1].into_iter().enumerate() {
        if i > 0 {
            match p.strip_prefix(b":") {
                Some(rest) => *p = rest,
                None => break,
            }
        }
        let digits = p.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 3 {
            return None;
        }
        let n: i32 = std::str::from_utf8(&p[..digits]).ok()?.parse().ok()?;
        secs += n * scale;
        *p = &p[digits..];
    }
    Some(sign * secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
#[path = "tzif_tests.rs"]
mod tests;
