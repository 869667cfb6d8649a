//! The leaderboard contract: one suite of cases, each run against the
//! in-memory boards and against Redis sorted sets on a real `redis-server`
//! of its own, so the two implementations cannot drift apart. Then what only
//! Redis can show: key expiry times, and an outage reported as
//! `Unavailable` (and recovered from) rather than a hang.
//!
//! Every case uses times in a Monday-based week starting at least a week
//! after the real clock: Redis expires period keys by its own clock, so
//! tests in the past would see their keys vanish.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use skirmish_server::leaderboard::{
    Entry, LeaderboardConfig, LeaderboardError, Leaderboards, MAX_SCORE, MatchId, MatchSubmission,
    MemoryLeaderboards, Page, Period, PlayerId, PlayerResult, RedisLeaderboards,
};
use skirmish_tests::assets_dir;
use skirmish_tests::redis::RedisServer;
use skirmish_tests::redis_cluster::RedisCluster;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECOND: u64 = 1000;
const HOUR: u64 = 3600 * SECOND;
const DAY: u64 = 24 * HOUR;

/// Monday 00:00 UTC, 8 to 14 days from now.
fn monday() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64;
    let day = now / DAY + 14;
    // 1970-01-01 was a Thursday, weekday 3 counting Monday as 0.
    (day - (day + 3) % 7) * DAY
}

/// The shipped boards: `kills` (increment), `best_score` (best), `rating`
/// (set), each all-time, daily and weekly.
fn shipped_config() -> LeaderboardConfig {
    LeaderboardConfig::load(&assets_dir().join("leaderboards.toml")).expect("the shipped config")
}

fn player(id: u64, name: &str, kills: u32, score: u32, rating: Option<i32>) -> PlayerResult {
    PlayerResult {
        player_id: PlayerId(id),
        name: name.to_owned(),
        stats: [
            ("kills".to_owned(), i64::from(kills)),
            ("score".to_owned(), i64::from(score)),
        ]
        .into(),
        rating,
    }
}

fn game(match_id: u64, players: Vec<PlayerResult>) -> MatchSubmission {
    MatchSubmission {
        match_id: MatchId(match_id),
        players,
    }
}

async fn submit(lb: &dyn Leaderboards, submission: &MatchSubmission, now: u64) -> bool {
    lb.submit(submission, now).await.expect("submit")
}

async fn top(lb: &dyn Leaderboards, board: &str, period: Period, now: u64) -> Page {
    lb.top(board, period, 100, now).await.expect("top")
}

/// `(player id, score)` of each entry, checking ranks run from `first`.
fn scores_from(page: &Page, first: u64) -> Vec<(u64, i64)> {
    for (entry, rank) in page.entries.iter().zip(first..) {
        assert_eq!(entry.rank, rank, "ranks are consecutive in {page:?}");
    }
    page.entries
        .iter()
        .map(|e| (e.player_id.0, e.score))
        .collect()
}

fn scores(page: &Page) -> Vec<(u64, i64)> {
    scores_from(page, 1)
}

async fn rank_of(
    lb: &dyn Leaderboards,
    board: &str,
    period: Period,
    id: u64,
    now: u64,
) -> Option<Entry> {
    lb.rank(board, period, PlayerId(id), now)
        .await
        .expect("rank")
}

// ---------------------------------------------------------------------------
// The contract.
// ---------------------------------------------------------------------------

async fn increment_adds_up_kills(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    let first = game(
        1,
        vec![player(1, "ada", 3, 0, None), player(2, "bob", 5, 0, None)],
    );
    assert!(submit(lb, &first, t).await);
    let second = game(
        2,
        vec![player(1, "ada", 4, 0, None), player(3, "cyd", 0, 0, None)],
    );
    assert!(submit(lb, &second, t + SECOND).await);
    let page = top(lb, "kills", Period::AllTime, t + 2 * SECOND).await;
    assert_eq!(
        scores(&page),
        [(1, 7), (2, 5), (3, 0)],
        "a player with no kills is on the board with 0"
    );
    assert_eq!(page.total, 3);
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.board, "kills");
    assert_eq!(page.period, Period::AllTime);
    // A board of fewer entries than the page is answered whole.
    let short = lb
        .centred("kills", Period::AllTime, PlayerId(3), 11, t + 2 * SECOND)
        .await
        .expect("centred");
    assert_eq!(scores(&short), [(1, 7), (2, 5), (3, 0)]);
}

async fn best_keeps_only_a_strictly_better_score(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    assert!(submit(lb, &game(1, vec![player(1, "ada", 0, 30, None)]), t).await);
    assert!(
        submit(
            lb,
            &game(
                2,
                vec![player(1, "ada", 0, 20, None), player(2, "bob", 0, 30, None)]
            ),
            t + SECOND
        )
        .await
    );
    let page = top(lb, "best_score", Period::AllTime, t + 2 * SECOND).await;
    assert_eq!(
        scores(&page),
        [(1, 30), (2, 30)],
        "a worse score does not replace; ada reached 30 first"
    );
    // bob matching his own 30 later keeps when he first reached it; ada
    // matching hers does not move her either.
    assert!(
        submit(
            lb,
            &game(
                3,
                vec![player(2, "bob", 0, 30, None), player(1, "ada", 0, 30, None)]
            ),
            t + 5 * SECOND
        )
        .await
    );
    assert_eq!(
        scores(&top(lb, "best_score", Period::AllTime, t + 6 * SECOND).await),
        [(1, 30), (2, 30)]
    );
    // A better score replaces.
    assert!(
        submit(
            lb,
            &game(4, vec![player(2, "bob", 0, 31, None)]),
            t + 7 * SECOND
        )
        .await
    );
    assert_eq!(
        scores(&top(lb, "best_score", Period::AllTime, t + 8 * SECOND).await),
        [(2, 31), (1, 30)]
    );
}

async fn set_replaces_ratings_and_ratings_reads_them(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    assert_eq!(lb.ratings(&[]).await.expect("ratings"), []);
    assert_eq!(
        lb.ratings(&[PlayerId(1), PlayerId(2)])
            .await
            .expect("ratings"),
        [None, None]
    );
    let first = game(
        1,
        vec![
            player(1, "ada", 0, 0, Some(1016)),
            player(2, "bob", 0, 0, Some(984)),
            player(3, "cyd", 0, 0, None),
        ],
    );
    assert!(submit(lb, &first, t).await);
    assert!(
        submit(
            lb,
            &game(
                2,
                vec![
                    player(1, "ada", 0, 0, Some(990)),
                    player(2, "bob", 0, 0, Some(1010))
                ]
            ),
            t + SECOND
        )
        .await
    );
    let page = top(lb, "rating", Period::AllTime, t + 2 * SECOND).await;
    assert_eq!(
        scores(&page),
        [(2, 1010), (1, 990)],
        "cyd has no rating, so is not on the board"
    );
    assert_eq!(
        lb.ratings(&[PlayerId(2), PlayerId(3), PlayerId(1), PlayerId(9)])
            .await
            .expect("ratings"),
        [Some(1010), None, Some(990), None]
    );
    assert!(rank_of(lb, "rating", Period::AllTime, 3, t).await.is_none());
    // cyd is still on the boards that take kills and scores.
    assert!(rank_of(lb, "kills", Period::AllTime, 3, t).await.is_some());

    // dan reaches 1010 after bob; bob keeping 1010 in a later match keeps
    // when he reached it, so he stays ahead.
    let dan = game(3, vec![player(4, "dan", 0, 0, Some(1010))]);
    assert!(submit(lb, &dan, t + 2 * SECOND).await);
    let bob = game(4, vec![player(2, "bob", 0, 0, Some(1010))]);
    assert!(submit(lb, &bob, t + 3 * SECOND).await);
    assert_eq!(
        scores(&top(lb, "rating", Period::AllTime, t + 4 * SECOND).await),
        [(2, 1010), (4, 1010), (1, 990)]
    );
}

async fn periods_split_by_utc_day_and_iso_week(lb: &dyn Leaderboards) {
    let monday = monday();
    let t = monday + 10 * HOUR;
    assert!(submit(lb, &game(1, vec![player(1, "ada", 2, 20, Some(1010))]), t).await);
    for board in ["kills", "best_score", "rating"] {
        for period in Period::ALL {
            let page = top(lb, board, period, t).await;
            assert_eq!(page.total, 1, "{board} {period}");
            assert_eq!(page.entries.len(), 1, "{board} {period}");
        }
    }
    let resets = |period, now| async move { top(lb, "kills", period, now).await.resets_at_ms };
    assert_eq!(resets(Period::AllTime, t).await, None);
    assert_eq!(resets(Period::Daily, t).await, Some(monday + DAY));
    assert_eq!(resets(Period::Weekly, t).await, Some(monday + 7 * DAY));

    // Tuesday: a new day, the same week.
    let tuesday = monday + DAY;
    let daily = top(lb, "kills", Period::Daily, tuesday).await;
    assert_eq!((daily.total, daily.entries.len()), (0, 0));
    assert_eq!(daily.resets_at_ms, Some(monday + 2 * DAY));
    assert_eq!(
        scores(&top(lb, "kills", Period::Weekly, tuesday).await),
        [(1, 2)]
    );
    // The last millisecond of Monday still reads Monday.
    assert_eq!(
        scores(&top(lb, "kills", Period::Daily, tuesday - 1).await),
        [(1, 2)]
    );

    assert!(
        submit(
            lb,
            &game(2, vec![player(1, "ada", 3, 10, None)]),
            tuesday + HOUR
        )
        .await
    );
    assert_eq!(
        scores(&top(lb, "kills", Period::Daily, tuesday + HOUR).await),
        [(1, 3)]
    );
    assert_eq!(
        scores(&top(lb, "kills", Period::Weekly, tuesday + HOUR).await),
        [(1, 5)]
    );
    assert_eq!(
        scores(&top(lb, "best_score", Period::Daily, tuesday + HOUR).await),
        [(1, 10)]
    );
    assert_eq!(
        scores(&top(lb, "best_score", Period::Weekly, tuesday + HOUR).await),
        [(1, 20)]
    );

    // Sunday's last second is still this week; Monday 00:00 starts the next.
    let next_monday = monday + 7 * DAY;
    let sunday = top(lb, "kills", Period::Weekly, next_monday - 1).await;
    assert_eq!(
        (scores(&sunday), sunday.resets_at_ms),
        (vec![(1, 5)], Some(next_monday))
    );
    let week = top(lb, "kills", Period::Weekly, next_monday).await;
    assert_eq!(
        (week.total, week.resets_at_ms),
        (0, Some(next_monday + 7 * DAY))
    );
    assert_eq!(
        scores(&top(lb, "kills", Period::AllTime, next_monday).await),
        [(1, 5)]
    );
    assert_eq!(
        lb.ratings(&[PlayerId(1)]).await.expect("ratings"),
        [Some(1010)]
    );
}

/// 250 players over five matches a second apart, with many equal scores.
async fn paging_visits_every_player_once_in_order(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    let n = 250u64;
    // A permutation of 1..=250, so id order is not submission order.
    let id = |i: u64| 1 + (i * 97) % n;
    let score = |i: u64| ((i * 7) % 23) as u32;
    for m in 0..5 {
        let players = (m * 50..(m + 1) * 50)
            .map(|i| player(id(i), &format!("p{}", id(i)), 0, score(i), None))
            .collect();
        assert!(submit(lb, &game(100 + m, players), t + m * SECOND).await);
    }
    // Best score first, then the earlier match, then the lower id.
    let mut expected: Vec<(u64, u64, u64)> = (0..n)
        .map(|i| (u64::from(score(i)), i / 50, id(i)))
        .collect();
    expected.sort_by_key(|&(score, m, id)| (std::cmp::Reverse(score), m, id));
    let expected: Vec<(u64, i64)> = expected.iter().map(|&(s, _, id)| (id, s as i64)).collect();
    let now = t + 10 * SECOND;

    let first = top(lb, "best_score", Period::Weekly, now).await;
    assert_eq!(scores(&first), expected[..100]);
    assert_eq!(first.total, n);
    assert!(
        first
            .entries
            .iter()
            .all(|e| e.name == format!("p{}", e.player_id.0))
    );

    for limit in [7, 100] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = lb
                .page("best_score", Period::Weekly, cursor.as_deref(), limit, now)
                .await
                .expect("page");
            assert_eq!(page.total, n);
            assert!(page.entries.len() <= limit);
            seen.extend(scores_from(&page, seen.len() as u64 + 1));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected, "limit {limit}: everyone once, in order");
    }

    for (idx, &(id, score)) in expected.iter().enumerate().step_by(37) {
        let entry = rank_of(lb, "best_score", Period::Weekly, id, now)
            .await
            .expect("on the board");
        assert_eq!(
            (entry.rank, entry.player_id.0, entry.score),
            (idx as u64 + 1, id, score)
        );
        assert_eq!(entry.name, format!("p{id}"));
    }

    let around = |idx: usize, k: usize| {
        let id = expected[idx].0;
        async move {
            lb.around("best_score", Period::Weekly, PlayerId(id), k, now)
                .await
                .expect("around")
        }
    };
    let page = around(0, 3).await;
    assert_eq!(scores(&page), expected[..4]);
    let page = around(99, 2).await;
    assert_eq!(scores_from(&page, 98), expected[97..102]);
    let cursor = page.next_cursor.expect("more after");
    let after = lb
        .page("best_score", Period::Weekly, Some(&cursor), 3, now)
        .await
        .expect("page");
    assert_eq!(
        scores_from(&after, 103),
        expected[102..105],
        "around's cursor continues after it"
    );
    let page = around(249, 50).await;
    assert_eq!(scores_from(&page, 200), expected[199..]);
    assert_eq!(page.next_cursor, None);
    let page = around(120, 0).await;
    assert_eq!(scores_from(&page, 121), expected[120..121]);

    let absent = lb
        .around("best_score", Period::Weekly, PlayerId(9999), 5, now)
        .await
        .expect("around");
    assert_eq!(
        (absent.entries.len(), absent.total, absent.next_cursor),
        (0, n, None)
    );

    // `limit` entries centred on a player, filled up at the board's ends.
    let centred = |idx: usize, limit: usize| {
        let id = expected[idx].0;
        async move {
            lb.centred("best_score", Period::Weekly, PlayerId(id), limit, now)
                .await
                .expect("centred")
        }
    };
    let page = centred(99, 11).await;
    assert_eq!(
        scores_from(&page, 95),
        expected[94..105],
        "5 above, 5 below"
    );
    let page = centred(99, 10).await;
    assert_eq!(
        scores_from(&page, 96),
        expected[95..105],
        "4 above, 5 below"
    );
    let cursor = page.next_cursor.expect("more after");
    let after = lb
        .page("best_score", Period::Weekly, Some(&cursor), 2, now)
        .await
        .expect("page");
    assert_eq!(scores_from(&after, 106), expected[105..107]);
    let page = centred(120, 1).await;
    assert_eq!(
        scores_from(&page, 121),
        expected[120..121],
        "just the player"
    );
    let page = centred(1, 11).await;
    assert_eq!(scores(&page), expected[..11], "near the top: the top 11");
    let page = centred(248, 11).await;
    assert_eq!(
        scores_from(&page, 240),
        expected[239..],
        "near the end: the last 11"
    );
    assert_eq!(page.next_cursor, None);
    let page = centred(120, 100).await;
    assert_eq!(scores_from(&page, 72), expected[71..171]);
    let absent = lb
        .centred("best_score", Period::Weekly, PlayerId(9999), 5, now)
        .await
        .expect("centred");
    assert_eq!(
        (absent.entries.len(), absent.total, absent.next_cursor),
        (0, n, None)
    );
    assert!(
        rank_of(lb, "best_score", Period::Weekly, 9999, now)
            .await
            .is_none()
    );
    // Another period of the same board is empty.
    let next_week = lb
        .page("best_score", Period::Weekly, None, 10, t + 7 * DAY)
        .await
        .expect("page");
    assert_eq!((next_week.entries.len(), next_week.total), (0, 0));
}

/// A cursor continues from where its entry was, even after that entry and
/// others moved above it, also among entries with identical composites.
async fn cursors_survive_changes_above_them(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    // Players 11..=20 have as many kills as their id; players 1..=10 all
    // have 10, reached in the same second, so they rank by id.
    let players = (1..=20)
        .map(|id| player(id, "p", id.max(10) as u32, 0, None))
        .collect();
    assert!(submit(lb, &game(1, players), t).await);
    let page = lb
        .page("kills", Period::AllTime, None, 13, t)
        .await
        .expect("page");
    let mut expected: Vec<(u64, i64)> = (11..=20).rev().map(|id| (id, id as i64)).collect();
    expected.extend((1..=3).map(|id| (id, 10)));
    assert_eq!(scores(&page), expected);
    let cursor = page.next_cursor.expect("more");

    // Player 3, the cursor's own entry, jumps to the top; a newcomer lands
    // above everyone too. The next page still starts after 3's old place:
    // with the others of its group that have higher ids.
    let changes = game(
        2,
        vec![
            player(3, "p", 100, 0, None),
            player(50, "new", 200, 0, None),
        ],
    );
    assert!(submit(lb, &changes, t + SECOND).await);
    let page = lb
        .page("kills", Period::AllTime, Some(&cursor), 5, t + SECOND)
        .await
        .expect("page");
    assert_eq!(
        scores_from(&page, 15),
        [(4, 10), (5, 10), (6, 10), (7, 10), (8, 10)],
        "50, 3, 20..=11, 1 and 2 rank above"
    );

    // A cursor whose entry is unchanged continues right after it.
    let cursor = page.next_cursor.expect("more");
    let page = lb
        .page("kills", Period::AllTime, Some(&cursor), 100, t + SECOND)
        .await
        .expect("page");
    assert_eq!(scores_from(&page, 20), [(9, 10), (10, 10)]);
    assert_eq!((page.total, page.next_cursor), (21, None));
}

async fn equal_scores_rank_the_earlier_achiever_then_the_lower_id(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    assert!(submit(lb, &game(1, vec![player(5, "e", 10, 10, None)]), t).await);
    // Players 9 and 3 reach 10 in the same second (500 ms apart): the lower
    // id goes first.
    assert!(submit(lb, &game(2, vec![player(9, "i", 10, 10, None)]), t + SECOND).await);
    assert!(
        submit(
            lb,
            &game(3, vec![player(3, "c", 10, 10, None)]),
            t + SECOND + 500
        )
        .await
    );
    assert!(
        submit(
            lb,
            &game(4, vec![player(1, "a", 10, 10, None)]),
            t + 2 * SECOND
        )
        .await
    );
    let now = t + 3 * SECOND;
    for board in ["kills", "best_score"] {
        assert_eq!(
            scores(&top(lb, board, Period::AllTime, now).await),
            [(5, 10), (3, 10), (9, 10), (1, 10)],
            "{board}"
        );
    }
    // An increment total counts as reached when it was reached: player 1
    // gets to 12 in two steps, player 5 to 12 later.
    assert!(
        submit(
            lb,
            &game(5, vec![player(1, "a", 2, 0, None)]),
            t + 4 * SECOND
        )
        .await
    );
    assert!(
        submit(
            lb,
            &game(6, vec![player(5, "e", 2, 0, None)]),
            t + 5 * SECOND
        )
        .await
    );
    // Adding nothing keeps when player 3's 10 was reached, ahead of 9.
    assert!(
        submit(
            lb,
            &game(7, vec![player(3, "c", 0, 0, None)]),
            t + 6 * SECOND
        )
        .await
    );
    assert_eq!(
        scores(&top(lb, "kills", Period::AllTime, t + 7 * SECOND).await),
        [(1, 12), (5, 12), (3, 10), (9, 10)]
    );
}

async fn names_follow_the_latest_submission(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    assert!(
        submit(
            lb,
            &game(
                1,
                vec![
                    player(1, "ada", 1, 1, Some(1000)),
                    player(2, "bob", 2, 2, Some(1000))
                ]
            ),
            t
        )
        .await
    );
    let names = |page: &Page| {
        page.entries
            .iter()
            .map(|e| (e.player_id.0, e.name.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&top(lb, "kills", Period::Daily, t).await),
        [(2, "bob".into()), (1, "ada".into())]
    );
    assert!(
        submit(
            lb,
            &game(2, vec![player(1, "Ada Lovelace", 0, 0, None)]),
            t + HOUR
        )
        .await
    );
    for board in ["kills", "best_score", "rating"] {
        let page = top(lb, board, Period::Daily, t + HOUR).await;
        assert!(
            page.entries
                .iter()
                .any(|e| e.player_id.0 == 1 && e.name == "Ada Lovelace"),
            "{board}: {page:?}"
        );
        assert!(
            page.entries
                .iter()
                .any(|e| e.player_id.0 == 2 && e.name == "bob"),
            "{board}: {page:?}"
        );
    }
    let entry = rank_of(lb, "kills", Period::AllTime, 1, t + HOUR)
        .await
        .expect("on the board");
    assert_eq!(entry.name, "Ada Lovelace");
}

async fn a_match_counts_once(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    let first = game(
        7,
        vec![
            player(1, "ada", 3, 30, Some(1016)),
            player(2, "bob", 1, 10, Some(984)),
        ],
    );
    assert!(submit(lb, &first, t).await);
    assert!(
        !submit(lb, &first, t + SECOND).await,
        "a retry changes nothing"
    );
    let other = game(
        7,
        vec![
            player(1, "eve", 50, 500, Some(2000)),
            player(3, "cyd", 9, 9, Some(1)),
        ],
    );
    assert!(
        !submit(lb, &other, t + DAY).await,
        "the same match id with other content changes nothing"
    );
    for period in Period::ALL {
        assert_eq!(
            scores(&top(lb, "kills", period, t + 2 * SECOND).await),
            [(1, 3), (2, 1)],
            "{period}"
        );
        assert_eq!(
            scores(&top(lb, "best_score", period, t + 2 * SECOND).await),
            [(1, 30), (2, 10)],
            "{period}"
        );
    }
    assert_eq!(
        lb.ratings(&[PlayerId(1), PlayerId(3)])
            .await
            .expect("ratings"),
        [Some(1016), None]
    );
    assert_eq!(
        rank_of(lb, "kills", Period::AllTime, 1, t)
            .await
            .expect("entry")
            .name,
        "ada"
    );
    assert!(
        submit(
            lb,
            &game(8, vec![player(1, "ada", 1, 0, None)]),
            t + 3 * SECOND
        )
        .await
    );
    assert_eq!(
        rank_of(lb, "kills", Period::AllTime, 1, t)
            .await
            .expect("entry")
            .score,
        4
    );
}

async fn errors_say_what_was_wrong(lb: &dyn Leaderboards) {
    let t = monday() + 10 * HOUR;
    let p = PlayerId(1);
    let unknown = lb.top("deaths", Period::AllTime, 10, t).await;
    assert!(matches!(unknown, Err(LeaderboardError::UnknownBoard(b)) if b == "deaths"));
    assert!(matches!(
        lb.rank("deaths", Period::Daily, p, t).await,
        Err(LeaderboardError::UnknownBoard(_))
    ));
    assert!(matches!(
        lb.around("deaths", Period::Daily, p, 1, t).await,
        Err(LeaderboardError::UnknownBoard(_))
    ));
    assert!(matches!(
        lb.page("deaths", Period::Daily, None, 1, t).await,
        Err(LeaderboardError::UnknownBoard(_))
    ));
    let out_of_range = |e: Result<Page, LeaderboardError>, what: &str, value: i64| match e {
        Err(LeaderboardError::OutOfRange {
            what: w, value: v, ..
        }) => assert_eq!((w.as_str(), v), (what, value)),
        other => panic!("expected {what} out of range, got {other:?}"),
    };
    out_of_range(lb.top("kills", Period::AllTime, 101, t).await, "limit", 101);
    out_of_range(lb.top("kills", Period::AllTime, 0, t).await, "limit", 0);
    out_of_range(
        lb.page("kills", Period::AllTime, None, 101, t).await,
        "limit",
        101,
    );
    out_of_range(lb.around("kills", Period::AllTime, p, 51, t).await, "k", 51);
    out_of_range(
        lb.centred("kills", Period::AllTime, p, 0, t).await,
        "limit",
        0,
    );
    out_of_range(
        lb.centred("kills", Period::AllTime, p, 101, t).await,
        "limit",
        101,
    );
    for bad in [
        "",
        "nonsense",
        "1.2",
        "99999999999999999999.0000000000000001",
        "5.000000000000000Z",
    ] {
        assert!(
            matches!(
                lb.page("kills", Period::AllTime, Some(bad), 10, t).await,
                Err(LeaderboardError::BadCursor)
            ),
            "{bad:?}"
        );
    }

    // A refused submission writes nothing and does not mark the match, so a
    // corrected one with the same id is applied.
    let too_big = game(1, vec![player(1, "ada", 1, MAX_SCORE as u32 + 1, None)]);
    assert!(matches!(
        lb.submit(&too_big, t).await,
        Err(LeaderboardError::OutOfRange { .. })
    ));
    let negative = game(1, vec![player(1, "ada", 1, 1, Some(-5))]);
    assert!(matches!(
        lb.submit(&negative, t).await,
        Err(LeaderboardError::OutOfRange { value: -5, .. })
    ));
    let twice = game(
        1,
        vec![player(1, "ada", 1, 1, None), player(1, "ada", 1, 1, None)],
    );
    assert!(matches!(
        lb.submit(&twice, t).await,
        Err(LeaderboardError::DuplicatePlayer(PlayerId(1)))
    ));
    assert_eq!(top(lb, "kills", Period::AllTime, t).await.total, 0);
    assert!(
        submit(
            lb,
            &game(1, vec![player(1, "ada", MAX_SCORE as u32, 5, None)]),
            t
        )
        .await
    );

    // An increment past the largest score refuses the whole match: no board
    // changes, not even the others.
    let overflow = game(
        2,
        vec![player(2, "bob", 1, 7, None), player(1, "ada", 1, 9, None)],
    );
    match lb.submit(&overflow, t + SECOND).await {
        Err(LeaderboardError::OutOfRange { what, value, .. }) => {
            assert_eq!(value, MAX_SCORE as i64 + 1);
            assert!(
                what.contains("0000000000000001") && what.contains("kills"),
                "{what}"
            );
        }
        other => panic!("expected an overflow, got {other:?}"),
    }
    assert_eq!(
        scores(&top(lb, "kills", Period::AllTime, t + SECOND).await),
        [(1, MAX_SCORE as i64)]
    );
    assert_eq!(
        scores(&top(lb, "best_score", Period::AllTime, t + SECOND).await),
        [(1, 5)]
    );
}

/// Runs each case against both implementations, as `in_memory::case`,
/// `in_redis::case` and `in_redis_cluster::case` (a three-master Redis
/// Cluster); every Redis case has its own server and key prefix.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&super::memory()).await;
                }
            )*
        }

        mod in_redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let (server, leaderboards) = super::in_redis(stringify!($case)).await;
                    super::$case(&leaderboards).await;
                    drop(server);
                }
            )*
        }

        mod in_redis_cluster {
            $(
                #[tokio::test]
                async fn $case() {
                    let (cluster, leaderboards) =
                        super::in_redis_cluster(stringify!($case)).await;
                    super::$case(&leaderboards).await;
                    drop(cluster);
                }
            )*
        }
    };
}

contract!(
    increment_adds_up_kills,
    best_keeps_only_a_strictly_better_score,
    set_replaces_ratings_and_ratings_reads_them,
    periods_split_by_utc_day_and_iso_week,
    paging_visits_every_player_once_in_order,
    cursors_survive_changes_above_them,
    equal_scores_rank_the_earlier_achiever_then_the_lower_id,
    names_follow_the_latest_submission,
    a_match_counts_once,
    errors_say_what_was_wrong,
);

fn memory() -> MemoryLeaderboards {
    MemoryLeaderboards::new(shipped_config())
}

/// A command connection that gives up on a silent Redis after 2 s.
async fn connect(url: &str) -> ConnectionManager {
    let client = redis::Client::open(url).expect("a valid URL");
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config)
        .await
        .expect("connect to the test redis-server")
}

/// A fresh `redis-server` and leaderboards on it under a prefix named for
/// the test.
async fn in_redis(test: &str) -> (RedisServer, RedisLeaderboards) {
    let server = RedisServer::start();
    let conn = connect(&server.url()).await;
    let leaderboards = RedisLeaderboards::new(conn.into(), &format!("t-{test}"), shipped_config());
    (server, leaderboards)
}

/// A fresh three-master Redis Cluster and leaderboards on it, through the
/// node's own cluster client.
async fn in_redis_cluster(test: &str) -> (RedisCluster, RedisLeaderboards) {
    let cluster = RedisCluster::start();
    let client = skirmish_server::redis_conn::client(&cluster.url()).expect("a cluster URL");
    let conn = skirmish_server::redis_conn::commands(&client)
        .await
        .expect("connect to the test cluster");
    let leaderboards = RedisLeaderboards::new(conn, &format!("t-{test}"), shipped_config());
    (cluster, leaderboards)
}

// ---------------------------------------------------------------------------
// Redis only.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn redis_keys_share_one_hash_tag_and_periods_expire_after_the_grace() {
    let (server, lb) = in_redis("keys").await;
    let monday = monday();
    let config = shipped_config();
    assert!(
        submit(
            &lb,
            &game(0xabc, vec![player(1, "ada", 1, 1, Some(1000))]),
            monday + HOUR
        )
        .await
    );

    let mut conn = connect(&server.url()).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    keys.sort();
    assert_eq!(keys.len(), 3 * 3 + 2, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with("t-keys:{lb}:")),
        "{keys:?}"
    );

    let expire_time = |key: String| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("PEXPIRETIME")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .expect("PEXPIRETIME")
        }
    };
    let grace = (config.grace_s * 1000) as i64;
    let day_end = (monday + DAY) as i64;
    let week_end = (monday + 7 * DAY) as i64;
    let daily_id = keys
        .iter()
        .find_map(|k| {
            k.strip_prefix("t-keys:{lb}:board:kills:")
                .filter(|id| id.len() == 10)
        })
        .expect("a daily kills key")
        .to_owned();
    for board in ["kills", "best_score", "rating"] {
        assert_eq!(
            expire_time(format!("t-keys:{{lb}}:board:{board}:all")).await,
            -1,
            "all-time keeps"
        );
        assert_eq!(
            expire_time(format!("t-keys:{{lb}}:board:{board}:{daily_id}")).await,
            day_end + grace
        );
        let weekly = keys
            .iter()
            .find(|k| k.starts_with(&format!("t-keys:{{lb}}:board:{board}:")) && k.contains("-W"))
            .expect("a weekly key");
        assert_eq!(expire_time(weekly.clone()).await, week_end + grace);
    }
    assert_eq!(expire_time("t-keys:{lb}:names".into()).await, -1);
    let marker_ttl: i64 = redis::cmd("PTTL")
        .arg("t-keys:{lb}:applied:0000000000000abc")
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    let ttl = (config.applied_ttl_s * 1000) as i64;
    assert!((ttl - 60_000..=ttl).contains(&marker_ttl), "{marker_ttl}");

    // Members are player ids in hex and scores the negated composite.
    let member: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("t-keys:{lb}:board:kills:all")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("ZRANGE");
    assert_eq!(member.len(), 1);
    assert_eq!(member[0].0, "0000000000000001");
    assert!(member[0].1 < -2f64.powi(31), "{member:?}");
}

#[tokio::test]
async fn redis_down_is_unavailable_and_recovers() {
    let (mut server, lb) = in_redis("outage").await;
    let t = monday() + HOUR;
    assert!(submit(&lb, &game(1, vec![player(1, "ada", 1, 1, None)]), t).await);

    server.stop();
    let started = Instant::now();
    let failed = tokio::time::timeout(
        Duration::from_secs(10),
        lb.submit(&game(2, vec![player(1, "ada", 1, 1, None)]), t + SECOND),
    )
    .await
    .expect("submit answers while Redis is down");
    assert!(
        matches!(failed, Err(LeaderboardError::Unavailable(_))),
        "{failed:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        lb.top("kills", Period::AllTime, 10, t),
    )
    .await
    .expect("top answers while Redis is down");
    assert!(
        matches!(read, Err(LeaderboardError::Unavailable(_))),
        "{read:?}"
    );

    // Back, empty (it keeps nothing on disk): the scripts are loaded again
    // and the retried match is recorded.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let applied = loop {
        match lb
            .submit(&game(2, vec![player(1, "ada", 1, 1, None)]), t + 2 * SECOND)
            .await
        {
            Ok(applied) => break applied,
            Err(LeaderboardError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no recovery: {e}"),
        }
    };
    assert!(applied);
    assert_eq!(
        scores(&top(&lb, "kills", Period::AllTime, t + 3 * SECOND).await),
        [(1, 1)]
    );
}
