//! What the server has done, counted per mechanism, for Prometheus at
//! `/metrics` and for the inspector's live counters: requests by route and
//! status, cookie verdicts, logins and logouts, store operations with their
//! latency and errors, signatures made and checked, and verified-token
//! cache hits.
//!
//! Every handle a request touches is made when the server starts, so that
//! counting is one relaxed atomic add: no lock, no label lookup, nothing
//! allocated. Each count is kept in one slot per counting thread
//! ([`ShardedU64`]) and summed when read. The families and the exposition
//! are prometheus-client's; the latency histogram is this module's own,
//! because the crate's takes a mutex per observation.

use std::{
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric, counter::Atomic, family::Family},
    registry::Registry,
};

use crate::{
    routes::{MAX_MOUNTS, Mount, Route, SitePage},
    verdict::CookieVerdict,
};

/// prometheus-client's counter over a count kept per thread.
type Counter = prometheus_client::metrics::counter::Counter<u64, ShardedU64>;

/// How many slots a count is kept in: more than the cores of the machines
/// this runs on, so that each worker thread usually has one of its own.
const SHARDS: usize = 8;

/// Which slot this thread counts in: given out in turn as threads first count.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

/// A value on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// A count kept in one slot per counting thread and summed when read. Two
/// cores adding to one atomic pass its cache line back and forth on every
/// request, which cost more than the add itself (`perf`: a request's few
/// counters were as hot as hyper's parser).
#[derive(Debug, Default)]
pub struct ShardedU64([Padded<AtomicU64>; SHARDS]);

impl Atomic<u64> for ShardedU64 {
    fn inc(&self) -> u64 {
        self.inc_by(1)
    }

    /// Returns this thread's slot's earlier value, not the total: nothing
    /// here reads it, and the total would read every slot.
    fn inc_by(&self, v: u64) -> u64 {
        self.0[shard()].0.fetch_add(v, Ordering::Relaxed)
    }

    fn get(&self) -> u64 {
        self.0
            .iter()
            .map(|slot| slot.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// The `Content-Type` of what [`Metrics::render`] writes: Prometheus's text
/// format, which `promtool check metrics` reads.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every counter of one server, and the registry that exports them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// `requests`' series, by [`Page`] and [`STATUSES`] position, filled in
    /// on first use so that only the pairs that happened are exported.
    request_slots: Vec<OnceLock<Counter>>,
    store: StoreFamilies,
    mechanism_families: MechanismFamilies,
    /// Each mechanism's meter, made when it is first asked for.
    mechanisms: Mutex<Vec<(Mount, MechanismMeter)>>,
    /// The routers of `mechanisms`, in the same order, readable without
    /// the lock: a request's page is found here.
    mounts: [OnceLock<Mount>; MAX_MOUNTS],
    /// The site's own store operations (sweeps, counts, health checks):
    /// counted for `/store-operations`, not exported.
    site_store: StoreMeter,
}

/// The statuses the site answers with, each with its own preallocated
/// series; any other still counts, through a label lookup.
const STATUSES: [u16; 11] = [200, 303, 308, 400, 403, 404, 405, 409, 413, 500, 503];

/// A mechanism's series, made when its meter is.
#[derive(Debug, Default)]
struct MechanismFamilies {
    verdicts: Family<VerdictLabels, Counter>,
    logins: Family<MechanismLabels, Counter>,
    logouts: Family<MechanismLabels, Counter>,
    signatures: Family<OperationLabels, Counter>,
    cache_hits: Family<MechanismLabels, Counter>,
}

/// The store's series, made for a mechanism when it is given a store.
#[derive(Debug, Default)]
struct StoreFamilies {
    operations: Family<OperationLabels, Counter>,
    errors: Family<OperationLabels, Counter>,
    latency: Family<OperationLabels, LatencyHistogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    router: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MechanismLabels {
    mechanism: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    mechanism: &'static str,
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    mechanism: &'static str,
    operation: &'static str,
}

/// What a request was for, as the `router` and `route` labels name it:
/// one of a router's pages, or one of the site's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Mechanism(Mount, Route),
    Site(SitePage),
}

impl Page {
    const COUNT: usize = MAX_MOUNTS * Route::ALL.len() + SitePage::ALL.len();

    /// This page's place among `Metrics::request_slots`' pages, when it has
    /// one: every page of the site's own, and of the first routers counted.
    fn index(self, mounts: &[OnceLock<Mount>]) -> Option<usize> {
        match self {
            Page::Mechanism(mount, route) => {
                let at = mounts
                    .iter()
                    .map_while(OnceLock::get)
                    .position(|counted| *counted == mount)?;
                Some(at * Route::ALL.len() + route.index())
            }
            Page::Site(page) => Some(
                MAX_MOUNTS * Route::ALL.len() + SitePage::ALL.iter().position(|p| *p == page)?,
            ),
        }
    }

    fn labels(self, status: u16) -> RequestLabels {
        let (router, route) = match self {
            Page::Mechanism(mount, route) => (mount.name(), route.name()),
            Page::Site(page) => ("site", page.name()),
        };
        RequestLabels {
            router,
            route,
            status,
        }
    }
}

/// One labelled series of `family`, made now if it is new. The family's
/// read guard ends here: holding it while making another series of the same
/// family would deadlock.
fn series<L, M>(family: &Family<L, M>, labels: &L) -> M
where
    L: Clone + std::hash::Hash + Eq,
    M: Clone,
{
    family.get_or_create(labels).clone()
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("svj");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by router (a mechanism, or site for the site's own pages), route and status",
            requests.clone(),
        );
        let families = MechanismFamilies::default();
        registry.register(
            "cookie_verdicts",
            "What each mechanism found in the request's cookie: guest (none), valid, expired, tampered or revoked",
            families.verdicts.clone(),
        );
        registry.register("logins", "Logins stored", families.logins.clone());
        registry.register("logouts", "Logouts done", families.logouts.clone());
        registry.register(
            "signatures",
            "Signatures made (operation=sign) and checked (operation=verify); /cookie's are AES-256-GCM seals and opens",
            families.signatures.clone(),
        );
        registry.register(
            "verified_token_cache_hits",
            "Tokens found in the verified-token memory (--token-cache), whose signature was not checked again",
            families.cache_hits.clone(),
        );
        let store = StoreFamilies::default();
        registry.register(
            "store_operations",
            "Session store operations a mechanism asked for, by kind, failed ones included",
            store.operations.clone(),
        );
        registry.register(
            "store_errors",
            "Session store operations that failed or timed out, by kind",
            store.errors.clone(),
        );
        registry.register_with_unit(
            "store_operation",
            "How long session store operations took, by kind",
            prometheus_client::registry::Unit::Seconds,
            store.latency.clone(),
        );
        Self {
            registry,
            requests,
            request_slots: (0..Page::COUNT * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
            store,
            mechanism_families: families,
            mechanisms: Mutex::default(),
            mounts: Default::default(),
            site_store: StoreMeter::unexported(),
        }
    }

    /// The counters `mount`'s mechanism keeps itself, made on first use;
    /// its series are exported from then on.
    pub fn mechanism(&self, mount: Mount) -> MechanismMeter {
        let mut mechanisms = self
            .mechanisms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, meter)) = mechanisms.iter().find(|(known, _)| *known == mount) {
            return meter.clone();
        }
        let families = &self.mechanism_families;
        let mechanism = MechanismLabels {
            mechanism: mount.name(),
        };
        let operation = |operation| OperationLabels {
            mechanism: mount.name(),
            operation,
        };
        let meter = MechanismMeter(Some(Arc::new(MechanismCounters {
            verdicts: CookieVerdict::ALL.map(|verdict| {
                series(
                    &families.verdicts,
                    &VerdictLabels {
                        mechanism: mount.name(),
                        verdict: verdict.name(),
                    },
                )
            }),
            signed: series(&families.signatures, &operation("sign")),
            verified: series(&families.signatures, &operation("verify")),
            cache_hits: series(&families.cache_hits, &mechanism),
            logins: series(&families.logins, &mechanism),
            logouts: series(&families.logouts, &mechanism),
            store: OnceLock::new(),
        })));
        if let Some(slot) = self.mounts.get(mechanisms.len()) {
            let _ = slot.set(mount);
        }
        mechanisms.push((mount, meter.clone()));
        meter
    }

    /// What a request for `path` is for: a page of a router counted here,
    /// or one of the site's own.
    pub fn page(&self, path: &str) -> Page {
        for mount in self.mounts.iter().map_while(OnceLock::get) {
            if let Some(route) = mount.route_at(path) {
                return Page::Mechanism(*mount, route);
            }
        }
        let page = SitePage::ALL
            .into_iter()
            .find(|page| page.path() == path)
            .unwrap_or(SitePage::Other);
        Page::Site(page)
    }

    /// The meter of the store `mount`'s mechanism uses, whose series are
    /// exported from now on (a mechanism without a store exports none).
    pub fn store(&self, mount: Mount) -> StoreMeter {
        let families = &self.store;
        let meter = self.mechanism(mount);
        let counters = meter.0.as_ref().map(|counters| &counters.store);
        let make = || {
            let labels = |kind: StoreOperation| OperationLabels {
                mechanism: mount.name(),
                operation: kind.name(),
            };
            StoreMeter {
                operations: Arc::new(StoreOperation::ALL.map(|kind| {
                    if kind.is_the_sites() {
                        return OperationMeter::default();
                    }
                    OperationMeter {
                        done: series(&families.operations, &labels(kind)),
                        failed: series(&families.errors, &labels(kind)),
                        latency: series(&families.latency, &labels(kind)),
                    }
                })),
            }
        };
        match counters {
            Some(store) => store.get_or_init(make).clone(),
            None => make(),
        }
    }

    /// The meter of the site's own store operations: sweeps, counts and
    /// health checks, which no mechanism asks for.
    pub fn site_store(&self) -> StoreMeter {
        self.site_store.clone()
    }

    /// Every store operation asked for on this server, by kind: each
    /// mechanism's and the site's, from the meters that `/metrics` shows.
    pub fn store_operations(&self) -> OperationCounts {
        let mechanisms = self
            .mechanisms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        mechanisms
            .iter()
            .filter_map(|(_, meter)| meter.0.as_ref()?.store.get())
            .chain([&self.site_store])
            .map(StoreMeter::counts)
            .fold(OperationCounts::default(), |sum, counts| sum.plus(&counts))
    }

    /// Counts one request answered with `status`.
    pub fn request(&self, page: Page, status: u16) {
        let slot = STATUSES
            .iter()
            .position(|known| *known == status)
            .zip(page.index(&self.mounts))
            .and_then(|(at, page)| self.request_slots.get(page * STATUSES.len() + at));
        match slot {
            Some(slot) => slot
                .get_or_init(|| series(&self.requests, &page.labels(status)))
                .inc(),
            None => self.requests.get_or_create(&page.labels(status)).inc(),
        };
    }

    /// Everything, in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// One mechanism's own counters: what it signs, checks and stores. Cheap
/// to clone (every counter is shared), and counting through it is one
/// atomic add; a meter that is [`off`](MechanismMeter::off) counts nothing.
#[derive(Clone, Debug, Default)]
pub struct MechanismMeter(Option<Arc<MechanismCounters>>);

#[derive(Debug, Default)]
struct MechanismCounters {
    verdicts: [Counter; CookieVerdict::ALL.len()],
    signed: Counter,
    verified: Counter,
    cache_hits: Counter,
    logins: Counter,
    logouts: Counter,
    store: OnceLock<StoreMeter>,
}

/// What a mechanism's counters say, read at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MechanismCounts {
    /// Requests that read the visitor through this mechanism (its pages
    /// and the inspector): every one gets a verdict.
    pub visits: u64,
    pub signed: u64,
    pub verified: u64,
    pub cache_hits: u64,
    pub logins: u64,
    pub logouts: u64,
    pub store_operations: u64,
    pub store_errors: u64,
}

impl MechanismMeter {
    /// A meter that counts nothing: under `--metrics off`, and for a
    /// mechanism built outside a site, as its unit tests do.
    pub fn off() -> Self {
        Self(None)
    }

    fn count(&self, counter: impl FnOnce(&MechanismCounters) -> &Counter) {
        if let Some(counters) = &self.0 {
            counter(counters).inc();
        }
    }

    pub fn verdict(&self, verdict: CookieVerdict) {
        if let Some(counter) = self
            .0
            .as_ref()
            .and_then(|c| c.verdicts.get(verdict as usize))
        {
            counter.inc();
        }
    }

    pub fn signed(&self) {
        self.count(|c| &c.signed);
    }

    /// Counts one signature check, whatever its `outcome`, and passes it on.
    pub fn verified<T>(&self, outcome: T) -> T {
        self.count(|c| &c.verified);
        outcome
    }

    pub fn cache_hit(&self) {
        self.count(|c| &c.cache_hits);
    }

    pub fn logged_in(&self) {
        self.count(|c| &c.logins);
    }

    pub fn logged_out(&self) {
        self.count(|c| &c.logouts);
    }

    /// What has been counted; `None` when this meter is off.
    pub fn counts(&self) -> Option<MechanismCounts> {
        let counters = self.0.as_ref()?;
        let operations = counters
            .store
            .get()
            .into_iter()
            .flat_map(|store| store.operations.iter());
        Some(MechanismCounts {
            visits: counters.verdicts.iter().map(Counter::get).sum(),
            signed: counters.signed.get(),
            verified: counters.verified.get(),
            cache_hits: counters.cache_hits.get(),
            logins: counters.logins.get(),
            logouts: counters.logouts.get(),
            store_operations: operations.clone().map(|kind| kind.done.get()).sum(),
            store_errors: operations.map(|kind| kind.failed.get()).sum(),
        })
    }
}

/// A kind of session store operation, as the `operation` label names it.
/// Requests make the first five; sweeps, counts and health checks are the
/// site's, and are counted but not exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOperation {
    Load,
    Create,
    Update,
    CompareAndSwap,
    Delete,
    Sweep,
    Count,
    Ping,
}

impl StoreOperation {
    const ALL: [StoreOperation; 8] = [
        StoreOperation::Load,
        StoreOperation::Create,
        StoreOperation::Update,
        StoreOperation::CompareAndSwap,
        StoreOperation::Delete,
        StoreOperation::Sweep,
        StoreOperation::Count,
        StoreOperation::Ping,
    ];

    fn is_the_sites(self) -> bool {
        matches!(
            self,
            StoreOperation::Sweep | StoreOperation::Count | StoreOperation::Ping
        )
    }

    fn name(self) -> &'static str {
        match self {
            StoreOperation::Load => "load",
            StoreOperation::Create => "create",
            StoreOperation::Update => "update",
            StoreOperation::CompareAndSwap => "compare_and_swap",
            StoreOperation::Delete => "delete",
            StoreOperation::Sweep => "sweep",
            StoreOperation::Count => "count",
            StoreOperation::Ping => "ping",
        }
    }
}

/// The store operations of one mechanism (or of the site): how many, how
/// many failed, how long each took. The one store wrapper counts into it
/// (`stores::instrumented`).
#[derive(Clone, Debug, Default)]
pub struct StoreMeter {
    operations: Arc<[OperationMeter; StoreOperation::ALL.len()]>,
}

#[derive(Debug, Default)]
struct OperationMeter {
    done: Counter,
    failed: Counter,
    latency: LatencyHistogram,
}

impl StoreMeter {
    /// A meter that counts, but whose counts no exposition shows.
    pub fn unexported() -> Self {
        Self::default()
    }

    /// Counts one operation of `kind`, and its duration if it was timed.
    pub fn record(&self, kind: StoreOperation, took: Option<Duration>, failed: bool) {
        let meter = &self.operations[kind as usize];
        meter.done.inc();
        if failed {
            meter.failed.inc();
        }
        if let Some(took) = took {
            meter.latency.observe(took);
        }
    }

    pub fn counts(&self) -> OperationCounts {
        let done = |kind: StoreOperation| self.operations[kind as usize].done.get();
        OperationCounts {
            loads: done(StoreOperation::Load),
            creates: done(StoreOperation::Create),
            updates: done(StoreOperation::Update),
            compare_and_swaps: done(StoreOperation::CompareAndSwap),
            deletes: done(StoreOperation::Delete),
            sweeps: done(StoreOperation::Sweep),
            counts: done(StoreOperation::Count),
            pings: done(StoreOperation::Ping),
        }
    }
}

/// Store operations by kind. Requests for pages make the first five; the
/// sweep, `/healthz` and `clearsessions` make the rest, so that a figure
/// about requests can leave them out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OperationCounts {
    pub loads: u64,
    pub creates: u64,
    pub updates: u64,
    pub compare_and_swaps: u64,
    pub deletes: u64,
    pub sweeps: u64,
    pub counts: u64,
    pub pings: u64,
}

impl OperationCounts {
    /// The operations requests for pages make: everything but sweeps,
    /// counts and health checks.
    pub fn by_requests(&self) -> u64 {
        self.loads + self.creates + self.updates + self.compare_and_swaps + self.deletes
    }

    /// What happened between `earlier` and this.
    pub fn since(&self, earlier: &OperationCounts) -> OperationCounts {
        self.zip(earlier, u64::saturating_sub)
    }

    fn plus(&self, other: &OperationCounts) -> OperationCounts {
        self.zip(other, u64::saturating_add)
    }

    fn zip(&self, other: &OperationCounts, combine: fn(u64, u64) -> u64) -> OperationCounts {
        OperationCounts {
            loads: combine(self.loads, other.loads),
            creates: combine(self.creates, other.creates),
            updates: combine(self.updates, other.updates),
            compare_and_swaps: combine(self.compare_and_swaps, other.compare_and_swaps),
            deletes: combine(self.deletes, other.deletes),
            sweeps: combine(self.sweeps, other.sweeps),
            counts: combine(self.counts, other.counts),
            pings: combine(self.pings, other.pings),
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds: from an in-memory
/// lookup to the store timeout.
const LATENCY_BOUNDS_MICROS: [u64; 15] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];

/// A classic Prometheus histogram of durations, observed with two atomic
/// adds and no lock.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    /// One set of buckets per counting thread, as [`ShardedU64`] keeps counts.
    inner: Arc<[Padded<LatencyBuckets>; SHARDS]>,
}

#[derive(Debug, Default)]
struct LatencyBuckets {
    /// One per bound, then the overflow (`+Inf`); not cumulative.
    counts: [AtomicU64; LATENCY_BOUNDS_MICROS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_MICROS.partition_point(|bound| *bound < micros);
        let inner = &self.inner[shard()].0;
        inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let shards = self.inner.iter().map(|shard| &shard.0);
        let bounds = LATENCY_BOUNDS_MICROS
            .iter()
            .map(|micros| *micros as f64 / 1e6)
            .chain(std::iter::once(f64::INFINITY));
        let buckets: Vec<(f64, u64)> = bounds
            .enumerate()
            .map(|(at, bound)| {
                let count = shards.clone().fold(0, |sum: u64, shard| {
                    sum.wrapping_add(shard.counts[at].load(Ordering::Relaxed))
                });
                (bound, count)
            })
            .collect();
        let count = buckets.iter().map(|(_, count)| count).sum();
        let sum_nanos = shards.fold(0, |sum: u64, shard| {
            sum.wrapping_add(shard.sum_nanos.load(Ordering::Relaxed))
        });
        let sum = sum_nanos as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_its_router_and_route() {
        let metrics = Metrics::new();
        metrics.mechanism(Mount::TOKEN);
        assert_eq!(
            metrics.page("/token/get_session/"),
            Page::Mechanism(Mount::TOKEN, Route::GetSession)
        );
        assert_eq!(metrics.page("/"), Page::Site(SitePage::Inspector));
        assert_eq!(metrics.page("/metrics"), Page::Site(SitePage::Metrics));
        assert_eq!(
            metrics.page("/token/get_session"),
            Page::Site(SitePage::Other)
        );
        assert_eq!(metrics.page("/server/"), Page::Site(SitePage::Other));
        assert_eq!(
            metrics.page("/server/get_session/"),
            Page::Site(SitePage::Other),
            "no mechanism is counted under /server"
        );
    }

    #[test]
    fn every_page_has_its_own_slot() {
        let metrics = Metrics::new();
        let mounts: Vec<Mount> = (0..MAX_MOUNTS)
            .map(|at| Mount::at(["/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h"][at]))
            .collect();
        let mut pages: Vec<Page> = SitePage::ALL.into_iter().map(Page::Site).collect();
        for mount in &mounts {
            metrics.mechanism(*mount);
            for route in Route::ALL {
                pages.push(Page::Mechanism(*mount, route));
            }
        }
        let mut indices: Vec<usize> = pages
            .iter()
            .map(|page| page.index(&metrics.mounts).unwrap())
            .collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices, (0..Page::COUNT).collect::<Vec<_>>());
        let beyond = Mount::at("/beyond");
        metrics.mechanism(beyond);
        assert_eq!(
            Page::Mechanism(beyond, Route::GetSession).index(&metrics.mounts),
            None,
            "counted through its labels instead"
        );
    }

    #[test]
    fn requests_are_exported_by_router_route_and_status() {
        let metrics = Metrics::new();
        let page = Page::Mechanism(Mount::SERVER, Route::GetSession);
        metrics.request(page, 200);
        metrics.request(page, 200);
        metrics.request(page, 418);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"svj_http_requests_total{router="server",route="get_session",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"status="418"} 1"#), "{text}");
    }

    #[test]
    fn the_store_operations_add_up_every_mechanisms_and_the_sites() {
        let metrics = Metrics::new();
        metrics
            .store(Mount::SERVER)
            .record(StoreOperation::Load, None, false);
        let hybrid = metrics.store(Mount::HYBRID);
        hybrid.record(StoreOperation::Load, None, true);
        hybrid.record(StoreOperation::CompareAndSwap, None, false);
        metrics
            .site_store()
            .record(StoreOperation::Ping, None, false);
        let counts = metrics.store_operations();
        assert_eq!(
            (counts.loads, counts.compare_and_swaps, counts.pings),
            (2, 1, 1)
        );
        assert_eq!(counts.by_requests(), 3);
        let text = metrics.render();
        assert!(
            !text.contains("ping"),
            "the site's own are not exported: {text}"
        );
    }

    #[test]
    fn a_mechanisms_meter_counts_into_the_registry() {
        let metrics = Metrics::new();
        let meter = metrics.mechanism(Mount::TOKEN);
        meter.verified(());
        meter.cache_hit();
        meter.cache_hit();
        let text = metrics.render();
        assert!(
            text.contains(r#"svj_signatures_total{mechanism="token",operation="verify"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"svj_verified_token_cache_hits_total{mechanism="token"} 2"#),
            "{text}"
        );
        assert_eq!(
            metrics.mechanism(Mount::TOKEN).counts().unwrap().cache_hits,
            2
        );
        assert_eq!(
            metrics
                .mechanism(Mount::SERVER)
                .counts()
                .unwrap()
                .cache_hits,
            0
        );
    }

    #[test]
    fn store_latency_lands_in_the_bucket_of_its_bound() {
        let metrics = Metrics::new();
        let store = metrics.store(Mount::SERVER);
        store.record(StoreOperation::Load, Some(Duration::from_micros(70)), false);
        store.record(StoreOperation::Load, Some(Duration::from_secs(3)), true);
        let text = metrics.render();
        let line = |needle: &str| {
            text.lines()
                .find(|line| line.contains(needle))
                .unwrap_or_else(|| panic!("no {needle} in {text}"))
                .to_owned()
        };
        assert!(
            line(r#"mechanism="server",operation="load",le="5e-05""#).ends_with(" 0"),
            "{text}"
        );
        assert!(line(r#"operation="load",le="0.0001""#).ends_with(" 1"));
        assert!(line(r#"operation="load",le="2.5""#).ends_with(" 1"));
        assert!(line(r#"operation="load",le="+Inf""#).ends_with(" 2"));
        assert!(
            line(r#"svj_store_operation_seconds_count{mechanism="server",operation="load"}"#)
                .ends_with(" 2")
        );
        assert!(
            line(r#"svj_store_errors_total{mechanism="server",operation="load"}"#).ends_with(" 1")
        );
    }

    #[test]
    fn counts_made_on_many_threads_add_up_to_every_one_of_them() {
        let counter = Counter::default();
        std::thread::scope(|scope| {
            for _ in 0..3 * SHARDS {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.inc();
                    }
                });
            }
        });
        assert_eq!(counter.get(), 3 * SHARDS as u64 * 1000);
    }

    #[test]
    fn latencies_observed_on_many_threads_are_all_exported() {
        let metrics = Metrics::new();
        let store = metrics.store(Mount::SERVER);
        std::thread::scope(|scope| {
            for _ in 0..3 * SHARDS {
                scope.spawn(|| {
                    store.record(StoreOperation::Load, Some(Duration::from_micros(70)), false);
                });
            }
        });
        let text = metrics.render();
        let count = format!(
            r#"svj_store_operation_seconds_count{{mechanism="server",operation="load"}} {}"#,
            3 * SHARDS
        );
        assert!(text.lines().any(|line| line == count), "{text}");
        assert!(
            text.lines()
                .any(|line| line.contains(r#"operation="load",le="0.0001""#)
                    && line.ends_with(&format!(" {}", 3 * SHARDS))),
            "{text}"
        );
    }
}

#[cfg(test)]
mod meter_off {
    use super::*;

    #[test]
    fn a_meter_that_is_off_counts_nothing_and_says_so() {
        let meter = MechanismMeter::off();
        meter.signed();
        meter.verdict(CookieVerdict::Guest);
        assert_eq!(meter.verified(7), 7);
        assert!(meter.counts().is_none());
    }
}
