//! The route table: the routers, one per state mechanism, and the pages each
//! serves, by name and path, in one place. The app builds its routers from it
//! and templates reverse names through it, so a path is never spelled twice.
//! It depends on nothing, so every layer may name a router.

/// One router per state mechanism, each serving the same views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mount {
    /// Server-side sessions: an opaque id in the cookie, the data in a store.
    Server,
    /// Stateless: a signed JWT in the cookie carries the data itself.
    Token,
    /// Stateless: the data itself, encrypted, in the cookie.
    Cookie,
    /// A short-lived access token, and a rotating refresh id whose record
    /// is in a store.
    Hybrid,
}

impl Mount {
    /// Every router, in the order pages list them.
    pub const ALL: [Mount; 4] = [Mount::Server, Mount::Token, Mount::Cookie, Mount::Hybrid];

    /// The position of this router in [`Mount::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Mount::Server => "server",
            Mount::Token => "token",
            Mount::Cookie => "cookie",
            Mount::Hybrid => "hybrid",
        }
    }

    pub fn from_name(name: &str) -> Option<Mount> {
        Mount::ALL.into_iter().find(|mount| mount.name() == name)
    }

    pub fn prefix(self) -> &'static str {
        match self {
            Mount::Server => "/server",
            Mount::Token => "/token",
            Mount::Cookie => "/cookie",
            Mount::Hybrid => "/hybrid",
        }
    }

    /// The path of `route` inside this router, as a browser requests it.
    pub fn url(self, route: Route) -> String {
        format!("{}{}", self.prefix(), route.path())
    }
}

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

/// Whether some page of any router lives at `path`: what APPEND_SLASH asks
/// before redirecting `/server/get_session` to `/server/get_session/`.
pub fn is_page(path: &str) -> bool {
    Mount::ALL.into_iter().any(|mount| {
        path.strip_prefix(mount.prefix())
            .is_some_and(|rest| Route::ALL.into_iter().any(|route| route.path() == rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_paths_inside_each_router() {
        assert_eq!(Mount::Server.url(Route::GetSession), "/server/get_session/");
        assert_eq!(Mount::Token.url(Route::SetSession), "/token/set_session/");
        assert_eq!(Mount::Token.url(Route::Logout), "/token/logout/");
    }

    #[test]
    fn a_routers_index_is_its_place_in_the_list() {
        for (index, mount) in Mount::ALL.into_iter().enumerate() {
            assert_eq!(mount.index(), index);
        }
    }

    #[test]
    fn every_name_round_trips() {
        for route in Route::ALL {
            assert_eq!(Route::from_name(route.name()), Some(route));
        }
        for mount in Mount::ALL {
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
    fn only_the_table_paths_are_pages() {
        assert!(is_page("/server/get_session/"));
        assert!(is_page("/token/logout/"));
        assert!(!is_page("/server/get_session"));
        assert!(!is_page("/server/"));
        assert!(!is_page("/other/get_session/"));
    }

    #[test]
    fn actions_are_at_the_root_apart_from_every_router() {
        for action in Action::ALL {
            assert!(action.path().starts_with('/') && action.path().ends_with('/'));
            assert!(!is_page(action.path()), "{action:?}");
            for mount in Mount::ALL {
                assert!(!action.path().starts_with(mount.prefix()), "{action:?}");
            }
        }
    }
}
