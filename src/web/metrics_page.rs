//! `GET /metrics`: every counter of this server in Prometheus's text
//! format, for a scraper (`--metrics` says whether it is served).

use std::sync::Arc;

use axum::{extract::State, http::header, response::IntoResponse};

use crate::metrics::{self, Metrics};

pub async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        metrics.render(),
    )
}
