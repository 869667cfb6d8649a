//! The inputs an `input` repeats in `earlier` (PROTOCOL.md section 4): over
//! WebTransport, whose datagrams may be lost, each input carries the ones
//! just before it that the node has not acknowledged, as the browser does.

use skirmish_shared::game::GameData;
use skirmish_shared::proto::MAX_EARLIER_INPUTS;
use std::collections::VecDeque;

/// The controls of the last inputs sent, newest first.
#[derive(Debug, Default)]
pub struct Repeats {
    recent: VecDeque<GameData>,
}

impl Repeats {
    /// The `earlier` of input `seq`, when the newest acknowledged is
    /// `acked`; then remembers `input` as sent.
    pub fn next(&mut self, seq: u32, acked: u32, input: &GameData) -> Vec<GameData> {
        let unacked = seq.saturating_sub(acked.saturating_add(1)) as usize;
        let earlier = self.recent.iter().take(unacked).cloned().collect();
        self.recent.push_front(input.clone());
        self.recent.truncate(MAX_EARLIER_INPUTS);
        earlier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unacknowledged_inputs_before_go_newest_first_two_at_most() {
        let data = |n: u8| skirmish_arena::wire::input_data(f32::from(n) / 10.0, 0.0, 0.0, false);
        let mut repeats = Repeats::default();
        assert!(repeats.next(1, 0, &data(1)).is_empty(), "nothing before");
        assert_eq!(repeats.next(2, 0, &data(2)), [data(1)]);
        assert_eq!(repeats.next(3, 0, &data(3)), [data(2), data(1)]);
        assert_eq!(repeats.next(4, 0, &data(4)), [data(3), data(2)]);
        assert_eq!(repeats.next(5, 3, &data(5)), [data(4)], "3 acknowledged");
        assert!(repeats.next(6, 5, &data(6)).is_empty());
    }
}
