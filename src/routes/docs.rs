//! Swagger UI at `/docs`, rendering `/openapi.json`.
//!
//! The assets come from the pinned npm package `swagger-ui-dist` (see `swagger-ui/README.md`) and
//! are compiled into the binary: the docs work offline and no page loads anything from a CDN. The
//! Content-Security-Policy header makes the browser enforce that.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>cultfit API</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"#;

const INIT_JS: &str = r##"window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null
});
"##;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// Registers `/docs` and its assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/docs",
        web::get().to(|| async { asset("text/html; charset=utf-8", INDEX_HTML.as_bytes()) }),
    )
    .route(
        "/docs/",
        web::get().to(|| async { asset("text/html; charset=utf-8", INDEX_HTML.as_bytes()) }),
    )
    .route(
        "/docs/init.js",
        web::get().to(|| async { asset("text/javascript", INIT_JS.as_bytes()) }),
    )
    .route(
        "/docs/swagger-ui-bundle.js",
        web::get().to(|| async {
            asset(
                "text/javascript",
                include_bytes!("swagger-ui/swagger-ui-bundle.js"),
            )
        }),
    )
    .route(
        "/docs/swagger-ui.css",
        web::get().to(|| async { asset("text/css", include_bytes!("swagger-ui/swagger-ui.css")) }),
    )
    .route(
        "/docs/favicon-32x32.png",
        web::get()
            .to(|| async { asset("image/png", include_bytes!("swagger-ui/favicon-32x32.png")) }),
    );
}

fn asset(content_type: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
        .body(body)
}
