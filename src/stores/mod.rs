//! Where session records live: the `session-stores` crate (the interface,
//! a store per backend, each behind a feature of this crate), and the one
//! wrapper the app puts around a store for each user of it.
//!
//! Whoever serves requests from a store wraps it once in [`instrumented`]:
//! every operation bounded in time, counted by kind and timed, under the
//! meter of the mechanism that asked. Those counts, less the cache's hits,
//! are what the benchmark reports as store operations per 1,000 requests,
//! measured rather than derived.

mod instrumented;

use std::sync::Arc;

pub use session_stores::*;

use self::instrumented::InstrumentedRecords;
use crate::metrics::StoreMeter;

/// `records` (the store `url` names, perhaps behind its cache) as one user
/// asks for them: every operation bounded by [`STORE_TIMEOUT`] unless the
/// store is in memory, and counted by kind into `meter`; also timed into
/// it when `timed` (`--metrics on`).
pub fn instrumented(
    records: SharedRecords,
    url: &StoreUrl,
    meter: StoreMeter,
    timed: bool,
) -> SharedRecords {
    Arc::new(InstrumentedRecords::new(records, url, meter, timed))
}
