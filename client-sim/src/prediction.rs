//! A bot predicting its own arena movement as the browser does
//! (`assets/web/src/predict.js`), with the arena's own movement rules: each
//! input it sends moves its predicted self at once; each snapshot that
//! acknowledges an input says how far the prediction after that input was
//! from where the node put the bot, the **prediction error** load runs
//! report. Past a quarter unit (snapshots place bodies in eighths) the
//! prediction restarts from the node's position and replays the inputs
//! after the acknowledged one, with the velocity of the acknowledged input
//! stepped again when that lands where the node is (it held the input for
//! a tick no input reached it in), else the predicted one.

use skirmish_arena::geom::Vec2;
use skirmish_arena::wire::ClientMovement;
use std::collections::VecDeque;

/// Predictions this close to the node's position are left as they are.
const AGREE_UNITS: f32 = 0.25;

/// Inputs kept for replay.
const MAX_HISTORY: usize = 128;

/// Ticks a node may have held an input for, looked for in a correction.
const MAX_HELD_TICKS: usize = 3;

/// A bot's predicted self.
#[derive(Debug)]
pub struct Prediction {
    movement: ClientMovement,
    /// Position and velocity after every input sent; none before the bot
    /// has seen itself alive.
    state: Option<(Vec2, Vec2)>,
    /// Inputs not yet acknowledged: seq, direction, state after.
    history: VecDeque<(u32, Vec2, (Vec2, Vec2))>,
}

impl Prediction {
    pub fn new(movement: ClientMovement) -> Self {
        Prediction {
            movement,
            state: None,
            history: VecDeque::new(),
        }
    }

    /// Where the bot predicts itself after the last input sent; `None`
    /// before it has seen itself alive.
    pub fn predicted(&self) -> Option<Vec2> {
        self.state.map(|(pos, _)| pos)
    }

    /// Inputs are numbered afresh (a new connection): forget those kept.
    pub fn forget_inputs(&mut self) {
        self.history.clear();
    }

    /// An input about to be sent, wanting to go `dir`.
    pub fn input(&mut self, seq: u32, dir: Vec2) {
        let Some((pos, vel)) = self.state else { return };
        let next = self.movement.movement().step(pos, vel, dir);
        self.state = Some(next);
        self.history.push_back((seq, dir, next));
        if self.history.len() > MAX_HISTORY {
            self.history.pop_front();
        }
    }

    /// A snapshot: the node put the bot at `at` (`None`: dead, or not in
    /// it) after input `ack`. The prediction error, when the snapshot
    /// acknowledges an input the bot predicted.
    pub fn observe(&mut self, ack: u32, at: Option<Vec2>) -> Option<f32> {
        let Some(at) = at else {
            self.state = None;
            self.history.clear();
            return None;
        };
        let Some((pos, vel)) = self.state else {
            self.state = Some((at, Vec2::ZERO));
            self.history.retain(|(seq, ..)| *seq > ack);
            return None;
        };
        let acked_entry = self.history.iter().find(|(seq, ..)| *seq == ack);
        let acked = acked_entry.map(|(_, _, after)| *after);
        let acked_dir = acked_entry.map(|(_, dir, _)| *dir);
        self.history.retain(|(seq, ..)| *seq > ack);
        let predicted = match acked {
            Some(after) => after,
            // Nothing sent since: the prediction is the current state.
            None if self.history.is_empty() => (pos, vel),
            None => return None,
        };
        let error = (predicted.0 - at).length();
        if error > AGREE_UNITS {
            let movement = self.movement.movement();
            let held = acked_dir.and_then(|dir| {
                std::iter::successors(Some(predicted), |&(p, v)| Some(movement.step(p, v, dir)))
                    .skip(1)
                    .take(MAX_HELD_TICKS)
                    .find(|(p, _)| (*p - at).length() <= AGREE_UNITS)
            });
            let mut state = (at, held.map_or(predicted.1, |(_, v)| v));
            for (_, dir, after) in &mut self.history {
                state = movement.step(state.0, state.1, *dir);
                *after = state;
            }
            self.state = Some(state);
        }
        acked.map(|_| error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skirmish_arena::wire::{MapView, RulesView};

    fn movement() -> ClientMovement {
        let map = MapView {
            name: "open".into(),
            width: 1000.0,
            height: 1000.0,
            obstacles: vec![],
            health_packs: vec![],
        };
        let rules = RulesView {
            player_radius: 20.0,
            projectile_radius: 4.0,
            pack_radius: 12.0,
            max_health: 100,
            kill_limit: 10,
            max_players: 16,
            max_speed: 300.0,
            acceleration: 3000.0,
            friction: 10.0,
            projectile_speed: 900.0,
            projectile_life_s: 1.0,
            fire_cooldown_s: 0.25,
        };
        ClientMovement::new(&map, &rules, 30)
    }

    #[test]
    fn a_node_that_agrees_gives_no_error_and_one_that_does_not_is_followed() {
        let mut p = Prediction::new(movement());
        let start = Vec2::new(500.0, 500.0);
        assert_eq!(p.observe(0, Some(start)), None, "the first sighting");
        let right = Vec2::new(1.0, 0.0);
        for seq in 1..=3 {
            p.input(seq, right);
        }
        // The node agrees about input 2.
        let m = movement();
        let one = m.movement().step(start, Vec2::ZERO, right);
        let two = m.movement().step(one.0, one.1, right);
        assert_eq!(p.observe(2, Some(two.0)), Some(0.0));
        // It says the bot stood still through input 3: the prediction was
        // three steps off, and restarts there.
        let error = p.observe(3, Some(start)).expect("an error");
        assert!(error > 10.0, "{error}");
        p.input(4, Vec2::ZERO);
        let after = p.state.expect("predicting").0;
        assert!(
            (after - start).length() < 20.0,
            "restarted at the node's {after:?}"
        );
    }

    #[test]
    fn a_tick_the_node_held_an_input_for_is_one_error_not_one_a_snapshot() {
        let mut p = Prediction::new(movement());
        let start = Vec2::new(200.0, 500.0);
        p.observe(0, Some(start));
        let right = Vec2::new(1.0, 0.0);
        for seq in 1..=10 {
            p.input(seq, right);
        }
        // The node: inputs 1 to 3, 3 once more (nothing had come), then 4
        // onwards, from rest, so velocity still grows when it holds.
        let m = movement();
        let mut node = (start, Vec2::ZERO);
        let mut errors = Vec::new();
        for seq in 1..=10 {
            node = m.movement().step(node.0, node.1, right);
            if seq == 3 {
                node = m.movement().step(node.0, node.1, right);
            }
            errors.extend(p.observe(seq, Some(node.0)));
        }
        let corrections = errors.iter().filter(|&&e| e > AGREE_UNITS).count();
        assert_eq!(corrections, 1, "{errors:?}");
    }
}
