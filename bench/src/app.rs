//! Everything the harness takes from the app's library, in one place: the
//! route table, the cookie names, and the record format and stores used to
//! seed sessions before a server starts. The rest of the harness only talks
//! to the server over HTTP.

pub use sessions_vs_jwt::{
    cli::Cli,
    cookie_session,
    hybrid_session::{self, REFRESH_COOKIE_NAME},
    routes::{Mount, REFERENCE_GET_SESSION, Route},
    server_session,
    session::VisitorState,
    stores::{self, SharedRecords, SqliteRecords, StoreUrl},
    token_session,
    username::Username,
};
