//! Forming matches from waiting tickets: pure, so every rule is tested
//! without Redis or time.
//!
//! The oldest ticket is served first: it anchors a group, and the
//! compatible tickets that waited longest join it until the mode's target
//! size. Two tickets are compatible when their ratings differ by no more
//! than *both* of their windows; a window starts narrow and widens with the
//! ticket's waiting time, so a strong player waits longer for a close match
//! before the search opens up. A party is one ticket and never split.
//!
//! A group short of the target still starts once its anchor has waited
//! `start_below_target_after_s` and it has `min_players`; a lone anchor that
//! has waited `backfill_after_s` starts with server bots filling the seats.

use super::ModeConfig;
use skirmish_shared::proto::PlayerId;
use skirmish_shared::proto::TicketId;
use std::collections::HashSet;

/// A ticket as the formation sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The ticket's id.
    pub id: TicketId,
    /// Its players (a party has several).
    pub players: Vec<PlayerId>,
    /// The party's mean rating.
    pub rating: i32,
    /// When it entered the queue, Unix ms.
    pub enqueued_at_ms: u64,
}

/// A match to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The tickets in it, anchor first.
    pub tickets: Vec<TicketId>,
    /// Players in it.
    pub n_players: usize,
    /// Server bots to add.
    pub bots: usize,
}

impl ModeConfig {
    /// How far a ticket's rating may be from another's, after waiting
    /// `waited_s`.
    pub fn window(&self, waited_s: f64) -> f64 {
        (self.rating_window + self.rating_window_growth_per_s * waited_s.max(0.0))
            .min(self.rating_window_max)
    }
}

fn waited_s(c: &Candidate, now_ms: u64) -> f64 {
    now_ms.saturating_sub(c.enqueued_at_ms) as f64 / 1000.0
}

/// Groups the candidates (in any order) into matches to start now.
pub fn form(mode: &ModeConfig, candidates: &[Candidate], now_ms: u64) -> Vec<Group> {
    let mut order: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.players.is_empty())
        .collect();
    order.sort_by(|a, b| {
        a.enqueued_at_ms
            .cmp(&b.enqueued_at_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut used: HashSet<&TicketId> = HashSet::new();
    let mut groups = Vec::new();
    for (i, anchor) in order.iter().enumerate() {
        if used.contains(&anchor.id) || anchor.players.len() > mode.max_players {
            continue;
        }
        // A party bigger than a team plays no team mode.
        if let Some(teams) = mode.teams
            && anchor.players.len() > mode.max_players / usize::from(teams)
        {
            continue;
        }
        let mut members: Vec<&Candidate> = vec![anchor];
        let mut n_players = anchor.players.len();
        for candidate in &order[i + 1..] {
            if n_players >= mode.target_players {
                break;
            }
            if used.contains(&candidate.id)
                || n_players + candidate.players.len() > mode.max_players
            {
                continue;
            }
            // A team mode's group must still split into whole teams.
            if let Some(teams) = mode.teams {
                let mut sizes: Vec<usize> = members.iter().map(|m| m.players.len()).collect();
                sizes.push(candidate.players.len());
                let teams = usize::from(teams);
                if !super::teams::packable(&sizes, teams, mode.max_players / teams) {
                    continue;
                }
            }
            let w = mode.window(waited_s(candidate, now_ms));
            let fits = members.iter().all(|m| {
                let gap = f64::from((m.rating - candidate.rating).abs());
                gap <= w && gap <= mode.window(waited_s(m, now_ms))
            });
            if fits {
                members.push(candidate);
                n_players += candidate.players.len();
            }
        }
        let anchor_waited = waited_s(anchor, now_ms);
        let full_enough = n_players >= mode.target_players
            || (n_players >= mode.min_players && anchor_waited >= mode.start_below_target_after_s);
        let bots = if full_enough {
            0
        } else if mode
            .backfill_after_s
            .is_some_and(|after| anchor_waited >= after)
        {
            mode.target_players - n_players
        } else {
            continue;
        };
        for m in &members {
            used.insert(&m.id);
        }
        groups.push(Group {
            tickets: members.iter().map(|m| m.id.clone()).collect(),
            n_players,
            bots,
        });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode() -> ModeConfig {
        ModeConfig {
            id: "ffa".into(),
            game: "arena".into(),
            teams: None,
            min_players: 2,
            target_players: 4,
            max_players: 4,
            rating_window: 100.0,
            rating_window_growth_per_s: 50.0,
            rating_window_max: 2000.0,
            start_below_target_after_s: 20.0,
            backfill_after_s: Some(40.0),
        }
    }

    fn ticket(id: &str, n: u64, rating: i32, at_s: u64) -> Candidate {
        Candidate {
            id: id.into(),
            players: (0..n)
                .map(|i| PlayerId(u64::from(id.as_bytes()[0]) * 100 + i))
                .collect(),
            rating,
            enqueued_at_ms: at_s * 1000,
        }
    }

    #[test]
    fn equal_players_fill_matches_oldest_first() {
        let tickets: Vec<Candidate> = (0..10u8)
            .map(|i| ticket(&((b'a' + i) as char).to_string(), 1, 1000, u64::from(i)))
            .collect();
        let groups = form(&mode(), &tickets, 10_000);
        assert_eq!(
            groups.len(),
            2,
            "two full matches; two tickets wait for more"
        );
        assert_eq!(groups[0].tickets, ["a", "b", "c", "d"]);
        assert_eq!(groups[1].tickets, ["e", "f", "g", "h"]);
        assert!(groups.iter().all(|g| g.n_players == 4 && g.bots == 0));
    }

    #[test]
    fn parties_are_never_split() {
        let tickets = [
            ticket("a", 3, 1000, 0),
            ticket("b", 2, 1000, 1),
            ticket("c", 1, 1000, 2),
        ];
        let groups = form(&mode(), &tickets, 5_000);
        assert_eq!(
            groups,
            [Group {
                tickets: vec!["a".into(), "c".into()],
                n_players: 4,
                bots: 0
            }]
        );
    }

    #[test]
    fn far_apart_ratings_wait_until_both_windows_are_wide_enough() {
        let tickets = [ticket("a", 1, 1000, 0), ticket("b", 1, 2500, 0)];
        let mut mode = mode();
        mode.start_below_target_after_s = 0.0;
        // The gap is 1500: each window reaches it after (1500 - 100) / 50 = 28 s.
        assert!(form(&mode, &tickets, 27_000).is_empty());
        let groups = form(&mode, &tickets, 28_000);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].n_players, 2);
    }

    #[test]
    fn both_windows_must_agree() {
        // b has waited long enough for a wide window; a has just arrived.
        let tickets = [ticket("b", 1, 1600, 0), ticket("a", 1, 1000, 100)];
        let mut mode = mode();
        mode.start_below_target_after_s = 0.0;
        // No bots, or b would start alone with them.
        mode.backfill_after_s = None;
        assert!(
            form(&mode, &tickets, 100_000).is_empty(),
            "a's window is still 100"
        );
        assert_eq!(
            form(&mode, &tickets, 110_000).len(),
            1,
            "after 10 s a's window is 600"
        );
    }

    #[test]
    fn short_groups_start_after_a_wait_and_lone_tickets_get_bots_later() {
        let tickets = [ticket("a", 1, 1000, 0), ticket("b", 1, 1000, 5)];
        assert!(
            form(&mode(), &tickets, 19_000).is_empty(),
            "not yet: 2 of 4 and short of the wait"
        );
        let groups = form(&mode(), &tickets, 20_000);
        assert_eq!(
            groups,
            [Group {
                tickets: vec!["a".into(), "b".into()],
                n_players: 2,
                bots: 0
            }]
        );

        let lone = [ticket("a", 1, 1000, 0)];
        assert!(form(&mode(), &lone, 39_000).is_empty());
        assert_eq!(
            form(&mode(), &lone, 40_000),
            [Group {
                tickets: vec!["a".into()],
                n_players: 1,
                bots: 3
            }]
        );
    }

    #[test]
    fn no_ticket_lands_in_two_groups() {
        let tickets: Vec<Candidate> = (0..50u64)
            .map(|i| Candidate {
                id: format!("t{i:02}").into(),
                players: vec![PlayerId(i)],
                rating: 900 + (i as i32 % 7) * 40,
                enqueued_at_ms: i * 100,
            })
            .collect();
        let groups = form(&mode(), &tickets, 60_000);
        let mut seen = HashSet::new();
        for g in &groups {
            assert!(g.n_players <= 4);
            for t in &g.tickets {
                assert!(seen.insert(t.clone()), "{t} twice");
            }
        }
        assert!(seen.len() >= 48);
    }

    #[test]
    fn a_team_mode_forms_only_groups_that_split_into_whole_teams() {
        let mut mode = mode();
        mode.teams = Some(2);
        mode.min_players = 4;
        // Two teams of two: the party of three fits no team, so the pair
        // and the two solo players make the match.
        let tickets = vec![
            ticket("a", 2, 1000, 0),
            ticket("b", 3, 1000, 1),
            ticket("c", 1, 1000, 2),
            ticket("d", 1, 1000, 3),
        ];
        let groups = form(&mode, &tickets, 100_000);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0].tickets, vec!["a", "c", "d"]);
        assert_eq!(groups[0].n_players, 4);
    }
}
