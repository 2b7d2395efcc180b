use super::*;

fn shared(h: &str) -> Option<String> {
    negotiate(h, Mode::Shared, 12).unwrap().map(|(_, a)| a)
}

fn dedicated(h: &str) -> Option<String> {
    negotiate(h, Mode::Dedicated, 12).unwrap().map(|(_, a)| a)
}

const SHARED_ANSWER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[test]
fn s7_chromium_offer() {
    let h = "permessage-deflate; client_max_window_bits";
    assert_eq!(shared(h).as_deref(), Some(SHARED_ANSWER));
    assert_eq!(
        dedicated(h).as_deref(),
        Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    );
}

#[test]
fn s7_firefox_offer() {
    let h = "permessage-deflate";
    assert_eq!(shared(h).as_deref(), Some(SHARED_ANSWER));
    // Without client_max_window_bits offered, none is answered (§7.1.2.2),
    // and a client window we cannot bound to 12 bits must reset (§7.1.1.2).
    assert_eq!(
        dedicated(h).as_deref(),
        Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=12")
    );
}

#[test]
fn s7_python_websockets_offer() {
    let h = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12";
    assert_eq!(
        shared(h).as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=12; client_max_window_bits=12"
        )
    );
}

#[test]
fn s7_mode_off_declines() {
    assert_eq!(negotiate("permessage-deflate", Mode::Off, 12), Ok(None));
}

#[test]
fn s7_first_acceptable_offer_wins() {
    // The first offer has an unknown parameter: declined, the second taken.
    let h = "permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=10";
    let (agreed, answer) = negotiate(h, Mode::Shared, 12).unwrap().unwrap();
    assert_eq!(agreed.server_window_bits, 10);
    assert_eq!(answer.matches("permessage-deflate").count(), 1);
}

#[test]
fn s7_other_extensions_are_ignored() {
    assert_eq!(
        shared("x-webkit-deflate-frame, foo; bar=\"baz\"").as_deref(),
        None
    );
    assert_eq!(
        shared("x-webkit-deflate-frame, permessage-deflate").as_deref(),
        Some(SHARED_ANSWER)
    );
}

#[test]
fn s7_1_unknown_parameter_declines() {
    assert_eq!(shared("permessage-deflate; mystery"), None);
}

#[test]
fn s7_1_duplicate_parameter_declines() {
    assert_eq!(
        shared("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
        None
    );
    assert_eq!(
        shared("permessage-deflate; client_max_window_bits; client_max_window_bits=10"),
        None
    );
}

#[test]
fn s7_1_1_context_takeover_parameters_take_no_value() {
    assert_eq!(
        shared("permessage-deflate; server_no_context_takeover=1"),
        None
    );
    assert_eq!(
        shared("permessage-deflate; client_no_context_takeover=1"),
        None
    );
}

#[test]
fn s7_1_1_dedicated_honours_the_clients_no_context_takeover() {
    let h = "permessage-deflate; client_no_context_takeover; server_no_context_takeover";
    let (a, _) = negotiate(h, Mode::Dedicated, 15).unwrap().unwrap();
    assert!(a.server_no_context_takeover && a.client_no_context_takeover);
    let (a, _) = negotiate("permessage-deflate", Mode::Dedicated, 15)
        .unwrap()
        .unwrap();
    assert!(!a.server_no_context_takeover && !a.client_no_context_takeover);
}

#[test]
fn s7_1_1_2_dedicated_asks_an_unbounded_client_to_reset() {
    // No client_max_window_bits offered: the client may use a 15-bit window,
    // more history than --deflate-window 12 keeps, so it must reset.
    let (a, ans) = negotiate("permessage-deflate", Mode::Dedicated, 12)
        .unwrap()
        .unwrap();
    assert!(!a.server_no_context_takeover && a.client_no_context_takeover);
    assert_eq!(
        ans,
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=12"
    );
    // Offered: held to 12, context takeover both ways.
    let (a, _) = negotiate(
        "permessage-deflate; client_max_window_bits",
        Mode::Dedicated,
        12,
    )
    .unwrap()
    .unwrap();
    assert!(!a.client_no_context_takeover);
    assert_eq!(a.client_window_bits, 12);
}

#[test]
fn s7_1_2_window_bits_values() {
    for bad in ["7", "16", "08", "010", "1a", "", "+9", "-9", "9.0"] {
        let h = format!("permessage-deflate; server_max_window_bits={bad}");
        assert_eq!(
            negotiate(&h, Mode::Shared, 12).ok().flatten(),
            None,
            "{bad:?}"
        );
    }
    for good in 9..=15 {
        let h = format!("permessage-deflate; server_max_window_bits={good}");
        let (a, _) = negotiate(&h, Mode::Shared, 12).unwrap().unwrap();
        assert_eq!(a.server_window_bits, good);
    }
    // Quoted values are allowed (RFC 6455 §9.1).
    let (a, _) = negotiate(
        "permessage-deflate; server_max_window_bits=\"10\"",
        Mode::Shared,
        12,
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.server_window_bits, 10);
}

#[test]
fn s7_1_2_1_server_max_window_bits_needs_a_value() {
    assert_eq!(shared("permessage-deflate; server_max_window_bits"), None);
}

#[test]
fn s7_1_2_1_answered_server_window_is_at_most_the_offered() {
    let (a, ans) = negotiate(
        "permessage-deflate; server_max_window_bits=10",
        Mode::Dedicated,
        12,
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.server_window_bits, 10);
    assert!(ans.contains("server_max_window_bits=10"));
    let (a, _) = negotiate(
        "permessage-deflate; server_max_window_bits=15",
        Mode::Dedicated,
        12,
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.server_window_bits, 12);
}

#[test]
fn s7_1_2_1_an_8_bit_window_is_declined() {
    // zlib refuses a raw deflate stream with an 8-bit window.
    assert_eq!(shared("permessage-deflate; server_max_window_bits=8"), None);
    assert_eq!(
        shared("permessage-deflate; server_max_window_bits=8, permessage-deflate").as_deref(),
        Some(SHARED_ANSWER)
    );
    assert_eq!(shared("permessage-deflate; client_max_window_bits=8"), None);
}

#[test]
fn s7_1_2_2_client_max_window_bits_only_when_offered() {
    for h in [
        "permessage-deflate",
        "permessage-deflate; server_max_window_bits=11",
    ] {
        for mode in [Mode::Shared, Mode::Dedicated] {
            let (_, ans) = negotiate(h, mode, 9).unwrap().unwrap();
            assert!(
                !ans.contains("client_max_window_bits"),
                "{h} {mode:?}: {ans}"
            );
        }
    }
    // Offered without a value: the answer carries a value or nothing.
    let (_, ans) = negotiate(
        "permessage-deflate; client_max_window_bits",
        Mode::Dedicated,
        9,
    )
    .unwrap()
    .unwrap();
    assert!(ans.contains("client_max_window_bits=9"), "{ans}");
    assert!(!ans.ends_with("client_max_window_bits"));
}

#[test]
fn s7_1_2_2_client_window_offered_with_value() {
    let (a, ans) = negotiate(
        "permessage-deflate; client_max_window_bits=10",
        Mode::Shared,
        12,
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.client_window_bits, 10);
    assert!(ans.contains("client_max_window_bits=10"));
}

#[test]
fn s9_1_header_that_does_not_parse_is_an_error() {
    for bad in [
        "permessage-deflate; ",
        "permessage-deflate;=1",
        "permessage-deflate; a=\"unterminated",
        "permessage-deflate; a=\"not a token\"",
        "permessage-deflate x",
        "permessage-deflate; a=",
        "\"quoted\"",
    ] {
        assert!(negotiate(bad, Mode::Shared, 12).is_err(), "{bad:?}");
    }
    assert!(negotiate("", Mode::Shared, 12).unwrap().is_none());
    assert!(
        negotiate(" , ,permessage-deflate ,", Mode::Shared, 12)
            .unwrap()
            .is_some()
    );
}

#[test]
fn safari_15_0_to_15_3_is_matched() {
    let ua = |v: &str| {
        format!(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/{v} Safari/605.1.15"
        )
    };
    for v in ["15.0", "15.1", "15.2", "15.3", "15.3.1", "15"] {
        assert!(is_broken_safari(&ua(v)), "{v}");
    }
    for v in ["14.1.2", "15.4", "15.6.1", "16.0", "150.0"] {
        assert!(!is_broken_safari(&ua(v)), "{v}");
    }
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/120.0.0.0 Safari/537.36 Version/15.0";
    assert!(!is_broken_safari(chrome));
    assert!(!is_broken_safari(
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
    ));
}
