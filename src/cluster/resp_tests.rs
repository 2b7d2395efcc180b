use super::*;
use proptest::prelude::*;

fn one(bytes: &[u8]) -> Result<Option<(Value, usize)>, RespError> {
    parse(bytes, &Limits::default())
}

/// A whole value that takes all of `bytes`.
fn whole(bytes: &[u8]) -> Value {
    match one(bytes) {
        Ok(Some((v, used))) => {
            assert_eq!(
                used,
                bytes.len(),
                "{:?} left bytes over",
                bytes.escape_ascii()
            );
            v
        }
        other => panic!("{:?}: {other:?}", bytes.escape_ascii()),
    }
}

fn bulk(b: &[u8]) -> Value {
    Value::Bulk(b.to_vec())
}

/// The test's own encoder for any value (the module only encodes commands).
fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Simple(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
        Value::Error(s) => out.extend_from_slice(format!("-{s}\r\n").as_bytes()),
        Value::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Value::Bulk(b) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            items.iter().for_each(|i| encode(i, out));
        }
        Value::NilArray => out.extend_from_slice(b"*-1\r\n"),
    }
}

/// Everything a reader gives until it needs more bytes or fails.
fn drain(r: &mut RespReader, seen: &mut Vec<Result<Value, RespError>>) {
    loop {
        match r.next_value() {
            Ok(Some(v)) => seen.push(Ok(v)),
            Ok(None) => return,
            Err(e) => return seen.push(Err(e)),
        }
    }
}

/// What a reader gives for `stream` pushed in pieces of these sizes.
fn read_in_pieces(
    stream: &[u8],
    sizes: impl Iterator<Item = usize>,
    limits: Limits,
) -> Vec<Result<Value, RespError>> {
    let mut r = RespReader::new(limits);
    let mut seen = Vec::new();
    let mut rest = stream;
    for n in sizes {
        if rest.is_empty() || matches!(seen.last(), Some(Err(_))) {
            break;
        }
        let (piece, tail) = rest.split_at(n.clamp(1, rest.len()));
        rest = tail;
        r.push(piece);
        drain(&mut r, &mut seen);
    }
    seen
}

/// A mix of every type, nested, pipelined as Redis would send it.
const MIXED: &[u8] =
    b"+OK\r\n-ERR no\r\n:0\r\n:-12\r\n$0\r\n\r\n$4\r\na\r\nb\r\n$-1\r\n*-1\r\n*0\r\n\
*3\r\n$7\r\nmessage\r\n$5\r\nroom1\r\n$5\r\nhello\r\n*2\r\n*1\r\n:1\r\n*2\r\n+x\r\n$-1\r\n";

fn mixed_values() -> Vec<Value> {
    vec![
        Value::Simple("OK".into()),
        Value::Error("ERR no".into()),
        Value::Integer(0),
        Value::Integer(-12),
        bulk(b""),
        bulk(b"a\r\nb"),
        Value::Nil,
        Value::NilArray,
        Value::Array(vec![]),
        Value::Array(vec![bulk(b"message"), bulk(b"room1"), bulk(b"hello")]),
        Value::Array(vec![
            Value::Array(vec![Value::Integer(1)]),
            Value::Array(vec![Value::Simple("x".into()), Value::Nil]),
        ]),
    ]
}

#[test]
fn every_type() {
    assert_eq!(whole(b"+OK\r\n"), Value::Simple("OK".into()));
    assert_eq!(whole(b"+\r\n"), Value::Simple(String::new()));
    assert_eq!(
        whole(b"-ERR unknown command\r\n"),
        Value::Error("ERR unknown command".into())
    );
    assert_eq!(whole(b":42\r\n"), Value::Integer(42));
    assert_eq!(whole(b":-7\r\n"), Value::Integer(-7));
    assert_eq!(whole(b":-0\r\n"), Value::Integer(0));
    assert_eq!(whole(b":007\r\n"), Value::Integer(7));
    assert_eq!(whole(b"$5\r\nhello\r\n"), bulk(b"hello"));
    assert_eq!(whole(b"$0\r\n\r\n"), bulk(b""));
    assert_eq!(whole(b"$-1\r\n"), Value::Nil);
    assert_eq!(whole(b"*-1\r\n"), Value::NilArray);
    assert_eq!(whole(b"*0\r\n"), Value::Array(vec![]));
    assert_eq!(
        whole(b"*2\r\n:1\r\n$1\r\nx\r\n"),
        Value::Array(vec![Value::Integer(1), bulk(b"x")])
    );
}

#[test]
fn bulk_strings_are_binary_safe() {
    // CRLF, NUL and non-UTF-8 inside a body are data, not framing.
    assert_eq!(whole(b"$6\r\n\r\n\0\xff\r\n\r\n"), bulk(b"\r\n\0\xff\r\n"));
}

#[test]
fn simple_strings_that_are_not_utf8_are_replaced_not_refused() {
    assert_eq!(whole(b"+a\xffb\r\n"), Value::Simple("a\u{fffd}b".into()));
}

#[test]
fn nested_arrays() {
    assert_eq!(
        whole(b"*2\r\n*1\r\n*0\r\n*3\r\n:1\r\n*-1\r\n$-1\r\n"),
        Value::Array(vec![
            Value::Array(vec![Value::Array(vec![])]),
            Value::Array(vec![Value::Integer(1), Value::NilArray, Value::Nil]),
        ])
    );
    // The array closes before the next value: the trailing bytes are not taken.
    assert_eq!(
        one(b"*1\r\n*1\r\n:5\r\n+next\r\n").unwrap(),
        Some((
            Value::Array(vec![Value::Array(vec![Value::Integer(5)])]),
            12
        ))
    );
}

#[test]
fn parse_consumes_only_one_value_and_reports_its_length() {
    let (v, used) = one(b":1\r\n:2\r\n").unwrap().unwrap();
    assert_eq!((v, used), (Value::Integer(1), 4));
}

#[test]
fn every_proper_prefix_of_a_valid_stream_needs_more_and_never_fails() {
    let mut at = 0;
    for expected in mixed_values() {
        let rest = &MIXED[at..];
        let (v, used) = one(rest).unwrap().unwrap();
        assert_eq!(v, expected);
        for cut in 0..used {
            assert_eq!(
                one(&rest[..cut]),
                Ok(None),
                "prefix {:?}",
                rest[..cut].escape_ascii()
            );
        }
        at += used;
    }
    assert_eq!(at, MIXED.len());
}

#[test]
fn many_values_in_one_push() {
    let mut r = RespReader::new(Limits::default());
    r.push(MIXED);
    let mut seen = Vec::new();
    drain(&mut r, &mut seen);
    let expected: Vec<_> = mixed_values().into_iter().map(Ok).collect();
    assert_eq!(seen, expected);
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.next_value(), Ok(None));
}

#[test]
fn one_byte_at_a_time_gives_the_same_values_as_one_push() {
    let expected: Vec<_> = mixed_values().into_iter().map(Ok).collect();
    assert_eq!(
        read_in_pieces(MIXED, std::iter::repeat(1), Limits::default()),
        expected
    );
}

#[test]
fn a_split_at_every_position_gives_the_same_values() {
    let expected: Vec<_> = mixed_values().into_iter().map(Ok).collect();
    for cut in 1..MIXED.len() {
        let sizes = [cut, MIXED.len()].into_iter();
        assert_eq!(
            read_in_pieces(MIXED, sizes, Limits::default()),
            expected,
            "cut at {cut}"
        );
    }
}

#[test]
fn errors_arrive_at_the_same_point_however_the_stream_is_split() {
    let limits = Limits {
        max_bulk: 8,
        max_elements: 3,
        max_depth: 2,
        max_line: 10,
    };
    let streams: &[&[u8]] = &[
        b"+OK\r\n*2\r\n:1\r\n!oops\r\n",
        b"*2\r\n$5\r\nabc\r\n!\r\n",
        b":1\r\n$9\r\n",
        b"*1\r\n*1\r\n*1\r\n:1\r\n",
        b"*4\r\n",
        b"+0123456789ab",
        b":12x\r\n",
        b"$-2\r\n",
    ];
    for stream in streams {
        let at_once = read_in_pieces(stream, std::iter::once(stream.len()), limits);
        assert!(matches!(at_once.last(), Some(Err(_))), "{at_once:?}");
        let bytewise = read_in_pieces(stream, std::iter::repeat(1), limits);
        assert_eq!(bytewise, at_once, "{:?}", stream.escape_ascii());
    }
}

#[test]
fn each_error() {
    use RespError::*;
    let cases: &[(&[u8], RespError)] = &[
        (b"x", UnknownType(b'x')),
        (b"\0", UnknownType(0)),
        (b"\r\n", UnknownType(b'\r')),
        (b"*1\r\n~", UnknownType(b'~')),
        (b"$-2\r\n", BadLength),
        (b"*-5\r\n", BadLength),
        (b":\r\n", BadInteger),
        (b":-\r\n", BadInteger),
        (b":+1\r\n", BadInteger),
        (b": 1\r\n", BadInteger),
        (b":1 \r\n", BadInteger),
        (b":1.5\r\n", BadInteger),
        (b"$\r\n", BadInteger),
        (b"$abc\r\n", BadInteger),
        (b"*x\r\n", BadInteger),
        (b"$3\r\nabcXY", MissingCrlf),
        (b"$3\r\nabc\n\r", MissingCrlf),
        (b"$3\r\nabcd\r\n", MissingCrlf),
        (b"$67108865\r\n", TooLarge),
        (b"*1000001\r\n", TooManyElements),
        (
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*",
            TooDeep,
        ),
    ];
    for (input, err) in cases {
        assert_eq!(one(input), Err(*err), "{:?}", input.escape_ascii());
    }
}

#[test]
fn errors_display_as_one_short_lower_case_line_each() {
    use RespError::*;
    let all = [
        UnknownType(b'!'),
        BadLength,
        BadInteger,
        MissingCrlf,
        TooLarge,
        TooDeep,
        TooManyElements,
        LineTooLong,
    ];
    let texts: Vec<String> = all.iter().map(|e| e.to_string()).collect();
    for t in &texts {
        assert!(!t.is_empty() && t.len() < 60 && !t.contains('\n'), "{t}");
        assert_eq!(t, &t.to_lowercase());
    }
    assert_eq!(texts[0], "unknown resp type byte 0x21");
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len());
}

#[test]
fn too_large_is_known_from_the_header_alone() {
    let limits = Limits {
        max_bulk: 1000,
        ..Limits::default()
    };
    // No body byte has arrived: the header is enough to refuse.
    assert_eq!(parse(b"$1001\r\n", &limits), Err(RespError::TooLarge));
    assert_eq!(parse(b"*1\r\n$1001\r\n", &limits), Err(RespError::TooLarge));
    assert_eq!(parse(b"$1000\r\n", &limits), Ok(None));
    // A length beyond any usize is refused the same way, not wrapped.
    assert_eq!(
        parse(b"$9223372036854775807\r\n", &limits),
        Err(RespError::TooLarge)
    );
    let mut r = RespReader::new(limits);
    r.push(b"$1001\r\n");
    assert_eq!(r.next_value(), Err(RespError::TooLarge));
}

#[test]
fn a_bulk_exactly_at_the_limit_is_read() {
    let limits = Limits {
        max_bulk: 3,
        ..Limits::default()
    };
    assert_eq!(
        parse(b"$3\r\nabc\r\n", &limits),
        Ok(Some((bulk(b"abc"), 9)))
    );
}

#[test]
fn depth_is_limited() {
    let nested = |n: usize| {
        let mut v = b"*1\r\n".repeat(n);
        v.extend_from_slice(b":1\r\n");
        v
    };
    let limits = Limits::default();
    assert!(matches!(parse(&nested(8), &limits), Ok(Some(_))));
    assert_eq!(parse(&nested(9), &limits), Err(RespError::TooDeep));
    let flat_only = Limits {
        max_depth: 1,
        ..limits
    };
    assert!(matches!(parse(b"*1\r\n:1\r\n", &flat_only), Ok(Some(_))));
    assert_eq!(parse(b"*1\r\n*0\r\n", &flat_only), Err(RespError::TooDeep));
    let none = Limits {
        max_depth: 0,
        ..limits
    };
    assert_eq!(parse(b"*0\r\n", &none), Err(RespError::TooDeep));
    assert_eq!(parse(b":1\r\n", &none), Ok(Some((Value::Integer(1), 4))));
}

#[test]
fn deep_nesting_with_a_huge_limit_costs_no_stack() {
    // The parser is iterative: 100,000 levels is heap, not recursion.
    let limits = Limits {
        max_depth: usize::MAX,
        ..Limits::default()
    };
    let stream = b"*1\r\n".repeat(100_000);
    assert_eq!(parse(&stream, &limits), Ok(None));
}

#[test]
fn element_count_is_limited() {
    let limits = Limits {
        max_elements: 2,
        ..Limits::default()
    };
    assert!(matches!(parse(b"*2\r\n:1\r\n:2\r\n", &limits), Ok(Some(_))));
    assert_eq!(parse(b"*3\r\n", &limits), Err(RespError::TooManyElements));
    assert_eq!(
        parse(b"*1\r\n*3\r\n", &limits),
        Err(RespError::TooManyElements)
    );
    // A huge count within the limit reserves nothing up front: it just waits.
    assert_eq!(one(b"*1000000\r\n"), Ok(None));
}

#[test]
fn an_endless_line_is_refused_once_the_limit_is_buffered() {
    let limits = Limits {
        max_line: 8,
        ..Limits::default()
    };
    assert_eq!(
        parse(b"+12345678\r\n", &limits),
        Ok(Some((Value::Simple("12345678".into()), 11)))
    );
    assert_eq!(
        parse(b"+123456789\r\n", &limits),
        Err(RespError::LineTooLong)
    );
    assert_eq!(parse(b"+12345678\r", &limits), Ok(None));
    assert_eq!(parse(b"+123456789", &limits), Ok(None));
    assert_eq!(parse(b"+1234567890", &limits), Err(RespError::LineTooLong));
    assert_eq!(parse(b"$1234567890", &limits), Err(RespError::LineTooLong));
    assert_eq!(
        parse(b"*1\r\n:1234567890", &limits),
        Err(RespError::LineTooLong)
    );

    let mut long = b"+".to_vec();
    long.resize(1 + (64 << 10) + 1, b'a');
    assert_eq!(one(&long), Ok(None));
    long.push(b'a');
    assert_eq!(one(&long), Err(RespError::LineTooLong));

    let mut r = RespReader::new(limits);
    for _ in 0..10 {
        r.push(b"-");
        assert_eq!(r.next_value(), Ok(None));
    }
    r.push(b"-");
    assert_eq!(r.next_value(), Err(RespError::LineTooLong));
}

#[test]
fn integer_extremes_and_overflow() {
    assert_eq!(whole(b":9223372036854775807\r\n"), Value::Integer(i64::MAX));
    assert_eq!(
        whole(b":-9223372036854775808\r\n"),
        Value::Integer(i64::MIN)
    );
    assert_eq!(one(b":9223372036854775808\r\n"), Err(RespError::BadInteger));
    assert_eq!(
        one(b":-9223372036854775809\r\n"),
        Err(RespError::BadInteger)
    );
    assert_eq!(
        one(b":99999999999999999999999\r\n"),
        Err(RespError::BadInteger)
    );
    assert_eq!(
        one(b"$99999999999999999999999\r\n"),
        Err(RespError::BadInteger)
    );
    assert_eq!(one(b"$-9223372036854775808\r\n"), Err(RespError::BadLength));
}

#[test]
fn accessors() {
    assert_eq!(bulk(b"ab").as_bytes(), Some(&b"ab"[..]));
    assert_eq!(Value::Simple("OK".into()).as_bytes(), Some(&b"OK"[..]));
    assert_eq!(Value::Integer(1).as_bytes(), None);
    assert_eq!(Value::Nil.as_bytes(), None);
    assert_eq!(Value::Error("ERR".into()).as_bytes(), None);

    assert_eq!(Value::Integer(-3).as_int(), Some(-3));
    assert_eq!(bulk(b"42").as_int(), Some(42));
    assert_eq!(bulk(b"-42").as_int(), Some(-42));
    assert_eq!(Value::Simple("7".into()).as_int(), Some(7));
    assert_eq!(bulk(b"4x").as_int(), None);
    assert_eq!(bulk(b"").as_int(), None);
    assert_eq!(bulk(b"99999999999999999999").as_int(), None);
    assert_eq!(Value::Nil.as_int(), None);

    let arr = Value::Array(vec![Value::Integer(1)]);
    assert_eq!(arr.as_array(), Some(&[Value::Integer(1)][..]));
    assert_eq!(Value::NilArray.as_array(), None);
    assert_eq!(bulk(b"").as_array(), None);
}

#[test]
fn a_large_bulk_in_small_reads_is_parsed_only_when_complete() {
    const SIZE: usize = 1 << 20;
    let mut r = RespReader::new(Limits::default());
    r.push(format!("*3\r\n$7\r\nmessage\r\n$1\r\nr\r\n${SIZE}\r\n").as_bytes());
    assert_eq!(r.next_value(), Ok(None));
    let after_header = r.parses;
    for _ in 0..SIZE {
        r.push(b"x");
        assert_eq!(r.next_value(), Ok(None));
    }
    r.push(b"\r");
    assert_eq!(r.next_value(), Ok(None));
    // Body and CR are in, the LF is missing: still not one more parse.
    assert_eq!(r.parses, after_header);
    r.push(b"\n");
    let v = r.next_value().unwrap().unwrap();
    assert_eq!(r.parses, after_header + 1);
    assert_eq!(v.as_array().unwrap()[2].as_bytes().unwrap().len(), SIZE);
    assert!(r.parses <= 3, "{} parses", r.parses);
    assert_eq!(r.buffered(), 0);
}

#[test]
fn small_values_are_not_shifted_down_one_by_one() {
    let mut r = RespReader::new(Limits::default());
    let stream = b":1\r\n".repeat(1000);
    r.push(&stream);
    for _ in 0..400 {
        assert_eq!(r.next_value(), Ok(Some(Value::Integer(1))));
    }
    // Consumed bytes are skipped, not moved: the buffer is untouched.
    assert_eq!(r.held().0, stream.len());
    assert_eq!(r.buffered(), 600 * 4);
    // Past half consumed, the next push compacts once.
    for _ in 0..200 {
        r.next_value().unwrap();
    }
    r.push(b":2\r\n");
    assert_eq!(r.held(), (401 * 4, 0));
    let mut seen = Vec::new();
    drain(&mut r, &mut seen);
    assert_eq!(seen.len(), 401);
    assert_eq!(seen.last(), Some(&Ok(Value::Integer(2))));
}

#[test]
fn an_error_is_final_until_clear() {
    let mut r = RespReader::new(Limits::default());
    r.push(b"+OK\r\n?+OK\r\n");
    assert_eq!(r.next_value(), Ok(Some(Value::Simple("OK".into()))));
    assert_eq!(r.next_value(), Err(RespError::UnknownType(b'?')));
    r.push(b":1\r\n");
    assert_eq!(r.next_value(), Err(RespError::UnknownType(b'?')));
    assert_eq!(r.buffered(), 0);
    r.clear();
    r.push(b":1\r\n");
    assert_eq!(r.next_value(), Ok(Some(Value::Integer(1))));
}

#[test]
fn clear_forgets_a_half_read_value() {
    let mut r = RespReader::new(Limits::default());
    r.push(b"$10\r\nabc");
    assert_eq!(r.next_value(), Ok(None));
    r.clear();
    assert_eq!(r.buffered(), 0);
    r.push(b"+PONG\r\n");
    assert_eq!(r.next_value(), Ok(Some(Value::Simple("PONG".into()))));
}

#[test]
fn encode_command_writes_the_documented_bytes() {
    let mut out = b"left alone".to_vec();
    encode_command(&mut out, &[b"PUBLISH", b"room1", b"hello"]);
    assert_eq!(
        out,
        b"left alone*3\r\n$7\r\nPUBLISH\r\n$5\r\nroom1\r\n$5\r\nhello\r\n"
    );
    let mut out = Vec::new();
    encode_command(&mut out, &[]);
    assert_eq!(out, b"*0\r\n");
}

#[test]
fn encode_command_round_trips_through_parse() {
    let long = vec![b'z'; 12_345];
    let args: &[&[u8]] = &[b"SUBSCRIBE", b"", b"a\r\nb", b"\0\xff", &long, b"$-1\r\n"];
    let mut out = Vec::new();
    encode_command(&mut out, args);
    let expected = Value::Array(args.iter().map(|a| bulk(a)).collect());
    assert_eq!(one(&out), Ok(Some((expected, out.len()))));
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 ]{0,12}".prop_map(Value::Simple),
        "[a-zA-Z0-9 ]{0,12}".prop_map(Value::Error),
        any::<i64>().prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bulk),
        Just(Value::Nil),
        Just(Value::NilArray),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        proptest::collection::vec(inner, 0..6).prop_map(Value::Array)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_values_in_any_pieces_decode_to_themselves(
        values in proptest::collection::vec(any_value(), 1..6),
        sizes in proptest::collection::vec(1usize..20, 1..200),
    ) {
        let mut stream = Vec::new();
        values.iter().for_each(|v| encode(v, &mut stream));
        let expected: Vec<_> = values.into_iter().map(Ok).collect();
        let sizes = sizes.into_iter().chain(std::iter::repeat(usize::MAX));
        prop_assert_eq!(read_in_pieces(&stream, sizes, Limits::default()), expected);
    }

    #[test]
    fn any_bytes_never_panic_and_agree_in_pieces(
        stream in proptest::collection::vec(prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b'*'), Just(b'$'), Just(b':'), Just(b'-'),
            Just(b'+'), Just(b'1'), Just(b'0'), Just(b'2'), any::<u8>()
        ], 0..64),
        step in 1usize..5,
    ) {
        let limits = Limits { max_bulk: 16, max_elements: 4, max_depth: 3, max_line: 8 };
        let at_once = read_in_pieces(&stream, std::iter::once(usize::MAX), limits);
        let pieces = read_in_pieces(&stream, std::iter::repeat(step), limits);
        prop_assert_eq!(pieces, at_once);
    }
}
