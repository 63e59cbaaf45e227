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

/// Runs `name args` with exactly `env` (and `PATH`), `stdin` on its standard
/// input; `(exit code, stdout, stderr)`. A process still running after
/// `within` was not refused: it is killed and the test fails.
fn run_with_deadline(
    name: &str,
    args: &[&str],
    env: &[(&str, String)],
    stdin: &str,
    within: Duration,
) -> (i32, String, String) {
    let mut cmd = Command::new(binary(name));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("binary runs");
    let pid = child.id();
    if let Some(mut input) = child.stdin.take() {
        // A process that exits without reading its input is fine.
        let _ = input.write_all(stdin.as_bytes());
    }
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(output) = finished.recv_timeout(within) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("{name} {args:?} still ran after {within:?}");
    };
    let output = output.expect("waits");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Everything a service needs to start with `APP_ENV=production` on `db`,
/// nothing demo-like: no benchmark profile, a random secret, an https
/// origin and a real mail relay.
fn production_env(db: &TestDb, index_dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("APP_ENV", "production".into()),
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", redis_url()),
        ("JWT_SECRET", e2e::test_jwt_secret().into()),
        ("API_PORT", "0".into()),
        ("BOOKING_PORT", "0".into()),
        ("INDEXER_PORT", "0".into()),
        ("INDEXER_SLOT", db.name.clone()),
        ("CACHE_NAMESPACE", db.name.clone()),
        (
            "SEARCH_INDEX_DIR",
            index_dir.join("index").to_string_lossy().into_owned(),
        ),
        ("PUBLIC_URL", "https://tickets.example.com".into()),
        ("SMTP_URL", "smtp://mail.example.com:587".into()),
        ("LOG_FORMAT", "json".into()),
    ]
}

/// Whether `service` started with `env` gets as far as listening (its JSON
/// "listening" log line), and its stderr; it is then stopped with SIGTERM.
fn listens(service: &str, env: &[(&str, String)]) -> (bool, String) {
    let mut cmd = Command::new(binary(service));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("service starts");
    let stdout = child.stdout.take().expect("stdout");
    let (found, listened) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listening = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| {
                serde_json::from_str::<serde_json::Value>(&line)
                    .is_ok_and(|log| log["message"] == "listening")
            });
        let _ = found.send(listening);
    });
    let listening = listened
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or(false);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stderr = child
        .wait_with_output()
        .map(|output| String::from_utf8_lossy(&output.stderr).into_owned())
        .unwrap_or_default();
    (listening, stderr)
}

#[tokio::test]
async fn production_mode_refuses_to_start_on_a_database_with_demo_accounts() {
    let db = TestDb::migrated().await;
    let dir = tempfile::tempdir().expect("dir");
    let env = production_env(&db, dir.path());
    let (listening, stderr) = listens("api", &env);
    assert!(
        listening,
        "a clean database and production settings start: {stderr}"
    );

    sqlx::query(
        "insert into users (email, display_name) values ('user07@demo.ticketing.test', 'Demo')",
    )
    .execute(&db.pool)
    .await
    .expect("a demo account");
    for service in ["api", "booking", "indexer"] {
        let (code, _, stderr) = run_with_deadline(service, &[], &env, "", Duration::from_secs(60));
        assert_ne!(code, 0, "{service}: {stderr}");
        assert!(
            stderr.contains("APP_ENV=production")
                && stderr.contains("demo accounts")
                && stderr.contains("user07@demo.ticketing.test"),
            "{service}: {stderr}"
        );
    }
}

#[test]
fn production_mode_refuses_the_benchmark_rate_limit_profile() {
    let secret = e2e::test_jwt_secret();
    for service in ["api", "booking", "indexer"] {
        let (code, stderr) = run_to_exit(
            service,
            &[
                ("APP_ENV", "production"),
                ("DATABASE_URL", "postgres://u@127.0.0.1:1/db"),
                ("JWT_SECRET", secret),
                ("RATE_LIMIT_PROFILE", "benchmark"),
            ],
        );
        assert_eq!(code, 2, "{service}: {stderr}");
        assert!(
            stderr.contains("RATE_LIMIT_PROFILE") && stderr.contains("APP_ENV=production"),
            "{service}: {stderr}"
        );
    }
}

#[test]
fn production_mode_refuses_a_patterned_secret_a_plain_http_origin_and_a_local_mail_catcher() {
    let secret = e2e::test_jwt_secret();
    let base = [
        ("APP_ENV", "production"),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/db"),
    ];
    let patterned = "0123456789abcdef".repeat(3);
    for (extra, var) in [
        (vec![("JWT_SECRET", patterned.as_str())], "JWT_SECRET"),
        (
            vec![
                ("JWT_SECRET", secret),
                ("SMTP_URL", "smtp://mail.example.com:25"),
            ],
            "PUBLIC_URL",
        ),
        (
            vec![
                ("JWT_SECRET", secret),
                ("PUBLIC_URL", "http://tickets.example.com"),
                ("SMTP_URL", "smtp://mail.example.com:25"),
            ],
            "PUBLIC_URL",
        ),
        (
            vec![
                ("JWT_SECRET", secret),
                ("PUBLIC_URL", "https://tickets.example.com"),
            ],
            "SMTP_URL",
        ),
        (
            vec![
                ("JWT_SECRET", secret),
                ("PUBLIC_URL", "https://tickets.example.com"),
                ("SMTP_URL", "smtp://127.0.0.1:1025"),
            ],
            "SMTP_URL",
        ),
    ] {
        let env: Vec<(&str, &str)> = base.iter().copied().chain(extra).collect();
        let (code, stderr) = run_to_exit("api", &env);
        assert_eq!(code, 2, "{var}: {stderr}");
        assert!(
            stderr.contains(var) && stderr.contains("production"),
            "{var}: {stderr}"
        );
    }
}

#[test]
fn ticketctl_refuses_its_demo_commands_in_production() {
    let env = [
        ("APP_ENV", "production".to_owned()),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/db".to_owned()),
        ("JWT_SECRET", e2e::test_jwt_secret().to_owned()),
    ];
    for args in [
        &["token", "--demo"][..],
        &["token", "--email", "ops@example.com"],
        &["seed", "--events", "10"],
        &[
            "create-admin",
            "--email",
            "admin@demo.ticketing.test",
            "--password-stdin",
        ],
    ] {
        let (code, _, stderr) = run_with_deadline(
            "ticketctl",
            args,
            &env,
            "plum-sofa-harbour-1987\n",
            Duration::from_secs(30),
        );
        assert_ne!(code, 0, "{args:?}: {stderr}");
        assert!(stderr.contains("APP_ENV=production"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn ticketctl_create_admin_makes_a_verified_admin_and_is_idempotent() {
    let db = TestDb::migrated().await;
    let env = [
        ("DATABASE_URL", db.url.clone()),
        ("JWT_SECRET", e2e::test_jwt_secret().to_owned()),
    ];
    let ticketctl = |args: &[&str], stdin: &str| {
        run_with_deadline("ticketctl", args, &env, stdin, Duration::from_secs(60))
    };
    let account = |email: &'static str| {
        sqlx::query_as::<_, (String, Option<String>, bool)>(
            "select role, password_hash, email_verified_at is not null from users where email = $1",
        )
        .bind(email)
        .fetch_one(&db.pool)
    };
    let password = "plum-sofa-harbour-1987";

    // A new admin, the address lowercased, the password from stdin.
    let new = [
        "create-admin",
        "--email",
        " Ops@Example.COM ",
        "--password-stdin",
    ];
    let (code, stdout, stderr) = ticketctl(&new, &format!("{password}\n"));
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("created admin ops@example.com"), "{stdout}");
    let (role, phc, verified) = account("ops@example.com").await.expect("created");
    let phc = phc.expect("a password hash");
    assert_eq!((role.as_str(), verified), ("admin", true));
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(auth::password::verify_blocking(password, &phc).expect("verifies"));

    // The same again changes nothing.
    let (code, stdout, stderr) = ticketctl(&new, &format!("{password}\n"));
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(
        stdout.contains("already an admin, password unchanged"),
        "{stdout}"
    );
    let (_, again, _) = account("ops@example.com").await.expect("still there");
    assert_eq!(again.as_deref(), Some(phc.as_str()));

    // A password the policy refuses changes nothing either.
    let (code, _, stderr) = ticketctl(&new, "password1234\n");
    assert_ne!(code, 0);
    assert!(stderr.contains("strength"), "{stderr}");
    let (_, still, _) = account("ops@example.com").await.expect("still there");
    assert_eq!(still.as_deref(), Some(phc.as_str()));

    // An unverified shopper is promoted; with no password given one is
    // generated, printed once, and ends the shopper's sessions.
    let shopper: uuid::Uuid = sqlx::query_scalar(
        "insert into users (email, display_name) values ('shop@example.com', 'Shop') returning user_id",
    )
    .fetch_one(&db.pool)
    .await
    .expect("shopper");
    sqlx::query("insert into sessions (user_id, expires_at) values ($1, now() + interval '1 day')")
        .bind(shopper)
        .execute(&db.pool)
        .await
        .expect("a session");
    let (code, stdout, stderr) = ticketctl(&["create-admin", "--email", "shop@example.com"], "");
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(
        stdout.contains("promoted from user") && stdout.contains("1 sessions signed out"),
        "{stdout}"
    );
    let generated = stdout
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("the generated password is printed");
    assert!(generated.len() >= 24, "{generated}");
    assert!(auth::password::check_policy(generated, &[]).is_ok());
    let (role, phc, verified) = account("shop@example.com").await.expect("promoted");
    assert_eq!((role.as_str(), verified), ("admin", true));
    assert!(auth::password::verify_blocking(generated, &phc.expect("hash")).expect("verifies"));
    let live: i64 = sqlx::query_scalar(
        "select count(*) from sessions where user_id = $1 and revoked_at is null",
    )
    .bind(shopper)
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(live, 0);

    // From a file: its first line.
    let file = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(file.path(), "velvet-ladder-orbit-42\nnot this line\n").expect("writes");
    let path = file.path().to_string_lossy().into_owned();
    let (code, stdout, stderr) = ticketctl(
        &[
            "create-admin",
            "--email",
            "shop@example.com",
            "--password-file",
            &path,
        ],
        "",
    );
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(!stdout.contains("password: "), "{stdout}");
    let (_, phc, _) = account("shop@example.com").await.expect("there");
    assert!(
        auth::password::verify_blocking("velvet-ladder-orbit-42", &phc.expect("hash"))
            .expect("verifies")
    );
}
