//! Each service, in-process on port 0: health, readiness, metrics, problem+json.

use e2e::{Service, TestDb, spawn_app, spawn_app_with};

const ALL: [Service; 3] = [Service::Api, Service::Booking, Service::Indexer];

#[tokio::test]
async fn every_service_is_healthy_and_ready_with_its_dependencies_up() {
    for service in ALL {
        let app = spawn_app(service).await;

        let health = app.get("/healthz").await;
        assert_eq!(health.status(), 200, "{service:?} /healthz");
        // The indexer is ready once its slot exists and it streams (after
        // the bootstrap); the others at once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut ready = app.get("/readyz").await;
        while ready.status() != 200 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            ready = app.get("/readyz").await;
        }
        let status = ready.status();
        let body: serde_json::Value = ready.json().await.expect("json");
        assert_eq!(status, 200, "{service:?} /readyz: {body}");
        assert_eq!(body["checks"]["postgres"], "ok", "{service:?}: {body}");
        assert_eq!(body["checks"]["redis"], "ok", "{service:?}: {body}");
        if service == Service::Indexer {
            assert_eq!(body["checks"]["replication"], "ok", "{body}");
        }
    }
}

#[tokio::test]
async fn the_indexer_checks_that_postgres_runs_with_logical_wal() {
    let app = spawn_app(Service::Indexer).await;

    let body: serde_json::Value = app.get("/readyz").await.json().await.expect("json");

    assert_eq!(body["checks"]["wal_level"], "ok", "{body}");
}

#[tokio::test]
async fn readiness_fails_with_problem_json_when_the_schema_is_not_migrated() {
    let app = spawn_app_with(Service::Booking, TestDb::empty().await, &[]).await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], "not_ready");
    assert!(
        body["checks"]["postgres"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("migrate"),
        "{body}"
    );
    assert_eq!(body["checks"]["redis"], "ok");
}

#[tokio::test]
async fn readiness_reports_redis_down_while_health_stays_up() {
    // Port 1 on loopback: nothing listens there.
    let app = spawn_app_with(
        Service::Api,
        TestDb::migrated().await,
        &[("REDIS_URL", "redis://127.0.0.1:1/")],
    )
    .await;

    let health = app.get("/healthz").await.status();
    let ready = app.get("/readyz").await;

    assert_eq!(health, 200);
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["postgres"], "ok");
    assert!(body["checks"]["redis"]["error"].is_string(), "{body}");
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_requests_by_route() {
    let app = spawn_app(Service::Api).await;
    app.get("/healthz").await;

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("text");
    assert!(
        text.lines()
            .any(|l| l.starts_with("api_http_requests_total{")
                && l.contains("route=\"/healthz\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("# EOF"), "OpenMetrics text ends with # EOF");
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_json_404_with_a_request_id() {
    let app = spawn_app(Service::Booking).await;

    let response = app.get("/v1/nothing-here").await;

    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], 404);
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["type"], "/problems/not-found");
}
