//! The OpenAPI document's header: title, description and tags. The paths come from the routes.

use apistos::info::Info;
use apistos::spec::Spec;
use apistos::tag::Tag;

/// The spec that apistos completes from the registered routes and serves at `/openapi.json`.
pub fn spec() -> Spec {
    let tag = |name: &str, description: &str| Tag {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        ..Default::default()
    };
    Spec {
        info: Info {
            title: "cultfit".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: Some(
                "Live group workouts: accounts, sessions, bookings, live rankings and results. \
                 Errors are RFC 9457 `application/problem+json` documents with a stable `code`. \
                 Protected operations take `Authorization: Bearer <access token>` from \
                 `/api/v1/auth/login`."
                    .to_owned(),
            ),
            ..Default::default()
        },
        tags: vec![
            tag(
                "accounts",
                "Registration, sign-in, sessions and the caller's profile",
            ),
            tag(
                "workouts",
                "Sessions: schedule, list, reschedule, cancel, start, end",
            ),
            tag("taking part", "Book, cancel a booking, roster, join, leave"),
            tag("afterwards", "Feedback and history"),
            tag("operations", "Probes for operators"),
        ],
        ..Default::default()
    }
}
