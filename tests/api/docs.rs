//! The OpenAPI document and the embedded Swagger UI.
#![allow(clippy::expect_used, reason = "fixtures fail loudly")]

use crate::helpers::TestApp;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

// Probes and metrics are for operators and load balancers, which carry no user token.
const PUBLIC_OPERATIONS: [&str; 6] = [
    "register_user",
    "login",
    "refresh_session",
    "get_health_live",
    "get_health_ready",
    "get_metrics",
];

#[tokio::test]
async fn the_openapi_document_matches_the_snapshot() {
    let app = TestApp::spawn().await;
    let mut spec: Value = app.openapi().await;
    // The latest birth year moves with the calendar: check it, then pin a placeholder.
    let latest_birth_year =
        &mut spec["components"]["schemas"]["ProfileUpdate"]["properties"]["birth_year"]["maximum"];
    let five_years_ago = chrono::Datelike::year(&chrono::Utc::now()) - 5;
    assert_eq!(latest_birth_year.as_f64(), Some(f64::from(five_years_ago)));
    *latest_birth_year = Value::from("<five years ago>");
    insta::assert_json_snapshot!("openapi", spec);
}

/// The venv with the pinned Python tools (scripts/py-tools.txt): `CULTFIT_PY` as scripts/test
/// exports it, else made (or found up to date) by `ensure_py_tools` in scripts/lib.sh.
fn python_tools() -> PathBuf {
    if let Ok(python) = std::env::var("CULTFIT_PY") {
        return python.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("bash")
        .args(["-c", "source scripts/lib.sh && ensure_py_tools"])
        .current_dir(root)
        .status()
        .expect("bash");
    assert!(status.success(), "ensure_py_tools failed");
    root.join(".local/venv/bin/python")
}

#[tokio::test]
async fn the_openapi_document_is_valid_for_the_version_it_declares() {
    let app = TestApp::spawn().await;
    let document = app
        .get("/openapi.json", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    let spec: Value = serde_json::from_str(&document).unwrap_or_default();
    assert_eq!(spec["openapi"], "3.0.3");

    // openapi-spec-validator checks the document against the OpenAPI 3.0 schema, whose Schema
    // Object admits no JSON Schema 2020-12 keyword (`const`, `type: [...]`, `$defs`, ...).
    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), &document).expect("write the document");
    let output = Command::new(python_tools())
        .args(["-m", "openapi_spec_validator", "--schema", "3.0"])
        .args(["--validation-errors", "all"])
        .arg(file.path())
        .output()
        .expect("openapi-spec-validator");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn every_operation_has_an_explicit_id_and_protected_ones_require_a_bearer_token() {
    let app = TestApp::spawn().await;
    let spec: Value = app.openapi().await;
    assert_eq!(
        spec["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );

    let paths = spec["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.len() >= 7, "{paths:?}");
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().cloned().unwrap_or_default() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            // apistos falls back to `<verb>_<fn>-<hash>` when no id is given.
            assert!(
                !id.is_empty() && !id.contains('-'),
                "{method} {path}: operationId {id:?}"
            );
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            assert_eq!(
                secured,
                !PUBLIC_OPERATIONS.contains(&id),
                "{method} {path}: security"
            );
            if secured {
                assert!(
                    operation["responses"]["401"].is_object(),
                    "{method} {path}: 401 documented"
                );
            }
        }
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary_itself() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap_or_default();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external URLs: {html}"
    );

    let init = app
        .get("/docs/init.js", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(init.contains("/openapi.json"));
    for (asset, content_type, min_bytes) in [
        ("/docs/swagger-ui-bundle.js", "text/javascript", 1_000_000),
        ("/docs/swagger-ui.css", "text/css", 100_000),
        ("/docs/favicon-32x32.png", "image/png", 100),
        ("/docs/init.js", "text/javascript", 50),
    ] {
        assert!(html.contains(asset), "the page references {asset}");
        let response = app.get(asset, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert_eq!(response.headers()["content-type"], content_type, "{asset}");
        assert!(
            response.bytes().await.map(|b| b.len()).unwrap_or_default() >= min_bytes,
            "{asset}"
        );
    }
}
