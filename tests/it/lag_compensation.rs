//! Lag compensation through a real node and a real delay on the wire: a
//! shooter behind a delay proxy fires at a target running across its view,
//! aiming where its (late) snapshots show the target, and says which tick it
//! was shown. The arena judges the shot against where the target was then,
//! as far back as its rules allow (200 ms): at a 100 ms round trip the shot
//! hits; at 400 ms the view is too old to rewind, the shot is judged
//! against where the target is now, and misses. The arena's own tests
//! (`games/arena/src/sim/tests.rs`) cover the same rule tick by tick.

use skirmish_arena::entities::{ArenaEvent, PlayerState};
use skirmish_tests::proxy::LagProxy;
use skirmish_tests::scripted::{self, Controls, View};
use skirmish_tests::{Player, TestNode, open_map, test_config};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How far right of the shooter (which stays where it spawned, in the
/// open map's upper-left quarter) the target runs down the arena.
const RUN_OFFSET: f32 = 350.0;
/// The arena's shot speed in units a tick at 30 Hz (`rules.toml`: 900/s),
/// and how far in front of its shooter's centre a shot appears
/// (player radius 20 + shot radius 4 + 1).
const SHOT_PER_TICK: f32 = 30.0;
const MUZZLE: f32 = 25.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shot_from_a_100_ms_round_trip_hits_where_the_shooter_saw_the_target() {
    let shot = shoot_through(Duration::from_millis(50)).await;
    let hit = shot.hit.unwrap_or_else(|| {
        panic!("a shot aimed where the target was shown 100 ms late must hit: {shot:?}")
    });
    assert!(hit > shot.aimed_from, "the hit is the shot's: {shot:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_shot_from_a_400_ms_round_trip_is_not_rewound_and_misses() {
    let shot = shoot_through(Duration::from_millis(200)).await;
    assert!(
        shot.hit.is_none(),
        "a view 400 ms old is past the 200 ms the arena rewinds: {shot:?}"
    );
}

/// What came of the shooter's one shot.
#[derive(Debug)]
struct Shot {
    /// The snapshot tick the shooter aimed from.
    aimed_from: u32,
    /// The tick of the target's snapshot that reported a hit from the
    /// shooter, if one did.
    hit: Option<u32>,
}

/// Plays one match: the target on the node directly, the shooter through a
/// proxy holding everything `one_way` each way.
async fn shoot_through(one_way: Duration) -> Shot {
    let mut config = test_config();
    config.match_seconds = Some(8);
    let node = TestNode::start_on(config, &open_map()).await;
    let proxy = LagProxy::start(node.addr, one_way, Duration::ZERO).await;
    let target = Player::connect(&node, "Tia").await;
    let shooter = Player::connect_to(&proxy.url(), "Sam").await;
    let aimed_from = Arc::new(Mutex::new(None));
    let ((target_log, _), (shooter_log, _)) = tokio::join!(
        scripted::play(target, runner()),
        scripted::play_showing(shooter, marksman(Arc::clone(&aimed_from))),
    );
    let aimed_from = aimed_from
        .lock()
        .expect("not poisoned")
        .expect("the shooter saw the target run and fired");
    let (tia, sam) = (target_log.you, shooter_log.you);
    let hit = target_log
        .snapshots
        .iter()
        .find(|(_, _, _, events)| {
            events.iter().any(|e| {
                matches!(e, ArenaEvent::Hit { target, attacker, .. } if *target == tia && *attacker == sam)
            })
        })
        .map(|(tick, ..)| *tick);
    Shot { aimed_from, hit }
}

/// The target: to its post, 350 units right of the shooter at the top of
/// the arena, then, once still there, a run straight down at top speed.
fn runner() -> impl FnMut(&View<'_>) -> Controls + Send {
    let mut post: Option<(f32, f32)> = None;
    let mut last: Option<(f32, f32)> = None;
    let mut still = 0;
    let mut running = false;
    move |view| {
        let Some(me) = me(view) else {
            return (0.0, 0.0, 0.0, false);
        };
        if running {
            let down = if me.y < 900.0 { 1.0 } else { 0.0 };
            return (0.0, down, 0.0, false);
        }
        let Some(shooter) = view.players.iter().find(|p| p.id != view.you) else {
            return (0.0, 0.0, 0.0, false);
        };
        let post = *post.get_or_insert((shooter.x + RUN_OFFSET, 100.0));
        let here = (me.x, me.y);
        still = if last.is_some_and(|l| distance(l, here) < 0.5) {
            still + 1
        } else {
            0
        };
        last = Some(here);
        let (mx, my) = toward(me, post);
        if (mx, my) == (0.0, 0.0) && still >= 10 {
            running = true;
        }
        (mx, my, 0.0, false)
    }
}

/// The shooter: stands where it spawned and fires one shot at the running
/// target once it runs at top speed, led by its speed as the snapshots
/// show it. Notes the tick it aimed from.
fn marksman(aimed_from: Arc<Mutex<Option<u32>>>) -> impl FnMut(&View<'_>) -> Controls + Send {
    let mut last_target: Option<(u32, (f32, f32))> = None;
    move |view| {
        let (Some(me), Some(target)) = (me(view), view.players.iter().find(|p| p.id != view.you))
        else {
            return (0.0, 0.0, 0.0, false);
        };
        let now = (view.tick, (target.x, target.y));
        let before = last_target.replace(now);
        let mut done = aimed_from.lock().expect("not poisoned");
        let (Some((then, was)), None) = (before, *done) else {
            return (0.0, 0.0, 0.0, false);
        };
        if then == view.tick {
            return (0.0, 0.0, 0.0, false);
        }
        let ticks = (view.tick - then) as f32;
        let velocity = ((now.1.0 - was.0) / ticks, (now.1.1 - was.1) / ticks);
        // At top speed (10 units a tick), coming level with the shooter.
        if velocity.1 < 9.5 || target.y < me.y - 150.0 {
            return (0.0, 0.0, 0.0, false);
        }
        *done = Some(view.tick);
        (0.0, 0.0, lead((me.x, me.y), now.1, velocity), true)
    }
}

/// The aim that meets a target at `at` moving `velocity` a tick with a shot
/// from `from`.
fn lead(from: (f32, f32), at: (f32, f32), velocity: (f32, f32)) -> f32 {
    let mut flight = 0.0;
    let mut point = at;
    for _ in 0..8 {
        point = (at.0 + velocity.0 * flight, at.1 + velocity.1 * flight);
        flight = (distance(from, point) - MUZZLE).max(0.0) / SHOT_PER_TICK;
    }
    (point.1 - from.1).atan2(point.0 - from.0)
}

fn me<'a>(view: &'a View<'_>) -> Option<&'a PlayerState> {
    view.players.iter().find(|p| p.id == view.you)
}

/// Full speed towards `post`; nothing (friction stops the body) within 30
/// units of it.
fn toward(me: &PlayerState, post: (f32, f32)) -> (f32, f32) {
    let (dx, dy) = (post.0 - me.x, post.1 - me.y);
    let d = (dx * dx + dy * dy).sqrt();
    if d < 30.0 {
        (0.0, 0.0)
    } else {
        (dx / d, dy / d)
    }
}

fn distance(a: (f32, f32), b: (f32, f32)) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}
