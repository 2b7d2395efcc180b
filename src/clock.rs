//! The server's local wall-clock time as `HH:MM:SS`, for chat messages and
//! `/guest` pushes. The UTC offset is read once at start from the system's
//! time zone file (TZif, RFC 8536), so no date crate and no `unsafe` call
//! into libc are needed; when the file is missing or odd, the time is UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds east of UTC, taken at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset: i64,
}

impl Clock {
    pub fn local() -> Clock {
        let now = unix_now();
        // $TZ names a zone file (`Europe/Berlin`, `:Asia/Shanghai`); else
        // the system's /etc/localtime.
        let path = match std::env::var("TZ") {
            Ok(tz) if !tz.is_empty() && !tz.contains("..") => {
                format!("/usr/share/zoneinfo/{}", tz.trim_start_matches(':'))
            }
            _ => "/etc/localtime".to_string(),
        };
        // ok: read once, from Server::bind, before the loop starts.
        let offset = std::fs::read(path)
            .ok()
            .and_then(|tzif| utc_offset_at(&tzif, now))
            .unwrap_or(0);
        Clock {
            offset: i64::from(offset),
        }
    }

    /// The current local time as `HH:MM:SS`.
    pub fn hms(&self) -> String {
        let secs = (unix_now() + self.offset).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The offset in force at `now` according to a TZif file's version-1 data
/// block: the local time type of the last transition at or before `now`.
pub fn utc_offset_at(tzif: &[u8], now: i64) -> Option<i32> {
    if tzif.get(..4)? != b"TZif" {
        return None;
    }
    let count = |at: usize| -> Option<usize> {
        let b = tzif.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let (isutcnt, isstdcnt, leapcnt) = (count(20)?, count(24)?, count(28)?);
    let (timecnt, typecnt) = (count(32)?, count(36)?);
    let _ = (isutcnt, isstdcnt, leapcnt);
    let times = 44;
    let indices = times + timecnt * 4;
    let types = indices + timecnt;
    let mut type_index = 0usize;
    for i in 0..timecnt {
        let b = tzif.get(times + i * 4..times + i * 4 + 4)?;
        let t = i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if t > now {
            break;
        }
        type_index = usize::from(*tzif.get(indices + i)?);
    }
    if type_index >= typecnt {
        return None;
    }
    let b = tzif.get(types + type_index * 6..types + type_index * 6 + 4)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TZif file with one transition at t=1000 from +0 to +3600.
    fn sample() -> Vec<u8> {
        let mut f = b"TZif2".to_vec();
        f.resize(20, 0);
        for n in [0u32, 0, 0, 1, 2, 4] {
            f.extend_from_slice(&n.to_be_bytes());
        }
        f.extend_from_slice(&1000i32.to_be_bytes());
        f.push(1);
        f.extend_from_slice(&0i32.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&3600i32.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f
    }

    #[test]
    fn offset_follows_transitions() {
        assert_eq!(utc_offset_at(&sample(), 999), Some(0));
        assert_eq!(utc_offset_at(&sample(), 1000), Some(3600));
        assert_eq!(utc_offset_at(b"nope", 0), None);
        assert_eq!(utc_offset_at(&sample()[..40], 0), None);
    }

    #[test]
    fn hms_is_eight_chars() {
        let s = Clock::local().hms();
        assert_eq!(s.len(), 8);
        assert_eq!(&s[2..3], ":");
    }
}
