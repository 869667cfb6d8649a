//! The composite number a board orders players by, the rule each operator
//! applies to it, and the paging cursor built from it.
//!
//! `composite = score * 2^31 + (2^31 - 1 - seconds since 2024-01-01 UTC)`:
//! a higher score always wins, and of two equal scores the one reached
//! earlier (by whole second) has the larger composite. Scores are refused
//! from 2^22 up, so a composite stays below 2^53 and is exact in the `f64`
//! of a Redis sorted set and of Lua. Times before 2024 count as 2024-01-01
//! and times after 2092-01-19 as that second; neither happens in practice.
//!
//! `submit.lua` mirrors [`next_composite`] line for line; the contract tests
//! run the same cases against both.

use super::{LeaderboardError, Operator, PlayerId};

/// Bits of the composite below the score, holding the time part.
const TIME_BITS: u32 = 31;

/// The time part of the latest representable second.
const TIME_MAX: u64 = (1 << TIME_BITS) - 1;

/// The largest score a board holds: every score is below 2^22.
pub const MAX_SCORE: u64 = (1 << 22) - 1;

/// The largest composite, below 2^53 so `f64` holds it exactly.
const MAX_COMPOSITE: u64 = (MAX_SCORE << TIME_BITS) | TIME_MAX;
const _: () = assert!(MAX_COMPOSITE < 1 << 53);

/// 2024-01-01T00:00:00Z in Unix seconds, where the time part starts.
const TIME_EPOCH_S: u64 = 1_704_067_200;

/// The time part for a moment: larger for earlier moments, so earlier
/// achievers sort first among equal scores.
pub(crate) fn time_part(now_ms: u64) -> u64 {
    let seconds = (now_ms / 1000).saturating_sub(TIME_EPOCH_S).min(TIME_MAX);
    TIME_MAX - seconds
}

/// The composite of a score (at most [`MAX_SCORE`]) reached at a moment
/// given by its [`time_part`].
pub(crate) fn compose(score: u64, time_part: u64) -> u64 {
    debug_assert!(score <= MAX_SCORE && time_part <= TIME_MAX);
    (score << TIME_BITS) | time_part
}

/// The score held in a composite.
pub(crate) fn score_of(composite: u64) -> u64 {
    composite >> TIME_BITS
}

/// The Unix second at which the score of a composite was reached.
#[cfg(test)]
pub(crate) fn reached_at_s(composite: u64) -> u64 {
    TIME_EPOCH_S + (TIME_MAX - (composite & TIME_MAX))
}

/// What a sorted set stores for a composite. It is negated so that
/// ascending order (`ZRANGE`, `ZRANK`) puts the best first, and Redis breaks
/// ties between equal stored scores by member ascending: the lower player
/// id first, the documented rule. `ZREVRANGE` would reverse that tie order.
pub(crate) fn stored(composite: u64) -> f64 {
    -(composite as f64)
}

/// The composite of a value read back from a sorted set, if it is one this
/// module wrote.
pub(crate) fn from_stored(stored: f64) -> Option<u64> {
    let composite = -stored;
    // `-0.0` is what a composite of 0 comes back as; it compares equal to 0.
    let ok = composite.is_finite()
        && composite >= 0.0
        && composite <= MAX_COMPOSITE as f64
        && composite.fract() == 0.0;
    ok.then_some(composite as u64)
}

/// The player's new composite after a match under `op`, or `None` when it
/// stays as it is. `Err` carries an increment total that would exceed
/// [`MAX_SCORE`].
///
/// - Increment adds the value; the total counts as reached now. Adding 0
///   keeps the entry (and when it was reached) unchanged, but puts a new
///   player on the board with 0.
/// - Best keeps the larger composite: a higher score replaces, an equal one
///   reached later does not.
/// - Set replaces with the value reached now, unless it equals the current
///   score, which then keeps the moment it was first reached.
pub(crate) fn next_composite(
    op: Operator,
    old: Option<u64>,
    value: u64,
    time_part: u64,
) -> Result<Option<u64>, u64> {
    debug_assert!(value <= MAX_SCORE);
    let Some(old) = old else {
        return Ok(Some(compose(value, time_part)));
    };
    match op {
        Operator::Increment => {
            if value == 0 {
                return Ok(None);
            }
            let total = score_of(old) + value;
            if total > MAX_SCORE {
                return Err(total);
            }
            Ok(Some(compose(total, time_part)))
        }
        Operator::Best => {
            let new = compose(value, time_part);
            Ok((new > old).then_some(new))
        }
        Operator::Set => Ok((score_of(old) != value).then(|| compose(value, time_part))),
    }
}

/// A position on a board: just after this entry. Encoded as
/// `<composite>.<player id>`; clients treat it as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The composite of the last entry handed out.
    pub composite: u64,
    /// Its player, which breaks ties between equal composites.
    pub player: PlayerId,
}

impl Cursor {
    /// The string handed to clients.
    pub(crate) fn encode(self) -> String {
        format!("{}.{}", self.composite, self.player)
    }

    /// Reads a cursor made by [`Cursor::encode`].
    pub(crate) fn decode(text: &str) -> Result<Cursor, LeaderboardError> {
        let (composite, player) = text.split_once('.').ok_or(LeaderboardError::BadCursor)?;
        let digits = |s: &str, hex: bool| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&b)))
        };
        if !digits(composite, false)
            || composite.len() > 16
            || player.len() != 16
            || !digits(player, true)
        {
            return Err(LeaderboardError::BadCursor);
        }
        let composite: u64 = composite.parse().map_err(|_| LeaderboardError::BadCursor)?;
        if composite > MAX_COMPOSITE {
            return Err(LeaderboardError::BadCursor);
        }
        let player = player.parse().map_err(|_| LeaderboardError::BadCursor)?;
        Ok(Cursor { composite, player })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z plus `s` seconds, in ms.
    fn at(s: u64) -> u64 {
        (TIME_EPOCH_S + s) * 1000
    }

    #[test]
    fn composites_round_trip_and_stay_exact_in_f64() {
        for (score, s) in [
            (0, 0),
            (1, 59),
            (MAX_SCORE, 0),
            (MAX_SCORE, TIME_MAX),
            (1234, 86_400),
        ] {
            let c = compose(score, time_part(at(s)));
            assert_eq!(score_of(c), score);
            assert_eq!(reached_at_s(c), TIME_EPOCH_S + s);
            assert_eq!(from_stored(stored(c)), Some(c));
            assert_eq!(stored(c) as i64, -(c as i64), "exact in f64");
        }
        assert_eq!(from_stored(-0.0), Some(0));
        for bad in [1.0, -0.5, f64::NAN, -(2f64.powi(53))] {
            assert_eq!(from_stored(bad), None, "{bad}");
        }
    }

    #[test]
    fn higher_scores_then_earlier_seconds_order_first() {
        let early = compose(10, time_part(at(100)));
        let late = compose(10, time_part(at(101)));
        let more = compose(11, time_part(at(10_000_000)));
        assert!(more > early && early > late);
        // Milliseconds within a second do not matter: the tie goes to the
        // player id.
        assert_eq!(time_part(at(100)), time_part(at(100) + 999));
        // Out-of-range moments clamp instead of wrapping.
        assert_eq!(time_part(0), TIME_MAX);
        assert_eq!(time_part(u64::MAX), 0);
        // The stored value sorts ascending in the same order.
        assert!(stored(more) < stored(early) && stored(early) < stored(late));
    }

    #[test]
    fn operators_follow_their_rules() {
        let t0 = time_part(at(100));
        let t1 = time_part(at(200));
        let c = |score| compose(score, t0);
        let cases = [
            (Operator::Increment, None, 0, Ok(Some(compose(0, t1)))),
            (Operator::Increment, Some(c(5)), 3, Ok(Some(compose(8, t1)))),
            (Operator::Increment, Some(c(5)), 0, Ok(None)),
            (
                Operator::Increment,
                Some(c(MAX_SCORE)),
                1,
                Err(MAX_SCORE + 1),
            ),
            (Operator::Best, None, 4, Ok(Some(compose(4, t1)))),
            (Operator::Best, Some(c(5)), 6, Ok(Some(compose(6, t1)))),
            (Operator::Best, Some(c(5)), 5, Ok(None)),
            (Operator::Best, Some(c(5)), 4, Ok(None)),
            (Operator::Set, Some(c(5)), 4, Ok(Some(compose(4, t1)))),
            (Operator::Set, Some(c(5)), 5, Ok(None)),
            (Operator::Set, None, 0, Ok(Some(compose(0, t1)))),
        ];
        for (op, old, value, want) in cases {
            assert_eq!(
                next_composite(op, old, value, t1),
                want,
                "{op:?} {old:?} {value}"
            );
        }
        // An equal score submitted with an earlier time (a late retry of an
        // older match) is the earlier achievement, so it wins under Best.
        assert_eq!(
            next_composite(Operator::Best, Some(compose(5, t1)), 5, t0),
            Ok(Some(compose(5, t0)))
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            composite: compose(42, time_part(at(7))),
            player: PlayerId(0xabc),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
        let too_big = format!("{}.0000000000000001", MAX_COMPOSITE + 1);
        for bad in [
            "",
            ".",
            "12",
            "12.",
            ".0000000000000001",
            "12.000000000000001",
            "12.000000000000000G",
            "12.000000000000000A",
            "-1.0000000000000001",
            "+1.0000000000000001",
            "1.2.0000000000000001",
            too_big.as_str(),
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(LeaderboardError::BadCursor)),
                "{bad:?}"
            );
        }
    }
}
