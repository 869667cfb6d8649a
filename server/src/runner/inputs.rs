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

use skirmish_shared::game::Game;
use std::collections::VecDeque;
use std::marker::PhantomData;

/// The most inputs waiting for their tick.
pub(super) const MAX_QUEUED: usize = 3;

/// Inputs received and not yet applied, with their `seq`.
#[derive(Debug)]
pub(super) struct InputQueue<G: Game> {
    waiting: VecDeque<(u32, G::Input)>,
    game: PhantomData<fn() -> G>,
}

impl<G: Game> Default for InputQueue<G> {
    fn default() -> Self {
        InputQueue {
            waiting: VecDeque::with_capacity(MAX_QUEUED + 1),
            game: PhantomData,
        }
    }
}

impl<G: Game> InputQueue<G> {
    /// An input received, numbered `seq` (above every earlier one).
    pub(super) fn push(&mut self, seq: u32, input: G::Input) {
        self.waiting.push_back((seq, input));
        if self.waiting.len() > MAX_QUEUED
            && let (Some((_, oldest)), Some((seq, next))) =
                (self.waiting.pop_front(), self.waiting.pop_front())
        {
            self.waiting
                .push_front((seq, G::merge_inputs(oldest, next)));
        }
    }

    /// The input for this tick, if one waits.
    pub(super) fn next(&mut self) -> Option<(u32, G::Input)> {
        self.waiting.pop_front()
    }

    /// Forgets what waits and holds `input` from the next tick (a dropped
    /// connection's "no controls").
    pub(super) fn replace(&mut self, seq: u32, input: G::Input) {
        self.waiting.clear();
        self.waiting.push_back((seq, input));
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
        std::iter::from_fn(|| queue.next().map(|(seq, _)| seq)).collect()
    }

    #[test]
    fn inputs_come_out_one_a_tick_in_the_order_sent() {
        let mut queue = InputQueue::<ArenaMatch>::default();
        queue.push(1, right(false));
        queue.push(2, right(false));
        assert_eq!(queue.next().map(|(seq, _)| seq), Some(1));
        queue.push(3, right(false));
        assert_eq!(seqs(&mut queue), [2, 3]);
        assert!(
            queue.next().is_none(),
            "nothing waits: the game holds the last"
        );
    }

    #[test]
    fn a_backlog_folds_its_oldest_keeping_a_trigger_pulled() {
        let mut queue = InputQueue::<ArenaMatch>::default();
        queue.push(1, right(true));
        for seq in 2..=5 {
            queue.push(seq, right(false));
        }
        // 1 and 2 folded into 2, then 2 and 3 into 3: at most MAX_QUEUED.
        let (seq, input) = queue.next().expect("the oldest");
        assert_eq!(seq, 3);
        assert!(input.fire(), "the pull in input 1 is kept");
        assert_eq!(seqs(&mut queue), [4, 5]);
    }

    #[test]
    fn replacing_forgets_what_waits() {
        let mut queue = InputQueue::<ArenaMatch>::default();
        queue.push(1, right(true));
        queue.push(2, right(true));
        queue.replace(2, Input::default());
        let (seq, input) = queue.next().expect("the replacement");
        assert_eq!((seq, input.fire(), input.move_dir().x), (2, false, 0.0));
        assert!(queue.next().is_none());
    }
}
