//! The real binaries: startup validation, serving, SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{TestDb, binary, redis_url};

fn run_to_exit(name: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(binary(name));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unparsable_port_stops_each_service_naming_the_variable() {
    for (service, var) in [
        ("api", "API_PORT"),
        ("booking", "BOOKING_PORT"),
        ("indexer", "INDEXER_PORT"),
    ] {
        let (code, stderr) =
            run_to_exit(service, &[(var, "eighty"), ("JWT_SECRET", &"s".repeat(32))]);

        assert_eq!(code, 2, "{service}: {stderr}");
        assert!(
            stderr.contains(var) && stderr.contains("eighty"),
            "{service}: {stderr}"
        );
    }
}

#[test]
fn without_a_jwt_secret_each_service_stops_at_startup_naming_it_in_any_environment() {
    for service in ["api", "booking", "indexer"] {
        for app_env in ["development", "production"] {
            let (code, stderr) = run_to_exit(
                service,
                &[
                    ("APP_ENV", app_env),
                    ("DATABASE_URL", "postgres://u@127.0.0.1:1/db"),
                ],
            );
            assert_eq!(code, 2, "{service} {app_env}: {stderr}");
            assert!(
                stderr.contains("JWT_SECRET"),
                "{service} {app_env}: {stderr}"
            );
        }
    }
}

#[test]
fn production_mode_refuses_a_short_secret_and_a_non_postgres_url() {
    let (code, stderr) = run_to_exit(
        "api",
        &[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://u@127.0.0.1:1/db"),
            ("JWT_SECRET", "short"),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("JWT_SECRET") && stderr.contains("32"),
        "{stderr}"
    );

    let (code, stderr) = run_to_exit("indexer", &[("DATABASE_URL", "mysql://nope")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    response
}

#[tokio::test]
async fn a_service_binary_serves_health_and_exits_cleanly_on_sigterm() {
    let db = TestDb::migrated().await;
    let mut child = Command::new(binary("api"))
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", redis_url())
        .env("API_PORT", "0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("api starts");
    let stdout = child.stdout.take().expect("stdout");
    let port = tokio::task::spawn_blocking(move || {
        // The "listening" log line carries the port the OS picked.
        let deadline = Instant::now() + Duration::from_secs(30);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("log line");
            let log: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if log["message"] == "listening" {
                return log["port"].as_u64().and_then(|p| u16::try_from(p).ok());
            }
            if Instant::now() > deadline {
                break;
            }
        }
        None
    })
    .await
    .expect("reader")
    .expect("api logs the port it listens on, as JSON");

    let health = tokio::task::spawn_blocking(move || http_get(port, "/readyz"))
        .await
        .expect("get");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");

    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(killed.success());
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}
