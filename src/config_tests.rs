use super::*;

fn parse(args: &[&str]) -> Result<Config, String> {
    match parse_args(args.iter().map(|s| s.to_string()))? {
        Command::Run(c) => Ok(*c),
        Command::Help => Err("help".into()),
    }
}

#[test]
fn defaults_bind_loopback_8080() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.host.to_string(), "127.0.0.1");
    assert_eq!(c.port, 8080);
    assert_eq!(c.max_message, 16 << 20);
}

#[test]
fn flags_with_space_or_equals() {
    let c = parse(&[
        "--port",
        "0",
        "--max-message=1024",
        "--push-interval",
        "100-200",
    ])
    .unwrap();
    assert_eq!(c.port, 0);
    assert_eq!(c.max_message, 1024);
    assert_eq!(c.push_interval.1, Duration::from_millis(200));
    let c = parse(&["--close-timeout", "500ms", "--idle-timeout=2.5"]).unwrap();
    assert_eq!(c.close_timeout, Duration::from_millis(500));
    assert_eq!(c.idle_timeout, Duration::from_millis(2500));
    let c = parse(&[
        "--upload-files=3",
        "--upload-bytes",
        "1_000",
        "--uploads-max=5000",
        "--upload-queue=4096",
        "--output-buffer=65536",
    ])
    .unwrap();
    let l = c.upload_limits;
    assert_eq!(
        (
            l.files_per_connection,
            l.bytes_per_connection,
            l.total_bytes,
            l.queue_bytes
        ),
        (3, 1000, 5000, 4096)
    );
    assert_eq!(c.output_buffer, 65536);
}

#[test]
fn sizes_take_binary_units() {
    let c = parse(&[
        "--max-memory",
        "256MiB",
        "--max-message=64KiB",
        "--max-backlog",
        "1G",
    ])
    .unwrap();
    assert_eq!(c.max_memory, 256 << 20);
    assert_eq!(c.max_message, 64 << 10);
    assert_eq!(c.max_backlog, 1 << 30);
    assert!(parse(&["--max-memory", "12XB"]).is_err());
    assert!(parse(&["--max-memory", "99999999999GiB"]).is_err());
}

#[test]
fn bad_flags_are_one_line_errors() {
    for args in [
        &["--port", "70000"][..],
        &["--port"],
        &["--nope"],
        &["--host", "example.com"],
        &["--push-interval", "9-3"],
        &["--idle-timeout", "-1"],
        &["--max-message", "0"],
        &["--output-buffer", "10"],
        &["--upload-queue", "1"],
        &["--upload-files", "-1"],
    ] {
        let err = parse(args).unwrap_err();
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn deflate_flags() {
    use crate::deflate::negotiate::Mode;
    let c = parse(&[]).unwrap();
    assert_eq!(
        (c.deflate, c.deflate_min, c.deflate_window),
        (Mode::Shared, 1024, 12)
    );
    let c = parse(&[
        "--deflate=off",
        "--deflate-min",
        "4KiB",
        "--deflate-window=9",
    ])
    .unwrap();
    assert_eq!(
        (c.deflate, c.deflate_min, c.deflate_window),
        (Mode::Off, 4096, 9)
    );
    assert_eq!(
        parse(&["--deflate", "dedicated"]).unwrap().deflate,
        Mode::Dedicated
    );
    assert!(parse(&["--deflate", "fast"]).is_err());
    assert!(parse(&["--deflate-window", "8"]).is_err());
    assert!(parse(&["--deflate-window", "16"]).is_err());
    assert_eq!(parse(&[]).unwrap().deflate_level, 1);
    assert_eq!(parse(&["--deflate-level", "9"]).unwrap().deflate_level, 9);
    assert!(parse(&["--deflate-level", "0"]).is_err());
    assert!(parse(&["--deflate-level", "10"]).is_err());
}

#[test]
fn node_names_are_checked_and_the_default_is_valid() {
    let default = parse(&[]).unwrap().node;
    assert!(valid_node_name(&default), "{default}");
    let pid = format!("-{}-", std::process::id());
    assert!(default.contains(&pid), "{default}");
    assert_eq!(parse(&["--node", "eu-1.a_b"]).unwrap().node, "eu-1.a_b");
    let longest = "n".repeat(64);
    assert_eq!(parse(&["--node", &longest]).unwrap().node, longest);
    for bad in ["", "a b", "nö", "x/y", &"n".repeat(65)] {
        let err = parse(&["--node", bad]).unwrap_err();
        assert!(err.starts_with("--node: "), "{err}");
    }
    assert!(!parse(&[]).unwrap().reuse_port);
    assert!(parse(&["--reuse-port"]).unwrap().reuse_port);
}
