//! `GET /store-operations`: how many operations of each kind the session
//! store has served since the server started ([`Site::store_operations`]),
//! so that the benchmark can report store operations per 1,000 requests for
//! every mechanism as a measured figure. Reading it touches no store.

use std::sync::Arc;

use axum::{Json, extract::State, http::header, response::IntoResponse};
use serde::Serialize;

use super::Site;
use crate::metrics::OperationCounts;

#[derive(Debug, Serialize)]
struct StoreOperations {
    /// The operations page requests made: what the benchmark divides.
    by_requests: u64,
    counts: OperationCounts,
}

pub async fn store_operations(State(site): State<Arc<Site>>) -> impl IntoResponse {
    let counts = site.store_operations();
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(StoreOperations {
            by_requests: counts.by_requests(),
            counts,
        }),
    )
}
