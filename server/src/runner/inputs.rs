//! A seat's inputs on their way into the ticks: one a tick, in the order
//! they were sent.
//!
//! A client sends one input a tick and predicts one step for each. The
//! network bunches them (two arrive within one tick, then none), and a node
//! that applied only the newest of a tick's inputs would skip steps the
//! client took, so every jittery arrival became a visible correction. Taken
//! one a tick, each input gets its own step; only when none is waiting does
//! the game hold the last one (a step the client could not foresee). A
//! backlog past [`MAX_QUEUED`] (a client sending faster than the node
//! ticks, or a burst after a stall) folds its two oldest together with
//! [`Game::merge_inputs`], so no trigger pull is lost and the delay stays
//! under [`MAX_QUEUED`] ticks.
//!
//! `test/predict.test.js` in the browser client measured the difference on
//! a simulated 150 ms round trip with ±20 ms of jitter: 8.2 corrections a
//! second with the newest input a tick, 0.5 with this queue.
//!
//! The queue is also the node's jitter buffer: an input that comes late
//! leaves a tick with nothing waiting (the game holds the last one), and
//! from then on one more waits, which covers the next such delay. Beyond
//! one tick in hand it gives ticks back on its own: once more than one
//! input has still waited after every tick's was taken for
//! [`SHRINK_AFTER_TICKS`] in a row, the node holds more than the network
//! needed all that time, and it folds the two oldest once (a step the
//! client did not predict, so one correction). Without this, one stall
//! would add its ticks to the player's input delay, and to how far back
//! their shots are judged, for the rest of the match. The one tick it keeps
//! is what ordinary jitter needs: giving that back too made a bot on a busy
//! machine hold and fold every few seconds (`bench/load.sh`: prediction
//! error p99.9 of 10 units instead of 0.15).
//!
//! Each input keeps the tick its client was showing (`shown`), from which
//! the runner works out how far back the game judges it (lag
//! compensation) when it is applied; a folded input keeps the older one's,
//! whose controls (a trigger pull) it carries on.

use skirmish_shared::game::{Game, Tick};
use std::collections::VecDeque;
use std::marker::PhantomData;

/// The most inputs waiting for their tick.
pub(super) const MAX_QUEUED: usize = 3;

/// Ticks in a row with more than [`KEEP_IN_HAND`] inputs still waiting
/// after the tick's was taken before the node gives a tick back (5 s at
/// 30 Hz).
pub(super) const SHRINK_AFTER_TICKS: u32 = 150;

/// Inputs waiting beyond the tick's that the node never gives back.
const KEEP_IN_HAND: usize = 1;

/// One input waiting for its tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Queued<I> {
    /// Its `seq`, echoed as `ack` once applied.
    pub(super) seq: u32,
    /// The tick its client was drawing others at, if it said.
    pub(super) shown: Option<Tick>,
    /// The controls.
    pub(super) input: I,
}

/// Inputs received and not yet applied, in the order sent.
#[derive(Debug)]
pub(super) struct InputQueue<G: Game> {
    waiting: VecDeque<Queued<G::Input>>,
    /// Ticks in a row more than [`KEEP_IN_HAND`] waited after the tick's.
    surplus: u32,
    game: PhantomData<fn() -> G>,
}

impl<G: Game> Default for InputQueue<G> {
    fn default() -> Self {
        InputQueue {
            waiting: VecDeque::with_capacity(MAX_QUEUED + 1),
            surplus: 0,
            game: PhantomData,
        }
    }
}

impl<G: Game> InputQueue<G> {
    /// An input received (its `seq` above every earlier one's).
    pub(super) fn push(&mut self, queued: Queued<G::Input>) {
        self.waiting.push_back(queued);
        if self.waiting.len() > MAX_QUEUED
            && let (Some(oldest), Some(next)) = (self.waiting.pop_front(), self.waiting.pop_front())
        {
            self.waiting.push_front(fold::<G>(oldest, next));
        }
    }

    /// The input for this tick, if one waits.
    pub(super) fn next(&mut self) -> Option<Queued<G::Input>> {
        let Some(taken) = self.waiting.pop_front() else {
            self.surplus = 0;
            return None;
        };
        if self.waiting.len() <= KEEP_IN_HAND {
            self.surplus = 0;
            return Some(taken);
        }
        self.surplus += 1;
        if self.surplus < SHRINK_AFTER_TICKS {
            return Some(taken);
        }
        self.surplus = 0;
        metrics::counter!("skirmish_input_delay_shrunk_total").increment(1);
        Some(match self.waiting.pop_front() {
            Some(next) => fold::<G>(taken, next),
            None => taken,
        })
    }

    /// Forgets what waits and holds `input` from the next tick (a dropped
    /// connection's "no controls").
    pub(super) fn replace(&mut self, seq: u32, input: G::Input) {
        self.waiting.clear();
        self.waiting.push_back(Queued {
            seq,
            shown: None,
            input,
        });
    }
}

/// Two inputs as one: the newer's `seq` and controls merged by the game
/// (a trigger pull in either is kept), judged from the older's view.
fn fold<G: Game>(oldest: Queued<G::Input>, next: Queued<G::Input>) -> Queued<G::Input> {
    Queued {
        seq: next.seq,
        shown: oldest.shown.or(next.shown),
        input: G::merge_inputs(oldest.input, next.input),
    }
}

/// How many ticks back the game judges an input applied in `step` (lag
/// compensation): back to the tick its client showed, if it said one, that
/// tick has been stepped, and it is at most `limit` back; else 0, the
/// present. A view further back than the limit is not rewound at all
/// rather than part way: a shot from it is judged as it lands now.
pub(super) fn rewind(step: Tick, shown: Option<Tick>, limit: Tick) -> Tick {
    match shown {
        Some(shown) if shown > 0 && shown < step && step - shown <= limit => step - shown,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skirmish_arena::ArenaMatch;
    use skirmish_arena::sim::Input;

    fn right(fire: bool) -> Input {
        Input::new(1.0, 0.0, 0.0, fire).expect("valid")
    }

    fn seqs(queue: &mut InputQueue<ArenaMatch>) -> Vec<u32> {
        std::iter::from_fn(|| queue.next().map(|q| q.seq)).collect()
    }

    fn sent(seq: u32, input: Input) -> Queued<Input> {
        Queued {
            seq,
            shown: Some(100 + seq),
            input,
        }
    }

    #[test]
    fn inputs_come_out_one_a_tick_in_the_order_sent() {
        let mut queue = InputQueue::<ArenaMatch>::default();
        queue.push(sent(1, right(false)));
        queue.push(sent(2, right(false)));
        assert_eq!(queue.next().map(|q| q.seq), Some(1));
        queue.push(sent(3, right(false)));
        assert_eq!(seqs(&mut queue), [2, 3]);
        assert!(
            queue.next().is_none(),
            "nothing waits: the game holds the last"
        );
    }

    #[test]
    fn a_backlog_folds_its_oldest_keeping_a_trigger_pulled() {
        let mut queue = InputQueue::<ArenaMatch>::default();
        queue.push(sent(1, right(true)));
        for seq in 2..=5 {
            queue.push(sent(seq, right(false)));
        }
        // 1 and 2 folded into 2, then 2 and 3 into 3: at most MAX_QUEUED.
        let folded = queue.next().expect("the oldest");
        assert_eq!(folded.seq, 3);
        assert!(folded.input.fire(), "the pull in input 1 is kept");
        assert_eq!(
            folded.shown,
            Some(101),
            "judged from where input 1's pull was aimed"
        );
        assert_eq!(seqs(&mut queue), [4, 5]);
    }

    /// Plays `late` ticks with no input, then the inputs of those ticks at
    /// once and one a tick after for `ticks` more; the seqs applied.
    fn after_a_stall(late: usize, ticks: u32) -> (InputQueue<ArenaMatch>, Vec<u32>) {
        let mut queue = InputQueue::<ArenaMatch>::default();
        queue.push(sent(1, right(false)));
        assert_eq!(queue.next().map(|q| q.seq), Some(1));
        let mut seq = 1;
        for _ in 0..late {
            assert!(queue.next().is_none(), "a late tick: the last is held");
        }
        for _ in 0..=late {
            seq += 1;
            queue.push(sent(seq, right(false)));
        }
        let mut applied = Vec::new();
        for _ in 0..ticks {
            applied.push(queue.next().expect("one waits").seq);
            seq += 1;
            queue.push(sent(seq, right(false)));
        }
        (queue, applied)
    }

    fn folds(applied: &[u32]) -> Vec<usize> {
        (1..applied.len())
            .filter(|&i| applied[i] != applied[i - 1] + 1)
            .collect()
    }

    #[test]
    fn ticks_in_hand_beyond_one_are_given_back_after_a_while() {
        let (mut queue, applied) = after_a_stall(2, SHRINK_AFTER_TICKS + 10);
        // Two more waited after every tick's: once, after
        // SHRINK_AFTER_TICKS ticks, two are folded into one.
        assert_eq!(folds(&applied), [SHRINK_AFTER_TICKS as usize - 1]);
        // One is kept in hand: one waits after the tick's, then none.
        assert!(queue.next().is_some());
        assert!(queue.next().is_some());
        assert!(queue.next().is_none());
    }

    #[test]
    fn one_tick_in_hand_is_kept_however_long() {
        let (_, applied) = after_a_stall(1, 3 * SHRINK_AFTER_TICKS);
        assert_eq!(folds(&applied), Vec::<usize>::new());
    }

    #[test]
    fn a_tick_with_one_or_none_left_waiting_starts_the_count_again() {
        let mut queue = InputQueue::<ArenaMatch>::default();
        for seq in 1..=3 {
            queue.push(sent(seq, right(false)));
        }
        let mut seq = 3;
        let mut applied = Vec::new();
        for tick in 1..=3 * SHRINK_AFTER_TICKS {
            applied.push(queue.next().expect("one waits").seq);
            // Two wait beyond the tick's, but every 100th input comes a
            // tick late, with the next: the network needed the second.
            let arriving = match tick % 100 {
                0 => 0,
                1 if tick > 1 => 2,
                _ => 1,
            };
            for _ in 0..arriving {
                seq += 1;
                queue.push(sent(seq, right(false)));
            }
        }
        assert_eq!(folds(&applied), Vec::<usize>::new());
    }

    #[test]
    fn replacing_forgets_what_waits() {
        let mut queue = InputQueue::<ArenaMatch>::default();
        queue.push(sent(1, right(true)));
        queue.push(sent(2, right(true)));
        queue.replace(2, Input::default());
        let q = queue.next().expect("the replacement");
        assert_eq!(
            (q.seq, q.shown, q.input.fire(), q.input.move_dir().x),
            (2, None, false, 0.0)
        );
        assert!(queue.next().is_none());
    }

    #[test]
    fn inputs_rewind_to_the_tick_shown_within_the_limit_and_not_at_all_past_it() {
        assert_eq!(rewind(100, Some(97), 6), 3, "100 ms back at 30 Hz");
        assert_eq!(rewind(100, Some(94), 6), 6, "the limit itself");
        assert_eq!(rewind(100, Some(93), 6), 0, "past the limit: not at all");
        assert_eq!(rewind(100, Some(88), 6), 0, "400 ms back at 30 Hz");
        assert_eq!(rewind(100, None, 6), 0, "a client that does not say");
        assert_eq!(rewind(100, Some(0), 6), 0, "nothing shown yet");
        assert_eq!(rewind(100, Some(100), 6), 0, "a tick not stepped yet");
        assert_eq!(rewind(100, Some(u32::MAX), 6), 0, "nor one in the future");
        assert_eq!(rewind(100, Some(97), 0), 0, "a game that asks for none");
    }
}
