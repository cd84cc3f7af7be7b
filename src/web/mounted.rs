//! A mechanism as the site serves it: under which router, counted by which
//! meter, with its router's pages and its column on the inspector. The
//! site keeps every mechanism behind this one object-safe interface, so
//! that it can list them; each page still runs its mechanism's code
//! directly, through [`Visit`].

use std::{fmt, sync::Arc};

use axum::{
    Router,
    handler::Handler as _,
    http::HeaderMap,
    routing::{get, post},
};
use futures_util::future::BoxFuture;

use super::{
    form_body_limit,
    inspector::{Column, Inspected, Replay},
    views,
    visit::{Mounted, Visit, WriteBack},
};
use crate::{
    routes::{Mount, Route},
    session::{CookieVerdict, SessionError, VisitorState},
};

pub trait MountedMechanism: fmt::Debug + Send + Sync {
    fn mount(&self) -> Mount;

    /// The three pages of this mechanism's router. Full paths rather than
    /// `nest`: a nested router costs every request a boxed service.
    fn pages(&self) -> Router;

    /// This visitor's column on the inspector, and the cookie change the
    /// page must carry (a refused cookie is cleared there as on any page).
    fn inspect<'a>(
        &'a self,
        headers: &'a HeaderMap,
        now: i64,
    ) -> BoxFuture<'a, Result<(Column, WriteBack), (Column, SessionError)>>;

    /// The replay experiment ([`Replay`]): logs the visitor out, reads the
    /// cookies they sent again, and gives the result, this side's column as
    /// it is after the logout, and the logout's cookie change.
    fn replay<'a>(
        &'a self,
        headers: &'a HeaderMap,
        now: i64,
    ) -> BoxFuture<'a, Result<(Replay, Column, WriteBack), SessionError>>;

    /// Logs the visitor in on this side as `state` says, as the side's own
    /// login form does; gives the cookie change the response must carry.
    fn log_in<'a>(
        &'a self,
        headers: &'a HeaderMap,
        state: VisitorState,
    ) -> BoxFuture<'a, Result<WriteBack, SessionError>>;

    /// Logs the visitor out on this side, as the side's own logout does.
    fn log_out<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Result<WriteBack, SessionError>>;
}

impl<M: Inspected> MountedMechanism for Arc<Mounted<M>> {
    fn mount(&self) -> Mount {
        self.mount
    }

    fn pages(&self) -> Router {
        let mount = self.mount;
        Router::new()
            .route(
                &mount.url(Route::SetSession),
                get(views::set_session::<M>)
                    .post(views::set_session_from_form::<M>.layer(form_body_limit())),
            )
            .route(&mount.url(Route::GetSession), get(views::get_session::<M>))
            .route(&mount.url(Route::Logout), post(views::logout::<M>))
            .with_state(Arc::clone(self))
    }

    fn inspect<'a>(
        &'a self,
        headers: &'a HeaderMap,
        now: i64,
    ) -> BoxFuture<'a, Result<(Column, WriteBack), (Column, SessionError)>> {
        Box::pin(async move {
            match Visit::open(Arc::clone(self), headers).await {
                Ok(visit) => {
                    let holdings = visit.holdings(now).await;
                    let column = Column::new::<M>(
                        self.mount,
                        visit.verdict(),
                        &visit.state(),
                        holdings,
                        self.meter.counts(),
                    );
                    Ok((column, visit.write_back()))
                }
                Err(err) => {
                    let counts = self.meter.counts();
                    let column = Column::unavailable::<M>(self.mount, &err, counts);
                    Err((column, err))
                }
            }
        })
    }

    fn replay<'a>(
        &'a self,
        headers: &'a HeaderMap,
        now: i64,
    ) -> BoxFuture<'a, Result<(Replay, Column, WriteBack), SessionError>> {
        Box::pin(async move {
            let mut visit = Visit::open(Arc::clone(self), headers).await?;
            let before = visit.verdict();
            visit.log_out().await?;
            // What a copy of the cookie gets now; whatever it would renew is dropped.
            let again = Visit::open(Arc::clone(self), headers).await?;
            let replay = Replay::new(
                self.mount,
                before,
                again.verdict(),
                &again.state(),
                again.holdings(now).await,
            );
            let guest = M::Session::default();
            let column = Column::new::<M>(
                self.mount,
                CookieVerdict::Guest,
                &self.mechanism.state(&guest),
                self.mechanism
                    .holdings(&guest, CookieVerdict::Guest, now)
                    .await,
                self.meter.counts(),
            );
            Ok((replay, column, visit.write_back()))
        })
    }

    fn log_in<'a>(
        &'a self,
        headers: &'a HeaderMap,
        state: VisitorState,
    ) -> BoxFuture<'a, Result<WriteBack, SessionError>> {
        Box::pin(async move {
            let mut visit = Visit::open(Arc::clone(self), headers).await?;
            visit.log_in(state).await?;
            Ok(visit.write_back())
        })
    }

    fn log_out<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Result<WriteBack, SessionError>> {
        Box::pin(async move {
            let mut visit = Visit::open(Arc::clone(self), headers).await?;
            visit.log_out().await?;
            Ok(visit.write_back())
        })
    }
}
