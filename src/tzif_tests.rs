use super::*;
/// 2026-03-29 01:00 UTC: the last Sunday of March, when CET turns CEST.
const SPRING_2026: i64 = 1_774_746_000;
/// 2026-10-25 01:00 UTC: the last Sunday of October, back to CET.
const AUTUMN_2026: i64 = 1_792_890_000;
const BERLIN: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

/// A TZif file: a version-1 block with one transition at t=1000 from
/// +0 to +3600; with `v2`, also the 64-bit block and a footer rule.
fn tzif(v2: Option<(i64, &str)>) -> Vec<u8> {
    fn header(version: u8, timecnt: u32) -> Vec<u8> {
        let mut f = b"TZif".to_vec();
        f.push(version);
        f.resize(20, 0);
        for n in [0u32, 0, 0, timecnt, 2, 4] {
            f.extend_from_slice(&n.to_be_bytes());
        }
        f
    }
    let types = |f: &mut Vec<u8>| {
        for off in [0i32, 3600] {
            f.extend_from_slice(&off.to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        f.extend_from_slice(b"UTC\0");
    };
    let mut f = header(if v2.is_some() { b'2' } else { 0 }, 1);
    f.extend_from_slice(&1000i32.to_be_bytes());
    f.push(1);
    types(&mut f);
    if let Some((at, footer)) = v2 {
        f.extend(header(b'2', 1));
        f.extend_from_slice(&at.to_be_bytes());
        f.push(1);
        types(&mut f);
        f.extend_from_slice(format!("\n{footer}\n").as_bytes());
    }
    f
}

#[test]
fn version_1_offset_follows_transitions() {
    let zone = Zone::from_tzif(&tzif(None)).unwrap();
    assert_eq!(zone.offset_at(999), 0);
    assert_eq!(zone.offset_at(1000), 3600);
    assert_eq!(zone.offset_at(i64::MAX), 3600);
    assert_eq!(Zone::from_tzif(b"nope"), None);
    assert_eq!(Zone::from_tzif(&tzif(None)[..40]), None);
}

#[test]
fn version_2_uses_64_bit_times_and_the_footer_after_the_last_one() {
    let zone = Zone::from_tzif(&tzif(Some((5000, BERLIN)))).unwrap();
    assert_eq!(zone.offset_at(4999), 0, "before the 64-bit transition");
    assert_eq!(zone.offset_at(SPRING_2026 - 1), 3600, "the footer: CET");
    assert_eq!(zone.offset_at(SPRING_2026), 7200, "the footer: CEST");
    // A truncated footer is no rule; the transitions still hold.
    let mut cut = tzif(Some((5000, BERLIN)));
    cut.truncate(cut.len() - 10);
    let zone = Zone::from_tzif(&cut).unwrap();
    assert_eq!(zone.offset_at(SPRING_2026), 3600);
}

#[test]
fn southern_rules_span_the_new_year() {
    let sydney = Rule::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
    // 2026-04-04 16:00 UTC = Sunday 5 April 03:00 AEDT: back to AEST.
    let end = 1_775_318_400;
    assert_eq!(sydney.offset_at(end - 1), 39_600);
    assert_eq!(sydney.offset_at(end), 36_000);
    // 2026-10-03 16:00 UTC = Sunday 4 October 02:00 AEST: AEDT.
    let start = 1_791_043_200;
    assert_eq!(sydney.offset_at(start - 1), 36_000);
    assert_eq!(sydney.offset_at(start), 39_600);
    assert_eq!(sydney.offset_at(start + 100 * 86_400), 39_600, "January");
}

#[test]
fn posix_rules_parse_or_refuse() {
    assert_eq!(Rule::parse("UTC0").unwrap().offset_at(0), 0);
    assert_eq!(Rule::parse("<+0530>-5:30").unwrap().offset_at(0), 19_800);
    assert_eq!(Rule::parse("EST5EDT,M3.2.0,M11.1.0").unwrap().std, -18_000);
    let j = Rule::parse("XST3XDT,J60/0,J300/0").unwrap();
    assert!(matches!(j.dst, Some((-7200, Date::Julian(60, 0), _))));
    for bad in [
        "",
        "U0",
        "CET",
        "CET-1CEST,M13.1.0,M10.5.0",
        "CET-1CEST,M3.5.0",
        "CET-x",
    ] {
        assert_eq!(Rule::parse(bad), None, "{bad}");
    }
}

#[test]
fn calendar_arithmetic_round_trips() {
    for days in [-800_000, -1, 0, 59, 365, 10_957, 20_541, 2_932_896] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(civil_from_days(20_541), (2026, 3, 29));
}

#[test]
fn the_system_berlin_file_when_installed() {
    let Ok(file) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") else {
        eprintln!("no tzdata here: only the synthetic files are checked");
        return;
    };
    let zone = Zone::from_tzif(&file).expect("parse the real file");
    assert_eq!(zone.offset_at(SPRING_2026 - 1), 3600);
    assert_eq!(zone.offset_at(SPRING_2026), 7200);
    assert_eq!(zone.offset_at(AUTUMN_2026), 3600);
    // Far past the listed transitions: the footer's rule.
    assert_eq!(
        zone.offset_at(SPRING_2026 + 40 * 31_556_952 + 86_400 * 7),
        7200
    );
}
