//! What a paired difference lets the text say: the figure with its
//! quartiles, and a verdict only as far as the quartiles agree. The median
//! of a few dozen rounds can land on either side of a bound by chance; the
//! whole interquartile range on one side of it cannot, often, so "ahead",
//! "behind", "met" and "not met" are said only then, and otherwise that
//! the run cannot tell.

use crate::{glance::NOT_MEASURED, results::PairedDifference};

/// Where a difference's interquartile range lies against a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Both quartiles below it.
    Below,
    /// One quartile on each side, or on it: the run cannot tell.
    Straddling,
    /// Both quartiles above it.
    Above,
}

pub fn standing(difference: &PairedDifference, bound: f64) -> Option<Standing> {
    let (first, third) = (difference.first_quartile_us, difference.third_quartile_us);
    if !(first.is_finite() && third.is_finite()) {
        return None;
    }
    Some(if third < bound {
        Standing::Below
    } else if first > bound {
        Standing::Above
    } else {
        Standing::Straddling
    })
}

/// `+1.3 µs (quartiles +1.1 to +1.6, 24 rounds)`.
pub fn figure(difference: &PairedDifference) -> String {
    if !difference.median_us.is_finite() {
        return NOT_MEASURED.to_owned();
    }
    format!(
        "{:+.1} µs (quartiles {:+.1} to {:+.1}, {} rounds)",
        difference.median_us,
        difference.first_quartile_us,
        difference.third_quartile_us,
        difference.rounds
    )
}

/// The app against a peer, from the app's CPU per request minus the
/// peer's: `ahead` only when the whole interquartile range says the app
/// needs less.
pub fn against_peer(difference: &PairedDifference) -> &'static str {
    match standing(difference, 0.0) {
        Some(Standing::Below) => "ahead",
        Some(Standing::Straddling) => "not distinguishable",
        Some(Standing::Above) => "behind",
        None => NOT_MEASURED,
    }
}

/// The target "the app ahead of the peer": met only when it is ahead.
pub fn ahead_as_a_target(difference: &PairedDifference) -> String {
    match against_peer(difference) {
        "ahead" => "met: ahead".to_owned(),
        NOT_MEASURED => NOT_MEASURED.to_owned(),
        other => format!("**not met**: {other}"),
    }
}

/// A goal of at most `goal` µs: met when the whole interquartile range is
/// below it, not met when the whole range is above it.
pub fn at_most(difference: &PairedDifference, goal: f64) -> &'static str {
    match standing(difference, goal) {
        Some(Standing::Below) => "met",
        Some(Standing::Straddling) => "not distinguishable from the goal",
        Some(Standing::Above) => "**not met**",
        None => NOT_MEASURED,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A paired difference of 20 rounds with these quartiles and median.
    pub(crate) fn difference(first: f64, median: f64, third: f64) -> PairedDifference {
        PairedDifference {
            median_us: median,
            first_quartile_us: first,
            third_quartile_us: third,
            rounds: 20,
        }
    }

    #[test]
    fn the_app_is_ahead_only_when_both_quartiles_say_it_needs_less() {
        assert_eq!(against_peer(&difference(-1.6, -1.3, -1.1)), "ahead");
        assert_eq!(
            against_peer(&difference(-1.6, -1.3, 0.2)),
            "not distinguishable"
        );
        assert_eq!(
            against_peer(&difference(-1.6, -1.3, 0.0)),
            "not distinguishable"
        );
        assert_eq!(
            against_peer(&difference(-0.2, 0.4, 0.9)),
            "not distinguishable"
        );
        assert_eq!(against_peer(&difference(0.1, 0.4, 0.9)), "behind");
    }

    #[test]
    fn the_target_ahead_is_met_only_when_the_app_is_ahead() {
        assert_eq!(
            ahead_as_a_target(&difference(-1.6, -1.3, -1.1)),
            "met: ahead"
        );
        assert_eq!(
            ahead_as_a_target(&difference(-1.6, -1.3, 0.2)),
            "**not met**: not distinguishable"
        );
        assert_eq!(
            ahead_as_a_target(&difference(0.1, 0.4, 0.9)),
            "**not met**: behind"
        );
    }

    #[test]
    fn a_goal_is_met_only_when_both_quartiles_are_within_it() {
        assert_eq!(at_most(&difference(0.6, 0.8, 0.9), 1.0), "met");
        assert_eq!(
            at_most(&difference(0.6, 0.8, 1.2), 1.0),
            "not distinguishable from the goal"
        );
        assert_eq!(at_most(&difference(1.1, 1.4, 1.9), 1.0), "**not met**");
    }

    #[test]
    fn a_difference_without_quartiles_gives_no_verdict() {
        let unmeasured = difference(f64::NAN, f64::NAN, f64::NAN);
        assert_eq!(against_peer(&unmeasured), NOT_MEASURED);
        assert_eq!(at_most(&unmeasured, 1.0), NOT_MEASURED);
        assert_eq!(figure(&unmeasured), NOT_MEASURED);
    }

    #[test]
    fn the_figure_gives_the_median_the_quartiles_and_the_rounds_with_signs() {
        assert_eq!(
            figure(&difference(1.06, 1.3, 1.6)),
            "+1.3 µs (quartiles +1.1 to +1.6, 20 rounds)"
        );
        assert_eq!(
            figure(&difference(-1.6, -1.3, 0.2)),
            "-1.3 µs (quartiles -1.6 to +0.2, 20 rounds)"
        );
    }
}
