//! "The decision at a glance": the table the benchmark generates near the
//! top of docs/comparison.md (its section "At a glance"), compiled into the
//! binary and shown at the foot
//! of the inspector, so that a visitor goes from what the grid shows to the
//! measured figures in one click, with the server alone. The section's
//! paragraphs and tables are kept; inline Markdown is reduced to its text
//! (the page escapes it like any other value). Without such a section the
//! inspector shows no link and no table.

use std::sync::LazyLock;

use serde::Serialize;

const COMPARISON: &str = include_str!("../../docs/comparison.md");

/// The section's title, as docs/comparison.md spells its heading (`## At
/// a glance`, into which the benchmark splices its `glance` table), or as
/// the table's own page (docs/results/glance.md) does.
const TITLES: [&str; 2] = ["At a glance", "The decision at a glance"];

/// A paragraph or a table of the section.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Block {
    pub text: Option<String>,
    pub table: Option<Table>,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The section as this server was built; empty when docs/comparison.md has
/// none.
pub static DECISION: LazyLock<Vec<Block>> = LazyLock::new(|| section(COMPARISON));

/// The blocks of the `## The decision at a glance` section of `markdown`
/// (at whatever heading level), up to the next heading of its level or
/// above. Pictures are left out: the server does not serve them.
fn section(markdown: &str) -> Vec<Block> {
    let mut lines = markdown.lines();
    let Some(level) = lines.by_ref().find_map(title_level) else {
        return Vec::new();
    };
    let lines = lines.take_while(|line| heading_level(line).is_none_or(|deeper| deeper > level));
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut rows: Vec<&str> = Vec::new();
    let mut in_comment = false;
    for line in lines {
        let line = line.trim();
        if in_comment || line.starts_with("<!--") {
            in_comment = !line.contains("-->");
            continue;
        }
        if line.starts_with("![") {
            continue;
        }
        if line.starts_with('|') {
            flush_paragraph(&mut paragraph, &mut blocks);
            rows.push(line);
        } else {
            flush_table(&mut rows, &mut blocks);
            if line.is_empty() {
                flush_paragraph(&mut paragraph, &mut blocks);
            } else {
                paragraph.push(line.trim_start_matches('#').trim());
            }
        }
    }
    flush_paragraph(&mut paragraph, &mut blocks);
    flush_table(&mut rows, &mut blocks);
    blocks
}

/// The level of `line` if it is a Markdown heading: 1 for `#`, 2 for `##`.
fn heading_level(line: &str) -> Option<usize> {
    let level = line.chars().take_while(|c| *c == '#').count();
    (level > 0 && line[level..].starts_with(' ')).then_some(level)
}

/// The level of `line` if it is the section's heading.
fn title_level(line: &str) -> Option<usize> {
    let level = heading_level(line)?;
    let title = line[level..].trim();
    TITLES
        .iter()
        .any(|known| title.eq_ignore_ascii_case(known))
        .then_some(level)
}

fn flush_paragraph(lines: &mut Vec<&str>, blocks: &mut Vec<Block>) {
    if !lines.is_empty() {
        blocks.push(Block {
            text: Some(plain(&lines.join(" "))),
            table: None,
        });
        lines.clear();
    }
}

/// A pipe table: its head, the `|---|` line, then its rows. Lines that do
/// not make a table are dropped rather than shown as pipes.
fn flush_table(lines: &mut Vec<&str>, blocks: &mut Vec<Block>) {
    let mut cells = lines.iter().map(|line| cells(line));
    if let (Some(head), Some(rule)) = (cells.next(), cells.next())
        && rule
            .iter()
            .all(|cell| !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':' | ' ')))
    {
        blocks.push(Block {
            text: None,
            table: Some(Table {
                head,
                rows: cells.collect(),
            }),
        });
    }
    lines.clear();
}

/// The cells of one table line, `\|` being a pipe inside a cell.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(plain(&std::mem::take(&mut cell))),
            _ => cell.push(c),
        }
    }
    cells.push(plain(&cell));
    cells
}

/// Inline Markdown reduced to its text: `[text](target)` and
/// `![text](target)` become `text`; emphasis (`**`, `*`, `__`), code marks
/// and `<br>` go.
fn plain(markdown: &str) -> String {
    let mut text = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(open) = rest.find('[') {
        let (before, from) = rest.split_at(open);
        text.push_str(before.strip_suffix('!').unwrap_or(before));
        // `[label](target)`: the label's first `]` must open the target.
        let link = from.find(']').and_then(|middle| {
            let target = from[middle + 1..].strip_prefix('(')?;
            let close = target.find(')')?;
            Some((&from[1..middle], middle + 2 + close + 1))
        });
        match link {
            Some((label, end)) => {
                text.push_str(label);
                rest = &from[end..];
            }
            None => {
                text.push('[');
                rest = &from[1..];
            }
        }
    }
    text.push_str(rest);
    let text = text
        .replace("<br>", " ")
        .replace("<br/>", " ")
        .replace('*', "")
        .replace("__", "")
        .replace('`', "");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# Title\n\nIntro.\n\n## The decision at a glance\n\n\
        <!-- bench:decision -->\nWhat each costs, **measured**.\n\
        See [the tables](#overhead).\n\n\
        | | `/server` | `/token` |\n|---|--:|:-:|\n\
        | logout ends a copy | **yes** | no \\| not before `exp` |\n\
        | bytes | 43 | 412 |\n<!-- /bench:decision -->\n\n## Next\n\nNot this.\n";

    #[test]
    fn the_section_is_its_paragraphs_and_tables_in_plain_text() {
        let blocks = section(PAGE);
        assert_eq!(
            blocks,
            vec![
                Block {
                    text: Some("What each costs, measured. See the tables.".to_owned()),
                    table: None,
                },
                Block {
                    text: None,
                    table: Some(Table {
                        head: vec!["".into(), "/server".into(), "/token".into()],
                        rows: vec![
                            vec![
                                "logout ends a copy".into(),
                                "yes".into(),
                                "no | not before exp".into()
                            ],
                            vec!["bytes".into(), "43".into(), "412".into()],
                        ],
                    }),
                },
            ]
        );
    }

    #[test]
    fn the_section_may_be_a_page_of_its_own_and_ends_at_a_heading_of_its_level() {
        let page = "# The decision at a glance\n\n*CPU* per visit, [more](population.md).\n\n\
            ### Notes\n\nStill here.\n\n![a chart](cpu.svg)\n\n# Elsewhere\n\nGone.\n";
        let texts: Vec<_> = section(page)
            .into_iter()
            .filter_map(|block| block.text)
            .collect();
        assert_eq!(texts, ["CPU per visit, more.", "Notes", "Still here."]);
    }

    #[test]
    fn the_comparisons_at_a_glance_section_is_the_one_read_and_empty_until_spliced() {
        let page = "# Which?\n\n## At a glance\n\n<!-- bench:glance -->\n<!-- /bench:glance -->\n\n\
            ## The short answer\n\nNot this.\n";
        assert!(section(page).is_empty());
        let spliced = page.replace(
            "<!-- /bench:glance -->",
            "| mechanism | bytes |\n|---|---:|\n| `/server` | 42 |\n<!-- /bench:glance -->",
        );
        let blocks = section(&spliced);
        assert_eq!(blocks.len(), 1);
        let table = blocks[0].table.as_ref().map(|table| &table.rows);
        assert_eq!(
            table,
            Some(&vec![vec!["/server".to_owned(), "42".to_owned()]])
        );
    }

    #[test]
    fn without_the_section_there_is_nothing_to_show() {
        assert!(section("# Title\n\n## Other\n\n| a |\n|---|\n| b |\n").is_empty());
    }

    #[test]
    fn markup_that_is_not_a_link_is_kept_as_text() {
        assert_eq!(plain("a [b] c ![alt](x.png) <b>"), "a [b] c alt <b>");
    }
}
