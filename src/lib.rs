//! sessions-vs-jwt: the two views of Django's session example, served from
//! one process under several state mechanisms, one router each, so that
//! they can be compared on measurements.
//!
//! Layers, bottom up; a module only imports from layers below it:
//! 1. `routes` (the route table), `username` (the one piece of input) and
//!    `verdict` (what a request's cookie turned out to be);
//! 2. `metrics`: what the server has done, counted for `/metrics`;
//! 3. `stores`: where session records live, behind one interface;
//! 4. `session`: the `Mechanism` trait every mechanism implements, and what
//!    they share (visitor state, cookie policy, errors);
//! 5. the mechanisms, one module each: `server_session` (`/server`),
//!    `token_session` (`/token`) and `cookie_session` (`/cookie`);
//! 6. `hybrid_session` (`/hybrid`): a mechanism built from two of them, the
//!    token side's claims and keys and the server side's records, so it sits
//!    above them rather than beside;
//! 7. `web`: the site, the one request flow around any mechanism, the views
//!    (written once), the inspector (what it shows of each mechanism, in
//!    `web::inspector`, with its words in `templates/sides/`), error pages
//!    and middleware;
//! 8. `logging`: where log lines go, cheaply;
//! 9. `cli`: every option, parsed by clap;
//! 10. `startup` (the site assembled from the options) and `commands`.

pub mod routes;
pub mod username;
pub mod verdict;

pub mod metrics;

pub mod stores;

pub mod session;

pub mod cookie_session;
pub mod server_session;
pub mod token_session;

pub mod hybrid_session;

pub mod web;

pub mod logging;

pub mod cli;

pub mod commands;
pub mod startup;

pub use cli::{Cli, Config};
pub use startup::StartError;
pub use web::{Site, listen, serve};
