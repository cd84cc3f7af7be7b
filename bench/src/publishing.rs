//! Whether a run's figures may go into the docs (`--splice`): only those of
//! a committed tree with nothing else in it, measured in full on a machine
//! that was not busy when it started,
//! by a run whose checks all passed. A refused run still writes its results,
//! but under `target/`, never into the docs.

use std::path::{Path, PathBuf};

use crate::results::Checks;

/// Why a run may not be published, known before it starts: a shortened
/// run, or the tree it measures. `dirty` is
/// [`crate::machine::tree_is_dirty`]'s answer.
pub fn refusal_before(shortened: bool, dirty: Option<bool>) -> Option<String> {
    if shortened {
        return Some(
            "the run is shorter than a full one (--quick, or fewer seconds or rounds than the \
             defaults): a check of the harness, not figures to publish"
                .to_owned(),
        );
    }
    match dirty {
        Some(false) => None,
        Some(true) => Some(
            "the git tree has uncommitted changes or untracked files, so the numbers would come \
             from no commit anyone can check out; commit first (or leave out --splice)"
                .to_owned(),
        ),
        None => Some(
            "`git status` does not answer here, so the commit measured cannot be told; run from \
             the project's git tree"
                .to_owned(),
        ),
    }
}

/// Why a re-render (`--render`) may not be spliced into the docs, known
/// before anything is written. A re-render measures nothing, so what must
/// be committed is what it reads: the results file, the harness that turns
/// them into text, and the pages it splices into (`dirty` is
/// [`crate::machine::paths_are_dirty`]'s answer for those). The run's own
/// busy machine or failed checks still refuse it, as they refused the run;
/// a shortened run does not, since the text it writes says so.
pub fn refusal_to_render(dirty: Option<bool>) -> Option<String> {
    match dirty {
        Some(false) => None,
        Some(true) => Some(
            "the results file, the harness (bench/) or a page to splice has uncommitted changes \
             or untracked files, so the text would come from no commit anyone can check out; \
             commit first (or leave out --splice)"
                .to_owned(),
        ),
        None => Some(
            "`git status` does not answer here, so what is rendered cannot be told; run from \
             the project's git tree"
                .to_owned(),
        ),
    }
}

/// Why a measured run may not be published, one line each; none: it may.
/// `busy` describes the machine's load when the run started, if it was busy.
pub fn refusals_after(busy: Option<String>, checks: &Checks) -> Vec<String> {
    let mut refusals = Vec::new();
    if let Some(busy) = busy {
        refusals.push(format!(
            "the machine was busy when the run started ({busy})"
        ));
    }
    if checks.error_responses > 0 || checks.transport_errors > 0 {
        refusals.push(format!(
            "{} error responses and {} transport errors during the throughput measurements",
            checks.error_responses, checks.transport_errors
        ));
    }
    if !checks.flood_flat {
        refusals.push("a flood left memory or a store growing".to_owned());
    }
    refusals.extend(
        checks
            .problems
            .iter()
            .map(|problem| format!("a check failed: {problem}")),
    );
    refusals
}

/// Where a refused run's results go instead of the docs: next to the
/// build, so that nothing in the tree changes.
pub fn refused_folder(server_binary: &Path) -> PathBuf {
    server_binary
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_owned)
        .join("bench-refused")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_run_of_a_clean_tree_may_be_published_and_nothing_else() {
        assert_eq!(refusal_before(false, Some(false)), None);
        assert!(refusal_before(false, Some(true)).is_some_and(|why| why.contains("untracked")));
        assert!(refusal_before(false, None).is_some());
        assert!(refusal_before(true, Some(false)).is_some_and(|why| why.contains("shorter")));
    }

    #[test]
    fn a_re_render_may_be_spliced_only_from_committed_inputs() {
        assert_eq!(refusal_to_render(Some(false)), None);
        assert!(refusal_to_render(Some(true)).is_some_and(|why| why.contains("uncommitted")));
        assert!(refusal_to_render(None).is_some());
    }

    fn passed() -> Checks {
        Checks {
            error_responses: 0,
            transport_errors: 0,
            flood_flat: true,
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_quiet_run_whose_checks_passed_may_be_published() {
        assert!(refusals_after(None, &passed()).is_empty());
    }

    #[test]
    fn a_busy_machine_is_refused() {
        let refusals = refusals_after(Some("load average 3.1 on 2 cores".into()), &passed());
        assert_eq!(refusals.len(), 1);
        assert!(refusals[0].contains("busy"), "{refusals:?}");
    }

    #[test]
    fn a_failed_check_is_refused() {
        let failed = [
            Checks {
                problems: vec!["A/A check: the ratio is 0.7".into()],
                ..passed()
            },
            Checks {
                error_responses: 3,
                ..passed()
            },
            Checks {
                flood_flat: false,
                ..passed()
            },
        ];
        for checks in failed {
            assert_eq!(refusals_after(None, &checks).len(), 1, "{checks:?}");
        }
    }

    #[test]
    fn a_refused_run_writes_under_the_build_folder() {
        assert_eq!(
            refused_folder(Path::new("/w/target/release/sessions-vs-jwt")),
            PathBuf::from("/w/target/bench-refused")
        );
    }
}
