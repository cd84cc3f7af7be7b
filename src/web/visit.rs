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

use super::{access_log::SessionOutcomes, error::AppError};
use crate::{
    routes::Mount,
    session::{
        CookieVerdict, Mechanism, Opened, SentCookie, SessionError, SetCookie, VisitorState,
        inspection::Holdings,
    },
};

/// One visitor's session under mechanism `M`, for one request. Extracting
/// it reads the request's cookie; returning it in the response writes back
/// whatever changed.
#[derive(Debug)]
pub struct Visit<M: Mechanism> {
    mechanism: Arc<M>,
    session: M::Session,
    verdict: CookieVerdict,
    /// The `Set-Cookie` this response carries, if any.
    write: Option<SetCookie>,
}

impl<M: Mechanism> Visit<M> {
    /// Reads the visitor from the request's cookie. Anything wrong with the
    /// cookie makes the visitor a Guest and schedules the cookie's removal;
    /// only a store that does not answer is an error.
    pub async fn open(mechanism: Arc<M>, headers: &HeaderMap) -> Result<Self, SessionError> {
        let router = M::MOUNT.name();
        let (session, verdict, write) = match mechanism.cookie().read(headers) {
            SentCookie::Absent => (M::Session::default(), CookieVerdict::Guest, None),
            SentCookie::Unreadable => {
                tracing::warn!(
                    router,
                    "cookie is not text; treating the visitor as a Guest"
                );
                let removal = mechanism.cookie().removal();
                (
                    M::Session::default(),
                    CookieVerdict::Tampered,
                    Some(removal),
                )
            }
            SentCookie::Value(value) => match mechanism.open(value).await? {
                Opened::Valid { session, renewed } => (session, CookieVerdict::Valid, renewed),
                Opened::Refused(refusal) => {
                    let verdict = refusal.verdict;
                    let reason = refusal.reason;
                    tracing::warn!(router, %verdict, %reason, "cookie refused; treating the visitor as a Guest");
                    let removal = mechanism.cookie().removal();
                    (M::Session::default(), verdict, Some(removal))
                }
            },
        };
        Ok(Self {
            mechanism,
            session,
            verdict,
            write,
        })
    }

    pub fn state(&self) -> VisitorState {
        self.mechanism.state(&self.session)
    }

    pub fn verdict(&self) -> CookieVerdict {
        self.verdict
    }

    /// Stores `state` as a fresh login. If it fails, the visitor is left as
    /// they were and the response sets no cookie.
    pub async fn log_in(&mut self, state: VisitorState) -> Result<(), SessionError> {
        let cookie = self.mechanism.log_in(&mut self.session, state).await?;
        self.write = Some(cookie);
        Ok(())
    }

    /// Forgets the visitor and removes the cookie they sent, if any.
    pub async fn log_out(&mut self) -> Result<(), SessionError> {
        self.mechanism.log_out(&mut self.session).await?;
        self.write =
            (self.verdict != CookieVerdict::Guest).then(|| self.mechanism.cookie().removal());
        Ok(())
    }

    /// What the inspector shows of this visitor on this side.
    pub fn holdings(&self, now: i64) -> Holdings {
        self.mechanism.holdings(&self.session, self.verdict, now)
    }

    /// The cookie change this response carries, and the verdict for the access log.
    pub fn write_back(self) -> WriteBack {
        WriteBack {
            mount: M::MOUNT,
            verdict: self.verdict,
            cookie: self.write,
        }
    }
}

impl<M: Mechanism> FromRequestParts<Arc<M>> for Visit<M> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, mechanism: &Arc<M>) -> Result<Self, AppError> {
        Ok(Self::open(Arc::clone(mechanism), &parts.headers).await?)
    }
}

impl<M: Mechanism> IntoResponseParts for Visit<M> {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Infallible> {
        self.write_back().apply(&mut parts);
        Ok(parts)
    }
}

/// What a response does to one mechanism's cookie, and the verdict it
/// reports to the access log.
#[derive(Debug)]
pub struct WriteBack {
    pub mount: Mount,
    pub verdict: CookieVerdict,
    pub cookie: Option<SetCookie>,
}

impl WriteBack {
    pub fn apply(self, parts: &mut ResponseParts) {
        if let Some(cookie) = self.cookie {
            parts
                .headers_mut()
                .append(header::SET_COOKIE, cookie.header_value().clone());
        }
        SessionOutcomes::report(parts, self.mount, self.verdict);
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
