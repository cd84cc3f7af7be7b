//! Generated tables in a hand-written page: the text between
//! `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` is replaced by table
//! NAME, and nothing outside the markers is touched.

use anyhow::bail;

/// `page` with every marked block replaced; `tables` maps a name to its text.
/// Returns the new page and the names it replaced. An unknown name or an
/// unclosed marker is an error, so that a typo never leaves stale numbers.
pub fn splice(page: &str, tables: &[(&str, String)]) -> anyhow::Result<(String, Vec<String>)> {
    let mut output = String::with_capacity(page.len());
    let mut replaced = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<!-- bench:") {
        let after_open = &rest[start + "<!-- bench:".len()..];
        let Some(name_end) = after_open.find(" -->") else {
            bail!("a `<!-- bench:` marker is not closed with ` -->`");
        };
        let name = after_open[..name_end].trim();
        let open = format!("<!-- bench:{name} -->");
        let close = format!("<!-- /bench:{name} -->");
        let Some((_, text)) = tables.iter().find(|(table, _)| *table == name) else {
            let known: Vec<&str> = tables.iter().map(|(table, _)| *table).collect();
            bail!(
                "no table is named `{name}`; the tables are: {}",
                known.join(", ")
            );
        };
        let body_start = start + open.len();
        let Some(close_at) = rest[body_start..].find(&close) else {
            bail!("`{open}` has no `{close}`");
        };
        output.push_str(&rest[..body_start]);
        output.push('\n');
        output.push_str(text.trim_end());
        output.push('\n');
        output.push_str(&close);
        rest = &rest[body_start + close_at + close.len()..];
        replaced.push(name.to_owned());
    }
    output.push_str(rest);
    Ok((output, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Vec<(&'static str, String)> {
        vec![("rps", "| a |\n".to_owned()), ("bytes", "B".to_owned())]
    }

    #[test]
    fn replaces_only_between_the_markers() {
        let page = "intro\n<!-- bench:rps -->\nold\n<!-- /bench:rps -->\noutro\n";
        let (spliced, replaced) = splice(page, &tables()).unwrap();
        assert_eq!(
            spliced,
            "intro\n<!-- bench:rps -->\n| a |\n<!-- /bench:rps -->\noutro\n"
        );
        assert_eq!(replaced, ["rps"]);
    }

    #[test]
    fn splicing_twice_changes_nothing_more() {
        let page =
            "<!-- bench:bytes --><!-- /bench:bytes --> and <!-- bench:rps -->x<!-- /bench:rps -->";
        let (once, _) = splice(page, &tables()).unwrap();
        let (twice, _) = splice(&once, &tables()).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn an_unknown_table_is_an_error_naming_the_known_ones() {
        let err = splice("<!-- bench:rsp -->x<!-- /bench:rsp -->", &tables()).unwrap_err();
        assert!(err.to_string().contains("rps, bytes"), "{err}");
    }

    #[test]
    fn an_unclosed_block_is_an_error() {
        assert!(splice("<!-- bench:rps --> no end", &tables()).is_err());
    }

    #[test]
    fn a_page_without_markers_is_unchanged() {
        let (spliced, replaced) = splice("plain text", &tables()).unwrap();
        assert_eq!(spliced, "plain text");
        assert!(replaced.is_empty());
    }
}
