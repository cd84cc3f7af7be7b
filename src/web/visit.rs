//! The flow every mechanism runs through, written once: read the visitor's
//! cookie, give it a verdict, clear a refused cookie, and write back what a
//! login, a logout or a renewal changed. Views take a [`Visit`] and never
//! see a cookie, a store or a key.

use std::{convert::Infallible, sync::Arc};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
    response::{IntoResponseParts, ResponseParts},
};

use super::{
    access_log::SessionOutcomes,
    error::AppError,
    inspector::{Holdings, Inspected},
};
use crate::{
    metrics::MechanismMeter,
    routes::Mount,
    session::{
        CookieVerdict, CookieWrites, Mechanism, Opened, SentCookie, SentValues, SessionError,
        VisitorState, cookies::SentCookies,
    },
};

/// A mechanism registered under `mount`: the state of its router's pages.
/// The meter counts what the web layer sees of it (verdicts, logins,
/// logouts); the mechanism counts its own signatures into the same meter.
#[derive(Debug)]
pub struct Mounted<M> {
    pub mechanism: Arc<M>,
    pub mount: Mount,
    pub meter: MechanismMeter,
}

/// One visitor's session under mechanism `M`, for one request. Extracting
/// it reads the request's cookie; returning it in the response writes back
/// whatever changed.
#[derive(Debug)]
pub struct Visit<M: Mechanism> {
    mounted: Arc<Mounted<M>>,
    session: M::Session,
    verdict: CookieVerdict,
    /// The `Set-Cookie` headers this response carries.
    write: CookieWrites,
}

impl<M: Mechanism> Visit<M> {
    /// Reads the visitor from the request's cookies. Anything wrong with a
    /// cookie makes the visitor a Guest and schedules the removal of every
    /// cookie of the mechanism the request carried; only a store that does
    /// not answer is an error.
    pub async fn open(mounted: Arc<Mounted<M>>, headers: &HeaderMap) -> Result<Self, SessionError> {
        let mechanism = &mounted.mechanism;
        let router = mounted.mount.name();
        let cookies = mechanism.cookies();
        let (session, verdict, write) = match SentValues::read(cookies, headers) {
            SentCookies::Absent => (
                M::Session::default(),
                CookieVerdict::Guest,
                CookieWrites::none(),
            ),
            SentCookies::Unreadable => {
                tracing::warn!(
                    router,
                    "cookie is not text; treating the visitor as a Guest"
                );
                let removal = CookieWrites::removals(cookies, |index| {
                    cookies
                        .get(index)
                        .is_some_and(|policy| policy.read(headers) != SentCookie::Absent)
                });
                (M::Session::default(), CookieVerdict::Tampered, removal)
            }
            SentCookies::Text(sent) => match mechanism.open(sent).await? {
                Opened::Valid { session, renewed } => (session, CookieVerdict::Valid, renewed),
                Opened::Refused(refusal) => {
                    let verdict = refusal.verdict;
                    let reason = refusal.reason;
                    tracing::warn!(router, %verdict, %reason, "cookie refused; treating the visitor as a Guest");
                    let removal =
                        CookieWrites::removals(cookies, |index| sent.get(index).is_some());
                    (M::Session::default(), verdict, removal)
                }
            },
        };
        mounted.meter.verdict(verdict);
        Ok(Self {
            mounted,
            session,
            verdict,
            write,
        })
    }

    pub fn state(&self) -> VisitorState {
        self.mounted.mechanism.state(&self.session)
    }

    /// The router this visit came through.
    pub fn mount(&self) -> Mount {
        self.mounted.mount
    }

    pub fn verdict(&self) -> CookieVerdict {
        self.verdict
    }

    /// Stores `state` as a fresh login. If it fails, the visitor is left as
    /// they were and the response sets no cookie.
    pub async fn log_in(&mut self, state: VisitorState) -> Result<(), SessionError> {
        self.write = self
            .mounted
            .mechanism
            .log_in(&mut self.session, state)
            .await?;
        self.mounted.meter.logged_in();
        Ok(())
    }

    /// Forgets the visitor and removes the mechanism's cookies, unless
    /// they sent none.
    pub async fn log_out(&mut self) -> Result<(), SessionError> {
        let mechanism = &self.mounted.mechanism;
        mechanism.log_out(&mut self.session).await?;
        self.mounted.meter.logged_out();
        let sent_any = self.verdict != CookieVerdict::Guest;
        self.write = CookieWrites::removals(mechanism.cookies(), |_| sent_any);
        Ok(())
    }

    /// The cookie change this response carries, and the verdict for the access log.
    pub fn write_back(self) -> WriteBack {
        WriteBack {
            mount: self.mounted.mount,
            verdict: self.verdict,
            cookies: self.write,
        }
    }
}

impl<M: Mechanism> FromRequestParts<Arc<Mounted<M>>> for Visit<M> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        mounted: &Arc<Mounted<M>>,
    ) -> Result<Self, AppError> {
        Ok(Self::open(Arc::clone(mounted), &parts.headers).await?)
    }
}

impl<M: Mechanism> IntoResponseParts for Visit<M> {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Infallible> {
        self.write_back().apply(&mut parts);
        Ok(parts)
    }
}

/// What a response does to one mechanism's cookies, and the verdict it
/// reports to the access log.
#[derive(Debug)]
pub struct WriteBack {
    pub mount: Mount,
    pub verdict: CookieVerdict,
    pub cookies: CookieWrites,
}

impl WriteBack {
    pub fn apply(self, parts: &mut ResponseParts) {
        for cookie in self.cookies.iter() {
            parts
                .headers_mut()
                .append(header::SET_COOKIE, cookie.header_value().clone());
        }
        SessionOutcomes::report(self.mount, self.verdict);
    }
}

/// Every side's write-back, for the inspector's page.
#[derive(Debug)]
pub struct WriteBacks(pub Vec<WriteBack>);

impl IntoResponseParts for WriteBacks {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Infallible> {
        for write_back in self.0 {
            write_back.apply(&mut parts);
        }
        Ok(parts)
    }
}

impl<M: Inspected> Visit<M> {
    /// What the inspector shows of this visitor on this side.
    pub async fn holdings(&self, now: i64) -> Holdings {
        self.mounted
            .mechanism
            .holdings(&self.session, self.verdict, now)
            .await
    }
}
