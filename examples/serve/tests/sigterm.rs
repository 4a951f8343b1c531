//! The `serve` binary end to end: it listens at once, turns ready once the model is loaded,
//! and on SIGTERM finishes the request in flight and exits 0.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
        .args([
            "--synthetic",
            "tiny",
            "--addr",
            "127.0.0.1:0",
            "--max-wait-ms",
            "500",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before listening"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Ready within a few seconds (the tiny model loads in milliseconds).
    let t0 = Instant::now();
    while !get(&addr, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(t0.elapsed() < Duration::from_secs(20), "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A request that waits 500 ms for companions; SIGTERM arrives while it waits.
    let body =
        r#"{"question": "Who wrote it?", "context": "The book was written by Ada Lovelace."}"#;
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /answer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"answers\""), "{response}");
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("shutting down") && rest.contains("serve: stopped"),
        "{rest}"
    );
    // The request log line of the answered request.
    let logged = rest
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|j| j["path"] == "/answer")
        .expect("a JSON request log line");
    assert_eq!(logged["status"], 200);
    assert_eq!(logged["batch_requests"], 1);
}
