//! The server's local wall-clock time as `HH:MM:SS`, for chat messages and
//! `/guest` pushes, with no date crate and no `unsafe` call into libc.
//!
//! The time zone file is read once, at the first [`Clock::local`] (when the
//! server binds, before the loop runs), and kept whole by [`crate::tzif`]:
//! every transition it lists plus its footer rule for the years after the
//! last one. Each [`Clock::hms`] then picks the offset in force *now* from
//! that table — a binary search, no file read — so the time is right across
//! a daylight-saving change without ever touching the disk on the loop
//! thread. (Re-reading the file hourly would be a blocking read on the loop,
//! or a thread; the table makes both unnecessary.) A missing or odd file
//! means UTC.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::tzif::{Rule, Zone};

/// The local time of day, using the zone loaded at start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    zone: &'static Zone,
}

static LOCAL: OnceLock<Zone> = OnceLock::new();

impl Clock {
    /// The system's zone: `$TZ` (a zone name such as `Europe/Berlin`, or a
    /// POSIX rule), else /etc/localtime. Loaded on the first call only.
    pub fn local() -> Clock {
        Clock {
            zone: LOCAL.get_or_init(load_local_zone),
        }
    }

    /// A clock for a given zone (tests).
    pub fn with_zone(zone: &'static Zone) -> Clock {
        Clock { zone }
    }

    /// The current local time as `HH:MM:SS`.
    pub fn hms(&self) -> String {
        hms_at(self.zone, unix_now())
    }
}

fn hms_at(zone: &Zone, now: i64) -> String {
    let secs = (now + i64::from(zone.offset_at(now))).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn load_local_zone() -> Zone {
    let tz = std::env::var("TZ").unwrap_or_default();
    let name = tz.trim_start_matches(':');
    let path = if name.is_empty() || name.contains("..") {
        "/etc/localtime".to_string()
    } else if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/usr/share/zoneinfo/{name}")
    };
    // ok: read once, at the first Clock::local (Server::bind), before the loop starts.
    if let Some(zone) = std::fs::read(&path).ok().and_then(|f| Zone::from_tzif(&f)) {
        return zone;
    }
    // `TZ=CET-1CEST,M3.5.0,M10.5.0/3` names no file: it is the rule itself.
    Rule::parse(name)
        .map(|rule| Zone {
            initial: rule.std,
            transitions: Vec::new(),
            rule: Some(rule),
        })
        .unwrap_or_default()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tzif::Rule;
    /// 2026-03-29 01:00 UTC: the last Sunday of March, when CET turns CEST.
    const SPRING_2026: i64 = 1_774_746_000;
    /// 2026-10-25 01:00 UTC: the last Sunday of October, back to CET.
    const AUTUMN_2026: i64 = 1_792_890_000;
    const BERLIN: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

    #[test]
    fn the_offset_changes_at_daylight_saving_without_a_restart() {
        let rule = Rule::parse(BERLIN).unwrap();
        let zone: &'static Zone = Box::leak(Box::new(Zone {
            initial: 3600,
            transitions: Vec::new(),
            rule: Some(rule),
        }));
        // The same loaded zone, asked one second apart across the change.
        assert_eq!(hms_at(zone, SPRING_2026 - 1), "01:59:59");
        assert_eq!(hms_at(zone, SPRING_2026), "03:00:00");
        assert_eq!(hms_at(zone, AUTUMN_2026 - 1), "02:59:59");
        assert_eq!(hms_at(zone, AUTUMN_2026), "02:00:00");
        assert_eq!(Clock::with_zone(zone).hms().len(), 8);
    }

    #[test]
    fn hms_is_eight_chars() {
        let s = Clock::local().hms();
        assert_eq!(s.len(), 8);
        assert_eq!(&s[2..3], ":");
    }
}
