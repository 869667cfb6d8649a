//! Skill ratings: a free-for-all generalisation of Elo.
//!
//! Each match is scored as every pair of its players playing one game: the
//! better-placed player of a pair wins it, equal placements draw. A player's
//! change is the usual Elo update summed over their pairs and scaled by
//! `1 / (n - 1)`, so a match moves a rating about as much as one two-player
//! game would, whatever the match size. The changes of a match sum to zero
//! (up to rounding), so ratings neither inflate nor deflate.
//!
//! Parameters: every player starts at [`INITIAL_RATING`]; the K factor is
//! [`K_FACTOR`]; 400 points of difference mean 10:1 odds, as in chess.
//! Ratings are whole numbers; changes are rounded to the nearest point.

/// A new player's rating.
pub const INITIAL_RATING: i32 = 1000;

/// The most a rating moves in one match (all pairs won against equals
/// gives half of it).
pub const K_FACTOR: f64 = 32.0;

/// The lowest rating; changes never push a rating below it.
pub const MIN_RATING: i32 = 100;

/// One player's standing going into the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rated {
    /// The rating before the match.
    pub rating: i32,
    /// 1 is best; equal placements draw.
    pub placement: u8,
}

/// The probability that a player rated `a` beats one rated `b`.
pub fn expected(a: i32, b: i32) -> f64 {
    1.0 / (1.0 + 10f64.powf(f64::from(b - a) / 400.0))
}

/// The rating changes for one match, in the order of `players`. A match of
/// fewer than two players changes nothing.
pub fn changes(players: &[Rated]) -> Vec<i32> {
    let n = players.len();
    if n < 2 {
        return vec![0; n];
    }
    let scale = K_FACTOR / (n - 1) as f64;
    players
        .iter()
        .enumerate()
        .map(|(i, me)| {
            let sum: f64 = players
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, other)| {
                    let actual = match me.placement.cmp(&other.placement) {
                        std::cmp::Ordering::Less => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Greater => 0.0,
                    };
                    actual - expected(me.rating, other.rating)
                })
                .sum();
            let delta = (scale * sum).round() as i32;
            (me.rating + delta).max(MIN_RATING) - me.rating
        })
        .collect()
}

/// The rating changes for one team match, in the order of `players`, each
/// given with its team: every team is rated as one player at its members'
/// average rating and its placement (members share it), and each member
/// moves by their team's change (never below [`MIN_RATING`]).
pub fn team_changes(players: &[(u8, Rated)]) -> Vec<i32> {
    let mut teams: Vec<(u8, i64, i64, u8)> = Vec::new();
    for &(team, rated) in players {
        match teams.iter_mut().find(|t| t.0 == team) {
            Some(t) => {
                t.1 += i64::from(rated.rating);
                t.2 += 1;
                t.3 = t.3.min(rated.placement);
            }
            None => teams.push((team, i64::from(rated.rating), 1, rated.placement)),
        }
    }
    let as_players: Vec<Rated> = teams
        .iter()
        .map(|&(_, sum, n, placement)| Rated {
            rating: (sum as f64 / n as f64).round() as i32,
            placement,
        })
        .collect();
    let team_deltas = changes(&as_players);
    players
        .iter()
        .map(|(team, rated)| {
            let idx = teams.iter().position(|t| t.0 == *team).unwrap_or(0);
            (rated.rating + team_deltas[idx]).max(MIN_RATING) - rated.rating
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(rating: i32, placement: u8) -> Rated {
        Rated { rating, placement }
    }

    #[test]
    fn two_equal_players_move_half_of_k() {
        assert_eq!(changes(&[rated(1000, 1), rated(1000, 2)]), vec![16, -16]);
        assert_eq!(changes(&[rated(1000, 1), rated(1000, 1)]), vec![0, 0]);
    }

    #[test]
    fn an_upset_moves_more_than_an_expected_result() {
        let expected_win = changes(&[rated(1400, 1), rated(1000, 2)]);
        let upset = changes(&[rated(1400, 2), rated(1000, 1)]);
        assert!(upset[1] > expected_win[0], "{upset:?} vs {expected_win:?}");
        assert_eq!(expected_win, vec![3, -3]);
        assert_eq!(upset, vec![-29, 29]);
    }

    #[test]
    fn a_free_for_all_is_zero_sum_and_ordered_by_placement() {
        let players: Vec<Rated> = (1..=16).map(|p| rated(1000, p)).collect();
        let deltas = changes(&players);
        assert!(deltas.windows(2).all(|w| w[0] >= w[1]), "{deltas:?}");
        assert!(
            deltas.iter().sum::<i32>().abs() <= 8,
            "zero-sum up to rounding: {deltas:?}"
        );
        assert_eq!(
            deltas[0], 16,
            "winning every pair against equals is half of K"
        );
        assert_eq!(deltas[15], -16);
    }

    #[test]
    fn ratings_have_a_floor_and_solo_matches_change_nothing() {
        assert_eq!(
            changes(&[rated(MIN_RATING + 10, 2), rated(MIN_RATING + 10, 1)]),
            vec![-10, 16]
        );
        assert_eq!(changes(&[rated(1000, 1)]), vec![0]);
    }

    #[test]
    fn a_team_moves_with_its_average_against_the_other_team() {
        // Equal teams: the winners each gain half of K, the losers lose it.
        let equal = [
            (0, rated(1100, 1)),
            (0, rated(900, 1)),
            (1, rated(1000, 2)),
            (1, rated(1000, 2)),
        ];
        assert_eq!(team_changes(&equal), vec![16, 16, -16, -16]);
        // A strong team beating a weak one moves little, whoever is in it.
        let expected = team_changes(&[(0, rated(1400, 1)), (1, rated(1000, 2))]);
        assert_eq!(expected, changes(&[rated(1400, 1), rated(1000, 2)]));
        // A draw between equal teams changes nothing; one team alone neither.
        assert_eq!(
            team_changes(&[(0, rated(1000, 1)), (1, rated(1000, 1))]),
            vec![0, 0]
        );
        assert_eq!(
            team_changes(&[(0, rated(1000, 1)), (0, rated(1200, 1))]),
            vec![0, 0]
        );
        // The floor holds per player.
        let floor = team_changes(&[
            (0, rated(MIN_RATING + 4, 2)),
            (0, rated(1996, 2)),
            (1, rated(1000, 1)),
        ]);
        assert_eq!(floor[0], -4);
    }
}
