//! The HTML pages. Templates are compiled into the binary from `templates/`,
//! so the server runs from any folder, and every router renders the same
//! files. Names end in `.html`, which turns minijinja's autoescaping on.

use std::sync::LazyLock;

use axum::response::Html;
use minijinja::{Environment, Error, ErrorKind, State, Template, UndefinedBehavior, Value};

use crate::routes::{Action, Mount, Route};

/// The site's header depends on the route table alone: rendered once, when
/// the templates compile, and given to every page as `site_header`.
const HEADER: (&str, &str) = ("header.html", include_str!("../../templates/header.html"));

const TEMPLATES: [(&str, &str); 10] = [
    ("base.html", BASE),
    ("index.html", include_str!("../../templates/index.html")),
    (
        "set_session.html",
        include_str!("../../templates/set_session.html"),
    ),
    (
        "get_session.html",
        include_str!("../../templates/get_session.html"),
    ),
    ("error.html", include_str!("../../templates/error.html")),
    // Each side's words on the inspector, named after its router.
    (
        "sides/server.html",
        include_str!("../../templates/sides/server.html"),
    ),
    (
        "sides/token.html",
        include_str!("../../templates/sides/token.html"),
    ),
    (
        "sides/cookie.html",
        include_str!("../../templates/sides/cookie.html"),
    ),
    (
        "sides/hybrid.html",
        include_str!("../../templates/sides/hybrid.html"),
    ),
    (
        UNDESCRIBED_SIDE,
        include_str!("../../templates/sides/undescribed.html"),
    ),
];

/// The words of a side that has no template of its own.
const UNDESCRIBED_SIDE: &str = "sides/undescribed.html";

/// Compiled once, on first use; `check` runs at start so that a broken
/// template stops the server instead of failing a request.
static ENVIRONMENT: LazyLock<Result<Environment<'static>, Error>> =
    LazyLock::new(|| environment(Inheritance::Flattened));

/// How pages that extend `base.html` are compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inheritance {
    /// As written: minijinja renders the base and calls the page's blocks;
    /// what the flattened pages are tested against.
    #[cfg_attr(not(test), allow(dead_code))]
    AsWritten,
    /// Written out as one template where the page's shape allows ([`flattened`]).
    Flattened,
}

fn environment(inheritance: Inheritance) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_function("url_for", url_for);
    // The site header links to every router of the app's own (`Mount::BUILT_IN`).
    env.add_global(
        "mounts",
        Value::from_iter(Mount::BUILT_IN.into_iter().map(Mount::name)),
    );
    env.add_template(HEADER.0, HEADER.1)?;
    let header = env.get_template(HEADER.0)?.render(())?;
    env.add_global("site_header", Value::from_safe_string(header.clone()));
    for (name, source) in TEMPLATES {
        match flattened(source, BASE).filter(|_| inheritance == Inheritance::Flattened) {
            Some(flat) => {
                if PAGES_IN_A_ROUTER.contains(&name) {
                    for mount in Mount::BUILT_IN {
                        if let Some(written_out) = for_router(&flat, &header, mount) {
                            env.add_template_owned(router_page_name(mount, name), written_out)?;
                        }
                    }
                }
                env.add_template_owned(name, flat)?;
            }
            None => env.add_template(name, source)?,
        }
    }
    Ok(env)
}

const BASE: &str = include_str!("../../templates/base.html");

/// A page that extends `base.html` with blocks and nothing else, written out
/// as one template: the base with the page's blocks in their places, and
/// the base's other blocks empty. It renders the same bytes (a test holds
/// every page to it) without minijinja's block calls and frames, which
/// were half of a page's rendering (`--profile`). `None` for a page of any
/// other shape (macros beside its blocks, nested blocks, `super()`, trim
/// markers at a block's edge), which is compiled as it is written.
fn flattened(page: &str, base: &str) -> Option<String> {
    let mut rest = page
        .trim_start()
        .strip_prefix(r#"{% extends "base.html" %}"#)?;
    let mut blocks = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (name, after_name) = rest.strip_prefix("{% block ")?.split_once(" %}")?;
        let (body, after) = after_name.split_once("{% endblock %}")?;
        if body.contains("{% block") || body.contains("super()") {
            return None;
        }
        blocks.push((name, body));
        rest = after;
    }
    let mut flat = String::with_capacity(base.len() + page.len());
    let mut rest = base;
    while let Some(at) = rest.find("{% block ") {
        flat.push_str(&rest[..at]);
        let (name, after_name) = rest[at..].strip_prefix("{% block ")?.split_once(" %}")?;
        rest = after_name.strip_prefix("{% endblock %}")?;
        if let Some((_, body)) = blocks.iter().find(|(block, _)| *block == name) {
            flat.push_str(body);
        }
    }
    flat.push_str(rest);
    Some(flat)
}

/// Fails when a template does not compile.
pub fn check() -> Result<(), Error> {
    compiled().map(|_| ())
}

/// The template holding the inspector's words about the side under
/// `mount`: `sides/{router}.html`, or a plain one for a side without its own.
pub fn side_prose(mount: Mount) -> String {
    let own = format!("sides/{}.html", mount.name());
    match compiled() {
        Ok(env) if env.get_template(&own).is_ok() => own,
        _ => UNDESCRIBED_SIDE.to_owned(),
    }
}

pub fn render(name: &str, context: Value) -> Result<Html<String>, Error> {
    Ok(Html(compiled()?.get_template(name)?.render(context)?))
}

/// Renders `name` as the router under `mount` shows it: from the page
/// written out for that router at start-up ([`for_router`]) when there is
/// one, which the context's `mount` must then name.
pub fn render_in(mount: Mount, name: &str, context: Value) -> Result<Html<String>, Error> {
    let written_out = ROUTER_PAGES.as_ref().ok().and_then(|pages| {
        pages
            .iter()
            .find(|page| page.mount == mount && page.name == name)
    });
    match written_out {
        Some(page) => Ok(Html(page.template.render(context)?)),
        None => render(name, context),
    }
}

/// The pages that a router's views render, each also written out for each
/// of the app's own routers.
const PAGES_IN_A_ROUTER: [&str; 2] = ["get_session.html", "set_session.html"];

/// The name of `page` written out for the router under `mount`.
fn router_page_name(mount: Mount, page: &str) -> String {
    format!("{}/{page}", mount.name())
}

/// One page written out for one router, compiled, found without a lookup
/// by name.
struct RouterPage {
    mount: Mount,
    name: &'static str,
    template: Template<'static, 'static>,
}

static ROUTER_PAGES: LazyLock<Result<Vec<RouterPage>, Error>> = LazyLock::new(|| {
    let env = compiled()?;
    let mut pages = Vec::new();
    for mount in Mount::BUILT_IN {
        for name in PAGES_IN_A_ROUTER {
            if let Ok(template) = env.get_template(&router_page_name(mount, name)) {
                pages.push(RouterPage {
                    mount,
                    name,
                    template,
                });
            }
        }
    }
    Ok(pages)
});

/// `page` with what depends only on the router under `mount` written in:
/// the site header, and each `{{ url_for('page') }}` that names no router.
/// minijinja then only looks up the visitor's values, where each global
/// and each call cost more than the rest of the page (`--profile`). `None`
/// for a page where text could be taken for an expression (raw blocks,
/// comments).
fn for_router(page: &str, header: &str, mount: Mount) -> Option<String> {
    if page.contains("{% raw") || page.contains("{#") || header.contains("{% endraw") {
        return None;
    }
    let mut written = String::with_capacity(page.len() + header.len());
    let mut rest = page;
    while let Some(at) = rest.find("{{") {
        let (expression, after) = rest[at + 2..].split_once("}}")?;
        written.push_str(&rest[..at]);
        match expression.trim() {
            "site_header" => {
                written.push_str("{% raw %}");
                written.push_str(header);
                written.push_str("{% endraw %}");
            }
            trimmed => match url_in_router(trimmed, mount) {
                Some(url) => written.push_str(&url),
                None => {
                    written.push_str("{{");
                    written.push_str(expression);
                    written.push_str("}}");
                }
            },
        }
        rest = after;
    }
    written.push_str(rest);
    Some(written)
}

/// The path `url_for('page')` gives inside the router under `mount`, for
/// that exact expression with a route's or an action's name.
fn url_in_router(expression: &str, mount: Mount) -> Option<String> {
    let quoted = expression.strip_prefix("url_for(")?.strip_suffix(')')?;
    let name = ['\'', '"'].into_iter().find_map(|quote| {
        quoted
            .strip_prefix(quote)?
            .strip_suffix(quote)
            .filter(|name| !name.contains(['\'', '"']))
    })?;
    if let Some(action) = Action::from_name(name) {
        return Some(action.path().to_owned());
    }
    Route::from_name(name).map(|route| mount.url(route))
}

fn compiled() -> Result<&'static Environment<'static>, Error> {
    ENVIRONMENT.as_ref().map_err(|err| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("templates did not compile: {err:#}"),
        )
    })
}

/// `url_for('get_session')` gives the path of that page inside the router
/// that renders the template (the `mount` in its context), like Django's
/// `{% url %}`; `url_for('get_session', 'token')` names the router. An
/// unknown route, or a router name no router could have, is an error,
/// never an empty link. The inspector's own forms
/// (`url_for('replay_everywhere')`) belong to no router.
fn url_for(state: &State<'_, '_>, name: &str, mount: Option<&str>) -> Result<Value, Error> {
    if let Some(action) = Action::from_name(name) {
        return Ok(Value::from_safe_string(action.path().to_owned()));
    }
    let route = Route::from_name(name).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("url_for: no route is named `{name}`"),
        )
    })?;
    let looked_up;
    let mount_name = match mount {
        Some(mount) => mount,
        None => {
            looked_up = state.lookup("mount");
            looked_up.as_ref().and_then(Value::as_str).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    "url_for: the page has no router to resolve within",
                )
            })?
        }
    };
    if let Some(at) = Mount::BUILT_IN
        .iter()
        .position(|mount| mount.name() == mount_name)
    {
        return Ok(URLS[at][route.index()].clone());
    }
    // A router registered beside this app's own: its name is plain
    // lowercase letters and digits (`Mount::at`), nothing to escape.
    let plain = !mount_name.is_empty()
        && mount_name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
    if !plain {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("url_for: no router can be named `{mount_name}`"),
        ));
    }
    Ok(Value::from_safe_string(format!(
        "/{mount_name}{}",
        route.path()
    )))
}

/// Every page's path, made once: a page links to several, and building
/// each link's text on every request cost more than the rest of the page.
/// Built from the route table alone, so there is nothing to escape.
static URLS: LazyLock<[[Value; Route::ALL.len()]; Mount::BUILT_IN.len()]> = LazyLock::new(|| {
    Mount::BUILT_IN.map(|mount| Route::ALL.map(|route| Value::from_safe_string(mount.url(route))))
});

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    fn render_str(source: &str, ctx: Value) -> Result<String, Error> {
        let mut env = environment(Inheritance::Flattened)?;
        env.add_template_owned("test.html", source.to_owned())?;
        env.get_template("test.html")?.render(ctx)
    }

    #[test]
    fn every_template_compiles() {
        check().unwrap();
    }

    #[test]
    fn url_for_resolves_inside_the_current_router() {
        let source = "{{ url_for('get_session') }}";
        assert_eq!(
            render_str(source, context! { mount => Mount::SERVER.name() }).unwrap(),
            "/server/get_session/"
        );
        assert_eq!(
            render_str(source, context! { mount => Mount::TOKEN.name() }).unwrap(),
            "/token/get_session/"
        );
    }

    #[test]
    fn url_for_can_name_the_router() {
        let html = render_str("{{ url_for('logout', 'token') }}", context! {}).unwrap();
        assert_eq!(html, "/token/logout/");
    }

    #[test]
    fn url_for_names_the_inspectors_forms_outside_any_router() {
        let html = render_str("{{ url_for('log_out_everywhere') }}", context! {}).unwrap();
        assert_eq!(html, Action::LogOutEverywhere.path());
    }

    #[test]
    fn url_for_an_unknown_name_is_an_error() {
        let err = render_str(
            "{{ url_for('admin') }}",
            context! { mount => Mount::SERVER.name() },
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("no route is named `admin`"),
            "{err}"
        );
    }

    #[test]
    fn url_for_outside_a_router_is_an_error() {
        assert!(render_str("{{ url_for('get_session') }}", context! {}).is_err());
        assert!(render_str("{{ url_for('get_session', 'else/where') }}", context! {}).is_err());
        assert!(render_str("{{ url_for('get_session', '') }}", context! {}).is_err());
    }

    #[test]
    fn url_for_resolves_inside_a_router_registered_beside_the_apps_own() {
        let html = render_str(
            "{{ url_for('get_session') }}",
            context! { mount => "signed" },
        );
        assert_eq!(html.unwrap(), "/signed/get_session/");
    }

    #[test]
    fn values_are_escaped() {
        let html = render_str(
            "<h1>{{ name }}</h1>",
            context! { name => "<script>alert('x')</script>" },
        )
        .unwrap();
        assert_eq!(
            html,
            "<h1>&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt;</h1>"
        );
    }

    /// A router's pages in the contexts its views give, under `mount`.
    fn router_pages_in(mount: &str) -> [(&'static str, Value); 3] {
        [
            (
                "get_session.html",
                context! { mount => mount, username => "Guest", is_logged_in => false },
            ),
            (
                "get_session.html",
                context! { mount => mount, username => "<b>{{ x }}</b> & \"y\"", is_logged_in => true },
            ),
            (
                "set_session.html",
                context! { mount => mount, message => "Session data set!" },
            ),
        ]
    }

    fn rendered_as_written(name: &str, context: &Value) -> String {
        let written = environment(Inheritance::AsWritten).unwrap();
        written.get_template(name).unwrap().render(context).unwrap()
    }

    /// Every page as written and as flattened, in the contexts its views give.
    #[test]
    fn a_flattened_page_renders_the_same_bytes_as_the_page_as_written() {
        let flat = environment(Inheritance::Flattened).unwrap();
        let error = (
            "error.html",
            context! { status => 404, reason => "Not Found", message => "No page at /x <y>" },
        );
        for (name, context) in router_pages_in("token").into_iter().chain([error]) {
            let flattened = flat.get_template(name).unwrap().render(&context).unwrap();
            assert_eq!(flattened, rendered_as_written(name, &context), "{name}");
        }
    }

    /// Each router's pages as written out for it and as written.
    #[test]
    fn a_page_written_out_for_a_router_renders_the_same_bytes_as_the_page_as_written() {
        for mount in Mount::BUILT_IN {
            for (name, context) in router_pages_in(mount.name()) {
                let as_written = rendered_as_written(name, &context);
                let written_out = render_in(mount, name, context).unwrap().0;
                assert_eq!(written_out, as_written, "{} {name}", mount.name());
            }
        }
    }

    #[test]
    fn a_page_written_out_for_a_router_looks_up_only_the_visitors_values() {
        let env = compiled().unwrap();
        for mount in Mount::BUILT_IN {
            for name in PAGES_IN_A_ROUTER {
                let page = env.get_template(&router_page_name(mount, name)).unwrap();
                let source = page.source();
                assert!(
                    !source.contains("url_for") && !source.contains("site_header"),
                    "{} {name}: {source}",
                    mount.name()
                );
            }
        }
        let pages = ROUTER_PAGES.as_ref().unwrap();
        assert_eq!(pages.len(), Mount::BUILT_IN.len() * PAGES_IN_A_ROUTER.len());
    }

    #[test]
    fn a_router_registered_beside_the_apps_own_renders_the_page_as_written() {
        let html = render_in(
            Mount::at("/signed"),
            "set_session.html",
            context! { mount => "signed", message => "Session data set!" },
        )
        .unwrap()
        .0;
        assert!(html.contains(r#"href="/signed/get_session/""#), "{html}");
    }

    #[test]
    fn a_page_with_raw_text_or_comments_is_not_written_out() {
        let header = "<header></header>";
        assert_eq!(
            for_router("{# {{ url_for('logout') }} #}", header, Mount::TOKEN),
            None
        );
        assert_eq!(
            for_router(
                "{% raw %}{{ site_header }}{% endraw %}",
                header,
                Mount::TOKEN
            ),
            None
        );
        assert_eq!(
            for_router(
                "{{ site_header }}<a href=\"{{ url_for('logout') }}\">{{ url_for('logout', 'server') }}{{- x }}",
                header,
                Mount::TOKEN
            )
            .unwrap(),
            "{% raw %}<header></header>{% endraw %}<a href=\"/token/logout/\">{{ url_for('logout', 'server') }}{{- x }}"
        );
    }

    #[test]
    fn the_reference_pages_are_flattened_and_the_inspector_is_not() {
        for page in ["get_session.html", "set_session.html", "error.html"] {
            let source = TEMPLATES.iter().find(|(name, _)| *name == page).unwrap().1;
            let flat = flattened(source, BASE).unwrap();
            assert!(
                !flat.contains("{% block") && !flat.contains("extends"),
                "{page}"
            );
        }
        let inspector = TEMPLATES
            .iter()
            .find(|(name, _)| *name == "index.html")
            .unwrap()
            .1;
        assert_eq!(flattened(inspector, BASE), None, "macros beside its blocks");
        assert_eq!(
            flattened(
                r#"{% extends "base.html" %}{% block content %}{{ super() }}{% endblock %}"#,
                BASE
            ),
            None
        );
    }
}
