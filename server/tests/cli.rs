//! The `ferry-server` binary as scripts use it: one JSON line on stdout once
//! listening, configuration from flags and environment, a clean exit on
//! SIGTERM and SIGINT.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(dir: &std::path::Path, extra_env: &[(&str, &str)]) -> (Child, serde_json::Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry-server"));
    command
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--s3-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announced: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    (child, announced)
}

fn stop(mut child: Child, signal: &str) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop on {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn announces_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::File::create(www.join("index.html"))
        .unwrap()
        .write_all(b"<h1>demo</h1>")
        .unwrap();
    let (child, announced) = spawn(
        &dir.path().join("data"),
        &[
            ("FERRY_TOKENS", "tok-one,tok-two"),
            ("FERRY_STATIC_DIR", www.to_str().unwrap()),
        ],
    );
    let api = announced["api"].as_str().unwrap();
    assert!(api.starts_with("http://127.0.0.1:"));
    assert!(
        announced["s3"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(announced["token"], "tok-one");

    let client = reqwest::blocking::Client::new();
    let page = client.get(format!("{api}/index.html")).send().unwrap();
    assert_eq!(page.text().unwrap(), "<h1>demo</h1>");
    for token in ["tok-one", "tok-two"] {
        let ok = client
            .get(format!("{api}/collections"))
            .header("X-Auth-Token", token)
            .send()
            .unwrap();
        assert_eq!(ok.status(), reqwest::StatusCode::OK, "{token}");
    }
    stop(child, "-TERM");
}

#[test]
fn the_dev_token_is_stable_across_runs_and_sigint_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (child, first) = spawn(dir.path(), &[]);
    let token = first["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 24);
    stop(child, "-INT");
    let (child, second) = spawn(dir.path(), &[]);
    assert_eq!(second["token"], token.as_str());
    stop(child, "-TERM");
}

#[test]
fn bad_configuration_fails_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry-server"))
        .args(["--faults", "{not json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid fault rules"));
}

#[test]
fn ferry_s3_cors_in_the_environment_sets_the_stores_cors() {
    let dir = tempfile::tempdir().unwrap();
    let (child, announced) = spawn(dir.path(), &[("FERRY_S3_CORS", "none")]);
    let api = announced["api"].as_str().unwrap();
    let client = reqwest::blocking::Client::new();
    let urls: serde_json::Value = client
        .get(format!("{api}/files/upload-urls?count=1"))
        .header("X-Auth-Token", announced["token"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            urls["urls"][0]["url"].as_str().unwrap(),
        )
        .header("Origin", "http://app.example.test")
        .header("Access-Control-Request-Method", "PUT")
        .send()
        .unwrap();
    assert_eq!(preflight.status(), reqwest::StatusCode::FORBIDDEN);
    assert!(
        !preflight
            .headers()
            .contains_key("access-control-allow-origin")
    );
    stop(child, "-TERM");
}
