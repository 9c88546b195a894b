//! The web app at `/`: trainees (book, waiting room, live screen, browser wearable, results) and
//! the trainer console, one single-page app.
//!
//! Its sources are in `web/`; the bundle `web/dist/` is built there by esbuild and committed, so
//! building this binary needs no Node. It is compiled in like Swagger UI: works offline, no CDN.
//! Any other GET outside the API answers with `index.html`, so the app's own paths (deep links
//! such as `/classes/<id>`) load it; the app then routes in the browser.

use crate::error::ApiError;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

const INDEX_HTML: &[u8] = include_bytes!("../../web/dist/index.html");
const APP_JS: &[u8] = include_bytes!("../../web/dist/app.js");
const APP_CSS: &[u8] = include_bytes!("../../web/dist/app.css");
/// The NATS client for the browser wearable, loaded only by the live page.
const WEARABLE_JS: &[u8] = include_bytes!("../../web/dist/wearable.js");
/// Helpers that `app.js` and `wearable.js` share (esbuild names it).
const CHUNK_JS: &[u8] = include_bytes!("../../web/dist/chunk.js");
const ICON_SVG: &[u8] = include_bytes!("../../web/dist/icon.svg");

/// Paths that belong to the API and the operations endpoints: never answered with the app.
const NOT_THE_APP: [&str; 6] = [
    "/api/",
    "/docs",
    "/health/",
    "/metrics",
    "/openapi.json",
    "/assets/",
];

/// The app loads its code from here only; the browser wearable and the live WebSocket need
/// `ws:`/`wss:` (the NATS WebSocket listener is on another port, so not `'self'`).
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";

/// Registers `/` and the app's assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // app.js loads these two by fixed names (no `?v=`), so browsers revalidate them by ETag.
    let wearable = Revalidated::new("text/javascript; charset=utf-8", WEARABLE_JS);
    let chunk = Revalidated::new("text/javascript; charset=utf-8", CHUNK_JS);
    cfg.route("/", web::get().to(|| async { index() }))
        .route(
            "/assets/app.js",
            web::get().to(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            web::get().to(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/assets/icon.svg",
            web::get().to(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
        .route(
            "/assets/wearable.js",
            web::get().to(move |req: HttpRequest| {
                let wearable = wearable.clone();
                async move { wearable.respond(&req) }
            }),
        )
        .route(
            "/assets/chunk.js",
            web::get().to(move |req: HttpRequest| {
                let chunk = chunk.clone();
                async move { chunk.respond(&req) }
            }),
        );
}

/// The default service: the app's deep links get `index.html`; anything else is a 404
/// problem+json.
pub async fn fallback(req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    let path = req.path();
    let is_app_path = (req.method() == Method::GET || req.method() == Method::HEAD)
        && !NOT_THE_APP.iter().any(|prefix| path.starts_with(prefix));
    let (req, _) = req.into_parts();
    let response = if is_app_path {
        index()
    } else {
        actix_web::ResponseError::error_response(&ApiError::not_found("path"))
    };
    Ok(ServiceResponse::new(req, response))
}

fn index() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        // The page names its assets with a content hash (`?v=`): always ask for the newest page.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(INDEX_HTML)
}

/// An asset served with `no-cache` and an ETag (a hash of its bytes), so a browser revalidates it
/// and gets a 304 while it is unchanged.
#[derive(Clone)]
struct Revalidated {
    content_type: &'static str,
    body: &'static [u8],
    etag: String,
}

impl Revalidated {
    fn new(content_type: &'static str, body: &'static [u8]) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(body, &mut hasher);
        let etag = format!("\"{:016x}\"", std::hash::Hasher::finish(&hasher));
        Self {
            content_type,
            body,
            etag,
        }
    }

    fn respond(&self, req: &HttpRequest) -> HttpResponse {
        let unchanged = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == self.etag));
        let mut response = if unchanged {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((header::ETAG, self.etag.as_str()))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
        if unchanged {
            return response.finish();
        }
        response
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            ))
            .body(self.body)
    }
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
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .body(body)
}
