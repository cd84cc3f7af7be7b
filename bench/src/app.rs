//! Everything the harness takes from the app's library, in one place: the
//! route table, the cookie names, and the record format and stores used to
//! seed sessions before a server starts. The rest of the harness only talks
//! to the server over HTTP.

pub use sessions_vs_jwt::{
    cli::Cli,
    hybrid_session::REFRESH_COOKIE_NAME,
    routes::{Mount, REFERENCE_GET_SESSION, Route},
    server_session,
    session::VisitorState,
    stores::{self, SharedRecords, SqliteRecords, StoreUrl},
    username::Username,
};

/// The name of the cookie that carries a visitor's state under `mount`
/// (for `/hybrid`, the access token: the refresh id is the other one).
pub fn cookie_name(mount: Mount) -> &'static str {
    match mount {
        Mount::Server => sessions_vs_jwt::server_session::COOKIE_NAME,
        Mount::Token => sessions_vs_jwt::token_session::COOKIE_NAME,
        Mount::Cookie => sessions_vs_jwt::cookie_session::COOKIE_NAME,
        Mount::Hybrid => sessions_vs_jwt::hybrid_session::ACCESS_COOKIE_NAME,
    }
}
