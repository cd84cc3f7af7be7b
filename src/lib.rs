//! sessions-vs-jwt: the two views of Django's session example, served twice
//! from one process, once on server-side sessions (`/server`) and once on
//! signed tokens (`/token`), so that the two can be compared on measurements.
//!
//! Reading order: `config` (what can be set), `routes` (the route table),
//! `visitor` (the interface both mechanisms implement), `views` (written once
//! against it), then the two mechanisms, `server_session` and
//! `token_session`, and `app`, which puts them together. `inspector` is the
//! start page's model of both sides at once.

pub mod app;
pub mod commands;
pub mod config;
pub mod cookies;
pub mod error;
pub mod inspector;
pub mod routes;
pub mod server_session;
pub mod templates;
pub mod token_session;
pub mod username;
pub mod views;
pub mod visitor;

pub use app::{AppState, StartError, router, serve};
pub use config::{Cli, Config, SessionStoreKind};
