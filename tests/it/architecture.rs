//! The shape of the code, checked: modules import only from layers below
//! their own, mechanisms never import each other, and no modules import
//! each other in a circle. The imports are read from the source files
//! (`use crate::…`, `super::…`, `self::…` and inline `crate::` paths), so a
//! change that breaks the layering fails here before a reader trips on it.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// The layers, bottom up (ARCHITECTURE.md). A module may import from a
/// lower layer only; modules of one layer do not import each other.
const LAYERS: &[&[&str]] = &[
    &["routes", "username", "verdict"],
    &["metrics", "logging"],
    &["stores"],
    &["session"],
    &["server_session", "token_session", "cookie_session"],
    // Built from the token side's claims and keys and the server side's
    // records, so above them: mechanisms of one layer never import each other.
    &["hybrid_session"],
    &["web"],
    &["cli"],
    &["startup", "commands"],
];

/// A mechanism's module not named in [`LAYERS`] (`*_session`) is in the
/// first mechanisms' layer: a new mechanism needs no line here.
fn layer_of(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top))
        .or_else(|| {
            top.ends_with("_session")
                .then(|| {
                    LAYERS
                        .iter()
                        .position(|layer| layer.contains(&"server_session"))
                })
                .flatten()
        })
        .unwrap_or_else(|| {
            panic!("module `{top}` is in no layer: add it to LAYERS and ARCHITECTURE.md")
        })
}

/// Every module of the library, by path (`["stores", "sqlite"]`), with its source.
fn modules() -> BTreeMap<Vec<String>, String> {
    let mut modules = BTreeMap::new();
    collect(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
        &[],
        &mut modules,
    );
    modules
}

fn collect(dir: &Path, prefix: &[String], modules: &mut BTreeMap<Vec<String>, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut inner = prefix.to_vec();
            inner.push(name);
            collect(&path, &inner, modules);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let mut module = prefix.to_vec();
            match name.as_str() {
                "mod" | "lib" => {}
                // The binary sits on top of everything; it is not a module of the library.
                "main" if prefix.is_empty() => continue,
                _ => module.push(name),
            }
            modules.insert(module, fs::read_to_string(&path).unwrap());
        }
    }
}

/// The module paths `source` (the text of module `module`) refers to, each
/// resolved to an absolute path from the crate root. Test modules are left
/// out: they may reach anywhere.
fn references(module: &[String], source: &str) -> Vec<Vec<String>> {
    let code = match source.find("#[cfg(test)]") {
        Some(at) => &source[..at],
        None => source,
    };
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for (root, base) in [
        ("crate::", Vec::new()),
        ("super::", parent(module)),
        ("self::", module.to_vec()),
    ] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().last();
            rest = &rest[at + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in paths(rest) {
                let mut absolute = base.clone();
                absolute.extend(path);
                found.push(absolute);
            }
        }
    }
    found
}

fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The paths that start `text`: `a::b::C` gives `[a, b, C]`; `{a::X, b}`
/// gives `[a, X]` and `[b]`.
fn paths(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start();
    if let Some(inner) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut start = 0;
        for (at, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&inner[start..at]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..at]);
                    start = at + 1;
                }
                _ => {}
            }
        }
        return items.into_iter().flat_map(paths).collect();
    }
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        path.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(after) if after.starts_with('{') => {
                let prefix = path.clone();
                return paths(after)
                    .into_iter()
                    .map(|tail| prefix.iter().cloned().chain(tail).collect())
                    .collect();
            }
            Some(after) => rest = after,
            None => break,
        }
    }
    vec![path]
}

/// The longest known module that `path` starts with.
fn module_of<'a>(
    path: &[String],
    modules: &'a BTreeMap<Vec<String>, String>,
) -> Option<&'a Vec<String>> {
    (1..=path.len()).rev().find_map(|len| {
        modules
            .get_key_value(&path[..len])
            .map(|(module, _)| module)
    })
}

/// Who imports whom, between distinct modules; a module naming its own
/// submodules (declaring or re-exporting them) is its own business.
fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, source) in &modules {
        let edges = graph.entry(module.clone()).or_default();
        for path in references(module, source) {
            if let Some(target) = module_of(&path, &modules)
                && target != module
                && !target.starts_with(module)
            {
                edges.insert(target.clone());
            }
        }
    }
    graph
}

#[test]
fn modules_import_only_from_layers_below_their_own() {
    let mut wrong = Vec::new();
    for (module, targets) in imports() {
        let Some(top) = module.first() else { continue };
        for target in targets {
            let Some(target_top) = target.first() else {
                continue;
            };
            if target_top != top && layer_of(target_top) >= layer_of(top) {
                wrong.push(format!(
                    "{} imports {}",
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point sideways or up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let graph = imports();
    let mut cycles = Vec::new();
    for start in graph.keys() {
        // A path back to `start` through modules that sort after it finds
        // every cycle exactly once, from its least module.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == start {
                    cycles.push(
                        path.iter()
                            .chain([start])
                            .map(|module| module.join("::"))
                            .collect::<Vec<_>>()
                            .join(" -> "),
                    );
                } else if next > start && !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_finds_every_import() {
    let module = vec!["web".to_owned(), "views".to_owned()];
    let source = "use super::{Site, visit::{Visit, WriteBacks}};\nuse crate::{routes::{self, Mount}, session::Mechanism};\nlet x = crate::stores::open(url);";
    let found: BTreeSet<String> = references(&module, source)
        .into_iter()
        .map(|path| path.join("::"))
        .collect();
    for expected in [
        "web::Site",
        "web::visit::Visit",
        "web::visit::WriteBacks",
        "routes::self",
        "routes::Mount",
        "session::Mechanism",
        "stores::open",
    ] {
        assert!(found.contains(expected), "{expected} not in {found:?}");
    }
}

#[test]
fn a_mechanism_not_named_in_the_layers_is_among_the_mechanisms() {
    assert_eq!(layer_of("signed_session"), layer_of("token_session"));
    assert!(layer_of("signed_session") < layer_of("web"));
}
