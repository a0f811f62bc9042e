//! Operations: health, readiness, metrics, OpenAPI, logs, config, init.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use web4_core::lct::EntityType;

#[tokio::test]
async fn health_ready_metrics_openapi_and_logs() {
    let node = TestNode::start().await;
    let h = node.get("/health").await;
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = node.get("/ready").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["checks"]["store"], true);

    let k = random_key();
    let m = node.mint(&k, EntityType::Device).await;
    assert_eq!(m.status, 201);
    let rid = m.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(m.body["metadata"]["request_id"], rid.as_str());

    let metrics = node.get("/metrics").await;
    let text = metrics.body.as_str().unwrap();
    for name in [
        "web4_lct_minted_total{entity_type=\"device\"} 1",
        "web4_lct_active_count{entity_type=\"device\"} 1",
        "web4_lct_active_count{entity_type=\"infrastructure\"} 1",
        "web4_signature_verification_duration_seconds_count",
        "web4_birth_certificate_ledger_write_duration_seconds_count 1",
        "web4_http_requests_total{route=\"/v1/lct/mint\",method=\"POST\",status=\"201\"} 1",
        "web4_ledger_commit_group_size_count",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }

    // The OpenAPI document lists every route, and every listed route is served.
    let doc = node.get("/openapi.json").await.body;
    assert_eq!(doc["openapi"], "3.1.0");
    for r in web4_daemon::http::openapi::ROUTES {
        assert!(doc["paths"][r.path][r.method].is_object(), "{} {} missing", r.method, r.path);
        let path = r
            .path
            .replace("{lct_id}", &id_of(&k).to_string())
            .replace("{version}", "current")
            .replace("{role}", "citizen")
            .replace("{entity}", &id_of(&k).to_string())
            .replace("{id}", "deleg:none");
        let resp = match r.method {
            "get" => node.get(&path).await,
            "delete" => {
                let r = node.http.delete(format!("{}{path}", node.base)).send().await.unwrap();
                let status = r.status().as_u16();
                Resp { status, body: r.json().await.unwrap(), headers: Default::default() }
            }
            _ => node.post(&node.admin, &path, &serde_json::json!({})).await,
        };
        assert!(
            !(resp.status == 404 && resp.body["error"]["message"].as_str().unwrap_or("").starts_with("no route"))
                && resp.status != 405,
            "{} {} is documented but not served: {}",
            r.method,
            r.path,
            resp.body
        );
    }

    // And the reverse: every route the router serves is documented.
    let router_src = include_str!("../../src/http/mod.rs");
    let mut served = 0;
    for line in router_src.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line.split('"').nth(1).unwrap();
        let method = ["get", "post", "delete"]
            .into_iter()
            .find(|m| line.contains(&format!("{m}(")))
            .unwrap_or_else(|| panic!("method of {line}"));
        served += 1;
        assert!(
            web4_daemon::http::openapi::ROUTES.iter().any(|r| r.path == path && r.method == method),
            "{method} {path} is served but not documented in openapi::ROUTES"
        );
    }
    assert!(served >= 25, "parsed only {served} routes from the router");

    // Structured JSON logs with the seed's fields.
    let log = std::fs::read_to_string(node.log_path()).unwrap();
    let minted = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "lct_minted")
        .unwrap_or_else(|| panic!("no lct_minted log line in\n{log}"));
    assert_eq!(minted["service"], "identity");
    assert_eq!(minted["request_id"], rid.as_str());
    assert_eq!(minted["lct_id"], id_of(&k).to_string());
    assert!(minted["duration_ms"].as_f64().is_some());
    assert_eq!(minted["ledger_ref"], m.body["metadata"]["ledger_ref"]);
    assert!(minted["timestamp"].is_string() && minted["level"] == "INFO");
}

#[test]
fn check_config_precedence_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web4d.toml");
    std::fs::write(&file, "port = 9100\nlog_level = \"debug\"\n").unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(WEB4D);
        c.args(args).env("WEB4_CONFIG", &file).env_remove("PORT").env_remove("DATA_DIR").env_remove("LOG_LEVEL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&["check-config"], &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success());
    assert!(text.contains("port = 9100") && text.contains("log_level = \"debug\""), "{text}");
    let out = run(&["check-config"], &[("PORT", "9200")]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("port = 9200"));
    let out = run(&["--port", "9300", "check-config"], &[("PORT", "9200")]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("port = 9300"));
    let out = run(&["check-config"], &[("HSM_TYPE", "yubikey")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HSM_TYPE"));
    std::fs::write(&file, "port = \"eighty\"\n").unwrap();
    let out = run(&["check-config"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("web4d.toml"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn init_creates_private_keys_and_refuses_to_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), "").unwrap();
    let data = dir.path().join("d");
    let init = || {
        Command::new(WEB4D)
            .arg("init")
            .env("DATA_DIR", &data)
            .env("WEB4_CONFIG", dir.path().join("c.toml"))
            .output()
            .unwrap()
    };
    let out = init();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for key in ["node.key", "admin.key"] {
        let mode = std::fs::metadata(data.join("keys").join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    assert_eq!(std::fs::metadata(data.join("keys")).unwrap().permissions().mode() & 0o777, 0o700);
    let out = init();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already initialised"));
    // Running without init is a clear error.
    let out = Command::new(WEB4D)
        .env("DATA_DIR", dir.path().join("empty"))
        .env("WEB4_CONFIG", dir.path().join("c.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("web4d init"));
}

/// `systemctl reload` sends SIGHUP: a valid configuration is re-read (the log
/// level applies at once), a broken one is refused and the node keeps serving.
#[tokio::test]
async fn sighup_reloads_a_valid_configuration_and_refuses_a_broken_one() {
    // The harness sets LOG_LEVEL and PORT in the environment, which outrank the file.
    let node = TestNode::start_with_config("read_pool = 8\n", &[]).await;
    let conf = node.dir.path().join("web4d.toml");
    let log_has = |what: &str| std::fs::read_to_string(node.log_path()).unwrap_or_default().contains(what);
    std::fs::write(&conf, "read_pool = 3\n").unwrap();
    node.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !log_has("\"event\":\"config_reloaded\"") {
        assert!(std::time::Instant::now() < deadline, "no config_reloaded logged");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(node.log_path()).unwrap();
    let line = log.lines().find(|l| l.contains("config_reloaded")).unwrap();
    assert!(line.contains("read_pool"), "a read_pool change needs a restart and says so: {line}");
    assert_eq!(node.get("/health").await.status, 200);
    std::fs::write(&conf, "port = \"not a number\"\n").unwrap();
    node.signal("HUP");
    while !log_has("\"event\":\"reload_refused\"") {
        assert!(std::time::Instant::now() < deadline, "no reload_refused logged");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(node.get("/health").await.status, 200, "a refused reload keeps the node running");
}
