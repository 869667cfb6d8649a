//! Splitting a formed group into teams balanced by rating (pure).
//!
//! Tickets go whole (a party plays on one team). Formation only forms team
//! groups whose tickets can be packed into full teams ([`packable`]); the
//! split packs them, largest and strongest first, each preferring the team
//! with room whose rating total is lowest (backtracking when a choice
//! leaves a party no room), then swaps tickets of equal size between the
//! strongest and the weakest team while a swap narrows the gap.
//! Deterministic for the same tickets, so a group re-hosted elsewhere is
//! split the same way.

use skirmish_shared::game::TeamId;
use skirmish_shared::proto::PlayerId;
use skirmish_shared::proto::TicketId;

/// One ticket to place: its players and their mean rating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its id, the last tie-breaker.
    pub id: TicketId,
    /// Who.
    pub players: Vec<PlayerId>,
    /// The party's mean rating.
    pub rating: i32,
}

/// Most placements tried while packing, so a pathological group costs a
/// bounded amount of work (then the tickets go where fewest players are).
const MAX_STEPS: usize = 100_000;

/// Whether tickets of these sizes fit into `teams` teams of `team_size`
/// each, every ticket whole.
pub fn packable(sizes: &[usize], teams: usize, team_size: usize) -> bool {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut room = vec![team_size; teams];
    let mut steps = 0;
    fn fit(sizes: &[usize], room: &mut [usize], steps: &mut usize) -> bool {
        let Some((&n, rest)) = sizes.split_first() else {
            return true;
        };
        for t in 0..room.len() {
            // Teams with the same room left are interchangeable: try one.
            if room[t] < n || room[..t].contains(&room[t]) {
                continue;
            }
            *steps += 1;
            if *steps > MAX_STEPS {
                return false;
            }
            room[t] -= n;
            let ok = fit(rest, room, steps);
            room[t] += n;
            if ok {
                return true;
            }
        }
        false
    }
    fit(&sizes, &mut room, &mut steps)
}

/// Each player's team, for `teams` teams of `team_size`.
pub fn split(entries: &[Entry], teams: u8, team_size: usize) -> Vec<(PlayerId, TeamId)> {
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by(|a, b| {
        b.players
            .len()
            .cmp(&a.players.len())
            .then(b.rating.cmp(&a.rating))
            .then(a.id.cmp(&b.id))
    });
    // Per team: players placed and their rating total.
    let mut load: Vec<(usize, i64)> = vec![(0, 0); usize::from(teams)];
    let mut placed: Vec<(&Entry, usize)> = order.iter().map(|&e| (e, 0)).collect();
    let mut steps = 0;
    if !pack(&mut placed, 0, &mut load, team_size, &mut steps) {
        // Not packable (formation does not form such groups): each ticket
        // goes where the fewest players are.
        load.iter_mut().for_each(|l| *l = (0, 0));
        for (entry, team) in placed.iter_mut() {
            let t = (0..load.len()).min_by_key(|&t| (load[t].0, t)).unwrap_or(0);
            load[t].0 += entry.players.len();
            load[t].1 += weight(entry);
            *team = t;
        }
    }
    improve(&mut placed, &mut load);
    placed
        .iter()
        .flat_map(|(entry, team)| entry.players.iter().map(move |&p| (p, TeamId(*team as u8))))
        .collect()
}

/// Places tickets `i..` (largest first), each preferring the team with room
/// whose rating total is lowest, backtracking when a choice leaves a later
/// ticket no room.
fn pack(
    placed: &mut [(&Entry, usize)],
    i: usize,
    load: &mut [(usize, i64)],
    team_size: usize,
    steps: &mut usize,
) -> bool {
    let Some(&(entry, _)) = placed.get(i) else {
        return true;
    };
    let n = entry.players.len();
    let mut choices: Vec<usize> = (0..load.len())
        .filter(|&t| load[t].0 + n <= team_size)
        .collect();
    choices.sort_by_key(|&t| (load[t].1, load[t].0, t));
    for t in choices {
        *steps += 1;
        if *steps > MAX_STEPS {
            return false;
        }
        load[t].0 += n;
        load[t].1 += weight(entry);
        placed[i].1 = t;
        if pack(placed, i + 1, load, team_size, steps) {
            return true;
        }
        load[t].0 -= n;
        load[t].1 -= weight(entry);
    }
    false
}

/// A ticket's rating total.
fn weight(entry: &Entry) -> i64 {
    i64::from(entry.rating) * entry.players.len() as i64
}

/// Swaps tickets of equal size between the strongest and the weakest team
/// while the best such swap narrows their gap (bounded: each swap narrows
/// it, and there are at most a few dozen tickets).
fn improve(placed: &mut [(&Entry, usize)], load: &mut [(usize, i64)]) {
    for _ in 0..64 {
        let (Some(hi), Some(lo)) = (
            (0..load.len()).max_by_key(|&t| (load[t].1, std::cmp::Reverse(t))),
            (0..load.len()).min_by_key(|&t| (load[t].1, t)),
        ) else {
            return;
        };
        let gap = load[hi].1 - load[lo].1;
        let mut best: Option<(usize, usize, i64)> = None;
        for (i, (a, _)) in placed.iter().enumerate().filter(|(_, (_, t))| *t == hi) {
            for (j, (b, _)) in placed.iter().enumerate().filter(|(_, (_, t))| *t == lo) {
                if a.players.len() != b.players.len() {
                    continue;
                }
                let moved = weight(a) - weight(b);
                let after = (gap - 2 * moved).abs();
                if after < gap && best.is_none_or(|(_, _, g)| after < g) {
                    best = Some((i, j, after));
                }
            }
        }
        let Some((i, j, _)) = best else { return };
        let moved = weight(placed[i].0) - weight(placed[j].0);
        load[hi].1 -= moved;
        load[lo].1 += moved;
        placed[i].1 = lo;
        placed[j].1 = hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, n: u64, rating: i32) -> Entry {
        Entry {
            id: format!("{id:016x}").into(),
            players: (0..n).map(|i| PlayerId(id * 100 + i)).collect(),
            rating,
        }
    }

    fn averages(entries: &[Entry], split: &[(PlayerId, TeamId)]) -> Vec<f64> {
        (0..2u8)
            .map(|t| {
                let ratings: Vec<i32> = split
                    .iter()
                    .filter(|(_, team)| team.0 == t)
                    .map(|(p, _)| {
                        entries
                            .iter()
                            .find(|e| e.players.contains(p))
                            .expect("placed")
                            .rating
                    })
                    .collect();
                f64::from(ratings.iter().sum::<i32>()) / ratings.len() as f64
            })
            .collect()
    }

    #[test]
    fn eight_solo_players_split_four_and_four_with_close_averages() {
        let entries: Vec<Entry> = (1..=8).map(|i| entry(i, 1, 900 + 25 * i as i32)).collect();
        let split = split(&entries, 2, 4);
        assert_eq!(split.len(), 8);
        assert_eq!(split.iter().filter(|(_, t)| t.0 == 0).count(), 4);
        let avg = averages(&entries, &split);
        // 925..1100 in steps of 25 split into two sums of 4000.
        assert_eq!(avg[0], avg[1], "{avg:?}");
        // The same tickets in another order split the same way.
        let mut reversed = entries.clone();
        reversed.reverse();
        let mut again = super::split(&reversed, 2, 4);
        let mut first = split.clone();
        first.sort();
        again.sort();
        assert_eq!(first, again);
    }

    #[test]
    fn parties_stay_together() {
        let entries = vec![
            entry(1, 2, 1000),
            entry(2, 2, 1000),
            entry(3, 1, 1200),
            entry(4, 1, 800),
            entry(5, 2, 1000),
        ];
        let split = split(&entries, 2, 4);
        for e in &entries {
            let teams: Vec<TeamId> = split
                .iter()
                .filter(|(p, _)| e.players.contains(p))
                .map(|(_, t)| *t)
                .collect();
            assert!(
                teams.windows(2).all(|w| w[0] == w[1]),
                "{e:?} split {teams:?}"
            );
        }
        assert_eq!(split.iter().filter(|(_, t)| t.0 == 0).count(), 4);
    }

    #[test]
    fn parties_are_packed_into_full_teams_where_greedy_would_not() {
        // Greedy by rating would put both 2s on the weaker team, leaving the
        // 3 and a 1 no way to make four.
        let entries = vec![
            entry(1, 3, 900),
            entry(2, 2, 1200),
            entry(3, 2, 1100),
            entry(4, 1, 1000),
        ];
        let split = split(&entries, 2, 4);
        let on = |t: u8| split.iter().filter(|(_, team)| team.0 == t).count();
        assert_eq!((on(0), on(1)), (4, 4), "{split:?}");
    }

    #[test]
    fn only_groups_that_make_full_teams_are_packable() {
        assert!(packable(&[2, 2, 2, 1, 1], 2, 4));
        assert!(packable(&[3, 1, 2, 2], 2, 4));
        assert!(!packable(&[3, 3, 2], 2, 4), "no way to make two fours");
        assert!(packable(&[3, 3], 2, 4), "bots fill the rest");
        assert!(!packable(&[4, 4, 1], 2, 4), "over the seats");
        assert!(packable(&[1; 16], 2, 8));
    }
}
