//! The route table: the routers, one per state mechanism, and the pages each
//! serves, by name and path, in one place. The app builds its routers from it
//! and templates reverse names through it, so a path is never spelled twice.
//! It depends on nothing, so every layer may name a router.

/// A router: the path prefix under which one mechanism serves the same
/// views (`/server/get_session/`). The four below are this app's; a
/// mechanism of one's own gets its router with [`Mount::at`] and is
/// registered under it with one line (`Site::serving`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mount {
    /// `/` and then the router's name.
    prefix: &'static str,
}

impl Mount {
    /// Server-side sessions: an opaque id in the cookie, the data in a store.
    pub const SERVER: Mount = Mount::at("/server");
    /// Stateless: a signed JWT in the cookie carries the data itself.
    pub const TOKEN: Mount = Mount::at("/token");
    /// Stateless: the data itself, encrypted, in the cookie.
    pub const COOKIE: Mount = Mount::at("/cookie");
    /// A short-lived access token, and a rotating refresh id whose record
    /// is in a store.
    pub const HYBRID: Mount = Mount::at("/hybrid");

    /// This app's routers, in the order pages list them.
    pub const BUILT_IN: [Mount; 4] = [Mount::SERVER, Mount::TOKEN, Mount::COOKIE, Mount::HYBRID];

    /// The router at `prefix`: a slash and a name of lowercase ASCII letters
    /// and digits, which is also what logs, metrics and templates call it.
    /// A prefix that is not one does not compile where it is a constant.
    pub const fn at(prefix: &'static str) -> Mount {
        let bytes = prefix.as_bytes();
        assert!(
            bytes.len() > 1 && bytes[0] == b'/',
            "a router's prefix is a slash and a name"
        );
        let mut at = 1;
        while at < bytes.len() {
            assert!(
                bytes[at].is_ascii_lowercase() || bytes[at].is_ascii_digit(),
                "a router's name is lowercase ASCII letters and digits"
            );
            at += 1;
        }
        Mount { prefix }
    }

    pub fn name(self) -> &'static str {
        &self.prefix[1..]
    }

    /// One of this app's routers, by name.
    pub fn from_name(name: &str) -> Option<Mount> {
        Mount::BUILT_IN
            .into_iter()
            .find(|mount| mount.name() == name)
    }

    pub fn prefix(self) -> &'static str {
        self.prefix
    }

    /// The path of `route` inside this router, as a browser requests it.
    pub fn url(self, route: Route) -> String {
        format!("{}{}", self.prefix(), route.path())
    }

    /// The page of this router at `path`, if any.
    pub fn route_at(self, path: &str) -> Option<Route> {
        let rest = path.strip_prefix(self.prefix)?;
        Route::ALL.into_iter().find(|route| route.path() == rest)
    }
}

/// The most routers one site serves: what the fixed tables of the access
/// log and the request counters have room for, so that a request
/// allocates nothing to be logged and counted.
pub const MAX_MOUNTS: usize = 8;

/// A page that every router serves. Paths end in a slash, as Django's do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    SetSession,
    GetSession,
    Logout,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::SetSession, Route::GetSession, Route::Logout];

    /// The position of this route in [`Route::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name templates use in `url_for`, as Django's `{% url %}` does.
    pub fn name(self) -> &'static str {
        match self {
            Route::SetSession => "set_session",
            Route::GetSession => "get_session",
            Route::Logout => "logout",
        }
    }

    pub fn from_name(name: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|route| route.name() == name)
    }

    /// The path inside a router.
    pub fn path(self) -> &'static str {
        match self {
            Route::SetSession => "/set_session/",
            Route::GetSession => "/get_session/",
            Route::Logout => "/logout/",
        }
    }
}

/// The inspector's own forms, which act through the mechanisms rather than
/// inside one router: the replay experiment on the side its form names, and
/// the three actions on every side at once. Each is a POST served at the
/// site's root; templates name them in `url_for` as they name pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// "Log out and replay the old cookie" on one side (`router` in the form).
    Replay,
    /// "Log in everywhere as …": one login per side, under one username.
    LogInEverywhere,
    /// "Log out everywhere".
    LogOutEverywhere,
    /// "Log out everywhere and replay the old cookies": the replay
    /// experiment on every side in one request.
    ReplayEverywhere,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Replay,
        Action::LogInEverywhere,
        Action::LogOutEverywhere,
        Action::ReplayEverywhere,
    ];

    /// The name templates use in `url_for`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Replay => "replay",
            Action::LogInEverywhere => "log_in_everywhere",
            Action::LogOutEverywhere => "log_out_everywhere",
            Action::ReplayEverywhere => "replay_everywhere",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.name() == name)
    }

    /// The path the form posts to.
    pub const fn path(self) -> &'static str {
        match self {
            Action::Replay => "/replay/",
            Action::LogInEverywhere => "/everywhere/log_in/",
            Action::LogOutEverywhere => "/everywhere/logout/",
            Action::ReplayEverywhere => "/everywhere/replay/",
        }
    }
}

/// The stateless reference: the `get_session` page of a logged-in
/// `john_doe`, rendered from fixed data without reading any cookie. What a
/// request costs when the state costs nothing, measured in the same run as
/// every router.
pub const REFERENCE_GET_SESSION: &str = "/reference/get_session/";

/// The site's own pages, outside any router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SitePage {
    Inspector,
    /// One of the inspector's forms.
    Action(Action),
    Reference,
    Healthz,
    Metrics,
    StoreOperations,
    Jwks,
    /// Anything else: a 404, a redirect to a slashed path.
    Other,
}

impl SitePage {
    pub const ALL: [SitePage; 11] = [
        SitePage::Inspector,
        SitePage::Action(Action::Replay),
        SitePage::Action(Action::LogInEverywhere),
        SitePage::Action(Action::LogOutEverywhere),
        SitePage::Action(Action::ReplayEverywhere),
        SitePage::Reference,
        SitePage::Healthz,
        SitePage::Metrics,
        SitePage::StoreOperations,
        SitePage::Jwks,
        SitePage::Other,
    ];

    /// The path of each page but `Other`: the router serves them here, so
    /// that a path is spelled once.
    pub const fn path(self) -> &'static str {
        match self {
            SitePage::Inspector => "/",
            SitePage::Action(action) => action.path(),
            SitePage::Reference => REFERENCE_GET_SESSION,
            SitePage::Healthz => "/healthz",
            SitePage::Metrics => "/metrics",
            SitePage::StoreOperations => "/store-operations",
            SitePage::Jwks => "/.well-known/jwks.json",
            SitePage::Other => "",
        }
    }

    /// The page as the `route` label of `/metrics` names it.
    pub fn name(self) -> &'static str {
        match self {
            SitePage::Inspector => "inspector",
            SitePage::Action(action) => action.name(),
            SitePage::Reference => "reference",
            SitePage::Healthz => "healthz",
            SitePage::Metrics => "metrics",
            SitePage::StoreOperations => "store_operations",
            SitePage::Jwks => "jwks",
            SitePage::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_paths_inside_each_router() {
        assert_eq!(Mount::SERVER.url(Route::GetSession), "/server/get_session/");
        assert_eq!(Mount::TOKEN.url(Route::SetSession), "/token/set_session/");
        assert_eq!(Mount::TOKEN.url(Route::Logout), "/token/logout/");
    }

    #[test]
    fn a_router_of_ones_own_is_named_after_its_prefix() {
        const SIGNED: Mount = Mount::at("/signed");
        assert_eq!(SIGNED.name(), "signed");
        assert_eq!(SIGNED.url(Route::GetSession), "/signed/get_session/");
        assert_eq!(Mount::from_name("signed"), None, "not one of this app's");
    }

    #[test]
    #[should_panic(expected = "lowercase ASCII")]
    fn a_prefix_that_is_not_a_plain_name_is_refused() {
        Mount::at("/Signed/x");
    }

    #[test]
    fn every_name_round_trips() {
        for route in Route::ALL {
            assert_eq!(Route::from_name(route.name()), Some(route));
        }
        for mount in Mount::BUILT_IN {
            assert_eq!(Mount::from_name(mount.name()), Some(mount));
        }
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
        assert_eq!(Route::from_name("admin"), None);
        assert_eq!(Action::from_name("admin"), None);
        assert_eq!(Mount::from_name("elsewhere"), None);
    }

    #[test]
    fn only_the_table_paths_are_a_routers_pages() {
        assert_eq!(
            Mount::SERVER.route_at("/server/get_session/"),
            Some(Route::GetSession)
        );
        assert_eq!(Mount::TOKEN.route_at("/token/logout/"), Some(Route::Logout));
        assert_eq!(Mount::SERVER.route_at("/server/get_session"), None);
        assert_eq!(Mount::SERVER.route_at("/server/"), None);
        assert_eq!(Mount::SERVER.route_at("/token/get_session/"), None);
    }

    #[test]
    fn actions_are_at_the_root_apart_from_every_router() {
        for action in Action::ALL {
            assert!(action.path().starts_with('/') && action.path().ends_with('/'));
            for mount in Mount::BUILT_IN {
                assert!(!action.path().starts_with(mount.prefix()), "{action:?}");
            }
        }
    }
}
