//! Chat names (issue 13, items 7 and 9): what a name may contain, when two
//! names count as the same, and a per-room index that answers "is it
//! taken?" in O(1) and suggests a free variant in a bounded number of tries.
//!
//! A name must look like what it is. Invisible characters would let
//! `alice\u{200B}` sit next to `alice`, and bidi controls would make a name
//! read as another, so a name may not contain:
//! - control characters (Unicode category Cc);
//! - format characters (Cf: soft hyphen, zero-width space and joiners,
//!   bidi marks and overrides, the BOM, tags…) — [`FORMAT`];
//! - default-ignorable code points (variation selectors, Hangul fillers,
//!   Mongolian free variation selectors, the combining grapheme joiner…),
//!   which fonts draw as nothing — [`DEFAULT_IGNORABLE`];
//! - private-use characters and noncharacters (no glyph anyone agrees on);
//! - whitespace other than U+0020, or a space at either end.
//!
//! The cost: emoji sequences joined by U+200D or styled with U+FE0F
//! (`👨‍👩‍👧`, `❤️`) are refused; single emoji (`😀`) are fine.
//!
//! Tables: Unicode 15.1, `DerivedGeneralCategory.txt` (Cf) and
//! `DerivedCoreProperties.txt` (Default_Ignorable_Code_Point). Unassigned
//! code points are not refused (that would take the whole table).

use std::collections::HashMap;

/// The longest name, in characters (as the chat protocol documents).
pub const MAX_NAME_CHARS: usize = 24;

/// General_Category=Cf, as inclusive ranges, sorted.
#[rustfmt::skip]
pub const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Default_Ignorable_Code_Point, as inclusive ranges, sorted.
#[rustfmt::skip]
pub const DEFAULT_IGNORABLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Why a name was refused; [`NameError::reason`] is the client's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    /// A space at the start or the end, or whitespace other than U+0020.
    Spacing,
    /// `#` starts the names the server gives plain clients.
    Reserved,
    /// A control, format, default-ignorable, private-use or non-character.
    Invisible(char),
}

impl NameError {
    pub fn reason(self) -> &'static str {
        match self {
            NameError::Empty | NameError::TooLong => "a name is 1 to 24 characters",
            NameError::Spacing => {
                "a name may not start or end with a space, or hold other whitespace"
            }
            NameError::Reserved => "names starting with # are reserved",
            NameError::Invisible(_) => {
                "a name may not contain invisible, control or bidi characters"
            }
        }
    }
}

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Characters no name may hold: they draw as nothing, or as anything.
pub fn is_invisible(c: char) -> bool {
    let u = u32::from(c);
    let private_use = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    let nonchar = matches!(u, 0xFDD0..=0xFDEF) || u & 0xFFFE == 0xFFFE;
    c.is_control()
        || private_use
        || nonchar
        || in_table(FORMAT, c)
        || in_table(DEFAULT_IGNORABLE, c)
}

/// Checks a name a client asked for.
pub fn check(name: &str) -> Result<(), NameError> {
    let count = name.chars().count();
    if count == 0 {
        return Err(NameError::Empty);
    }
    if count > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if let Some(c) = name.chars().find(|&c| is_invisible(c)) {
        return Err(NameError::Invisible(c));
    }
    if name.trim() != name || name.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err(NameError::Spacing);
    }
    if name.starts_with('#') {
        return Err(NameError::Reserved);
    }
    Ok(())
}

/// The key two names are compared by: equal keys, same name.
///
/// Case: each character is upper-cased, then lower-cased, which gives
/// Unicode's full case folding for the cases that matter in names —
/// `ß`/`SS`/`ss`, final `ς`/`σ`/`Σ`, `ſ`/`s`, the Kelvin sign, `µ`/`μ`,
/// ligatures like `ﬁ` — without a table, and without the context-dependent
/// final-sigma rule of `str::to_lowercase`.
///
/// Compatibility forms are **not** folded in general (NFKC needs Unicode's
/// decomposition tables): `𝐚lice` (mathematical bold) and `alice` are two
/// names. The one exception is the fullwidth ASCII block (U+FF01–U+FF5E),
/// which reads exactly like ASCII: `ａｌｉｃｅ` is `alice`.
pub fn fold(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars() {
        let c = match u32::from(c) {
            u @ 0xFF01..=0xFF5E => char::from_u32(u - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        for upper in c.to_uppercase() {
            key.extend(upper.to_lowercase());
        }
    }
    key
}

/// The names in one room, by [`fold`] key. A count per key, so a name
/// removed once is gone even if, by mistake, it was added twice.
#[derive(Debug, Default)]
pub struct NameIndex {
    keys: HashMap<String, u32>,
}

impl NameIndex {
    pub fn insert(&mut self, name: &str) {
        *self.keys.entry(fold(name)).or_insert(0) += 1;
    }

    pub fn remove(&mut self, name: &str) {
        let key = fold(name);
        if let Some(n) = self.keys.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.keys.remove(&key);
            }
        }
    }

    /// Is a name with the same key in the room? One fold (≤ 24 characters)
    /// and one hash look-up.
    pub fn is_taken(&self, name: &str) -> bool {
        self.keys.contains_key(&fold(name))
    }

    /// How many distinct names.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A free, valid variant of `name` (`name-2`, `name-3`, …, then
    /// numbers spread over a range twice the room's size, where at least
    /// half are free), after at most `max_tries` look-ups. `None` when
    /// every try was taken.
    pub fn suggest(&self, name: &str, max_tries: usize) -> Option<String> {
        candidates(name, self.len(), max_tries).find(|c| check(c).is_ok() && !self.is_taken(c))
    }
}

/// The variants [`NameIndex::suggest`] tries, at most `max_tries` of them.
fn candidates(name: &str, taken: usize, max_tries: usize) -> impl Iterator<Item = String> + '_ {
    // The spread: suffixes 5..5+span. With at most `taken` of them in use,
    // each pseudo-random pick is free with a chance of at least 1/2.
    let span = 2 * taken as u64 + 16;
    let seed = fold(name).bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (0..max_tries as u64).map(move |i| {
        let n = if i < 3 {
            i + 2
        } else {
            let x = (seed ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            5 + (x >> 32) % span
        };
        with_suffix(name, n)
    })
}

/// `name-n`, the name cut (at a character) so the whole fits
/// [`MAX_NAME_CHARS`], with no space left before the dash.
fn with_suffix(name: &str, n: u64) -> String {
    let suffix = format!("-{n}");
    let keep = MAX_NAME_CHARS.saturating_sub(suffix.len());
    let base: String = name.chars().take(keep).collect();
    format!("{}{suffix}", base.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_disjoint() {
        for table in [FORMAT, DEFAULT_IGNORABLE] {
            for pair in table.windows(2) {
                assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
            }
        }
    }

    #[test]
    fn every_format_and_default_ignorable_character_is_refused() {
        for &(lo, hi) in FORMAT.iter().chain(DEFAULT_IGNORABLE) {
            for c in (lo..=hi).filter_map(char::from_u32) {
                assert_eq!(
                    check(&format!("al{c}ice")),
                    Err(NameError::Invisible(c)),
                    "{:04X}",
                    u32::from(c)
                );
            }
        }
    }

    #[test]
    fn the_invisible_characters_of_the_review_are_refused() {
        for c in ['\u{200B}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{061C}'] {
            assert!(check(&format!("alice{c}")).is_err(), "{:04X}", u32::from(c));
            assert!(check(&format!("{c}alice")).is_err());
        }
        // And their relatives: bidi override and isolates, joiners,
        // variation selectors, Hangul filler, a tag, private use.
        for c in [
            '\u{202E}',
            '\u{2067}',
            '\u{200D}',
            '\u{FE0F}',
            '\u{E0100}',
            '\u{3164}',
            '\u{E0041}',
            '\u{E000}',
            '\u{FFFF}',
            '\u{7}',
        ] {
            assert!(
                matches!(check(&format!("a{c}b")), Err(NameError::Invisible(_))),
                "{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn ordinary_names_in_any_script_pass() {
        for name in [
            "alice",
            "Zoë",
            "王伟",
            "José María",
            "ada-2",
            "Ελένη",
            "o'brien",
            "😀 sun",
            "İlkay",
            &"x".repeat(24),
        ] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn length_spacing_and_reserved_names_are_refused() {
        assert_eq!(check(""), Err(NameError::Empty));
        assert_eq!(check(&"é".repeat(25)), Err(NameError::TooLong));
        for name in [
            " alice",
            "alice ",
            "al\u{A0}ice",
            "al\u{3000}ice",
            "al\u{2028}ice",
        ] {
            assert_eq!(check(name), Err(NameError::Spacing), "{name:?}");
        }
        assert_eq!(check("#3"), Err(NameError::Reserved));
        assert!(check("al\tice").is_err());
    }

    #[test]
    fn names_compare_case_folded() {
        let same = [
            ("Alice", "aLICE"),
            ("straße", "STRASSE"),
            ("ΣΑΣ", "σας"),
            ("ſam", "SAM"),
            ("\u{212A}elvin", "kelvin"),
            ("µ", "μ"),
            ("ﬁsh", "FISH"),
            ("ａｌｉｃｅ", "alice"),
        ];
        for (a, b) in same {
            assert_eq!(fold(a), fold(b), "{a} / {b}");
        }
        // Compatibility forms other than fullwidth ASCII are not folded.
        assert_ne!(fold("𝐚lice"), fold("alice"));
        assert_ne!(fold("alice"), fold("alicé"));
    }

    #[test]
    fn the_index_answers_taken_case_insensitively_and_forgets_on_remove() {
        let mut index = NameIndex::default();
        index.insert("Alice");
        assert!(index.is_taken("ALICE") && index.is_taken("ａｌｉｃｅ"));
        assert!(!index.is_taken("bob"));
        index.insert("alice");
        index.remove("Alice");
        assert!(index.is_taken("alice"), "counted: one left");
        index.remove("ALICE");
        assert!(!index.is_taken("alice") && index.is_empty());
        index.remove("nobody");
    }

    #[test]
    fn suggest_gives_a_free_valid_name() {
        let mut index = NameIndex::default();
        index.insert("x");
        assert_eq!(index.suggest("x", 8).as_deref(), Some("x-2"));
        index.insert("x-2");
        assert_eq!(index.suggest("X", 8).as_deref(), Some("X-3"));
        // A name at the length limit is cut to fit its suffix.
        let long = "é".repeat(24);
        index.insert(&long);
        let s = index.suggest(&long, 8).unwrap();
        assert_eq!(check(&s), Ok(()));
        assert!(
            s.ends_with("-2") && s.chars().count() <= MAX_NAME_CHARS,
            "{s}"
        );
        assert_eq!(with_suffix("ab                      c", 2), "ab-2");
    }

    #[test]
    fn suggest_is_bounded_in_a_crowded_room() {
        // The review's room: 1,500 members named x, x-2, …, x-1500.
        let mut index = NameIndex::default();
        index.insert("x");
        for n in 2..=1500 {
            index.insert(&format!("x-{n}"));
        }
        assert_eq!(
            candidates("x", index.len(), 16).count(),
            16,
            "at most max_tries"
        );
        let t0 = std::time::Instant::now();
        for _ in 0..2000 {
            let s = index.suggest("x", 16).expect("a free name within 16 tries");
            assert!(!index.is_taken(&s));
        }
        // 2,000 refused hellos: 32,000 look-ups at most, not 2,000 × 1,500.
        assert!(
            t0.elapsed() < std::time::Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(index.suggest("x", 0), None);
    }
}
