//! The seam between the engine and a game: the [`Game`] trait a studio
//! implements, and the few types the two exchange.
//!
//! A game is pure, like the rest of this crate: no tokio, no sockets, no
//! clocks. Time enters as ticks (each [`Game::step`] is one), randomness
//! only from the seed a match is created with. The engine (the server's
//! match runner) owns everything else: who is connected, when a tick runs,
//! which bytes go to whom, results, ratings and leaderboards.
//!
//! On the wire a game speaks through [`GameData`]: one MessagePack value in
//! a known place of an engine message (`input`'s controls, `joined`'s
//! setup), whose shape is the game's to document; and through its
//! replicated entities ([`Game::schema`]), which the engine encodes into
//! every player's snapshots.

use crate::replication::{Frame, Interest, Schema};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;

pub use crate::ids::{EntityId, TeamId, Tick};

/// Tick rates a node accepts, steps per second.
pub const TICK_RATE_RANGE: RangeInclusive<u16> = 10..=128;

/// A game's part of a wire message: exactly one MessagePack value, whose
/// shape the game documents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GameData(pub rmpv::Value);

impl GameData {
    /// Any serialisable value as game data, in the compact array form every
    /// protocol message uses.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Self {
        // The compact form `codec::encode` writes (this module sits below
        // the codec, which carries game data in messages).
        let bytes = rmp_serde::to_vec(value).expect("game values always encode");
        GameData(
            rmpv::decode::read_value(&mut bytes.as_slice())
                .expect("bytes just encoded are one value"),
        )
    }

    /// Reads the value as `T` (structs from arrays, as they are written).
    pub fn to<T: serde::de::DeserializeOwned>(&self) -> Result<T, InputError> {
        let mut bytes = Vec::with_capacity(32);
        rmpv::encode::write_value(&mut bytes, &self.0).expect("writes into a Vec cannot fail");
        rmp_serde::from_slice(&bytes).map_err(|e| InputError::Malformed(e.to_string()))
    }
}

/// Why a game refused one input. Each maps to the protocol's error code of
/// the same name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Not the shape the game documents.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// A number was NaN or infinite.
    #[error("`{0}` must be a finite number")]
    NotFinite(&'static str),
    /// A number was outside its documented range.
    #[error("`{0}` is out of range")]
    OutOfRange(&'static str),
}

/// Why a game would not admit someone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// No room for another.
    #[error("the match is full")]
    Full,
    /// The match has ended.
    #[error("the match is over")]
    Over,
}

/// One named number a game reports per participant at the end of a match
/// (`kills`, `captures`); leaderboards name the stat they rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The stat's name, as leaderboards and the wire spell it.
    pub name: &'static str,
    /// Its value.
    pub value: i64,
}

/// Where one participant finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// Who.
    pub id: EntityId,
    /// 1 is best; ties share a placement. In a team game, the team's.
    pub placement: u8,
    /// Their team, in a team game.
    pub team: Option<TeamId>,
    /// What the game counted for them.
    pub stats: Vec<Stat>,
}

/// One participant's controls for one [`Game::step`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Control<I> {
    /// Whose.
    pub id: EntityId,
    /// What they asked for.
    pub input: I,
    /// Lag compensation: how many ticks before this step was the world the
    /// player was shown when they sent this input, for a game that asks
    /// ([`Game::rewind_limit`]) and only within its limit; 0 otherwise (no
    /// rewind: bots, clients that do not say what they showed, and views
    /// older than the limit).
    pub rewind: Tick,
}

impl<I> Control<I> {
    /// Controls judged against the world as it is now.
    pub fn new(id: EntityId, input: I) -> Self {
        Control {
            id,
            input,
            rewind: 0,
        }
    }

    /// The same controls judged against the world `ticks` ago.
    pub fn rewound(self, ticks: Tick) -> Self {
        Control {
            rewind: ticks,
            ..self
        }
    }
}

/// Why a saved match could not be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot restore the match: {0}")]
pub struct RestoreError(pub String);

/// One game the engine can host. A value of the implementing type is one
/// running match; [`Game::Config`] is what every match of the game on a
/// node shares (rules, map), loaded once.
///
/// The engine calls, each tick: [`Game::step`] with the inputs received
/// since the last, then [`Game::replicate`] once and [`Game::interest`]
/// once per player (each player receives its delta of the same frame),
/// then [`Game::end`]. Between ticks it may
/// [`Game::admit`] and [`Game::remove`] participants. Everything a game does
/// must be deterministic given its config, seed, and the calls made: the
/// replay tests of each game check it.
pub trait Game: Sized + Send + fmt::Debug + 'static {
    /// Shared by every match of this game on a node.
    type Config: Send + Sync + fmt::Debug + 'static;
    /// One participant's validated controls for one tick. `Default` is
    /// "no controls" (what a disconnected player sends).
    type Input: Copy + Default + Send + fmt::Debug + 'static;
    /// A server bot's memory between its decisions.
    type Bot: Send + fmt::Debug + 'static;

    /// The game's id, as matchmaking modes and the wire name it
    /// (`joined.game`).
    const ID: &'static str;

    /// The names of the stats [`Game::standings`] reports, which
    /// leaderboards may take (a node refuses a board naming a stat no game
    /// it serves reports).
    const STATS: &'static [&'static str];

    /// Teams a match of the game is played in: 0 for every player for
    /// themselves, else the number of teams (numbered from 0). A matchmaking
    /// mode for the game must split its players into exactly this many.
    const TEAMS: u8;

    /// The most participants a match of this game seats.
    fn max_players(config: &Self::Config) -> u8;

    /// A new match at tick 0.
    fn new(config: Arc<Self::Config>, seed: u64) -> Self;

    /// The tick the match is at: 0 before the first step.
    fn tick(&self) -> Tick;

    /// Admits `id`, placing it (a team, a spawn point); `team` is the
    /// matchmaker's choice in a formed team match, which the game honours.
    /// Returns the team placed in, for team games.
    fn admit(&mut self, id: EntityId, team: Option<TeamId>) -> Result<Option<TeamId>, AdmitError>;

    /// Takes `id` out of the match (it left for good).
    fn remove(&mut self, id: EntityId);

    /// Decodes and validates one input from its wire form: the only place
    /// client numbers enter the simulation.
    fn decode_input(config: &Self::Config, data: &GameData) -> Result<Self::Input, InputError>;

    /// Folds two waiting inputs into one, when a player's backlog runs past
    /// what the engine keeps (it applies one input a tick, in order). The
    /// default keeps the newer; a game whose inputs carry edges (a trigger
    /// pulled) keeps them here.
    fn merge_inputs(older: Self::Input, newer: Self::Input) -> Self::Input {
        let _ = older;
        newer
    }

    /// Lag compensation: the most ticks this game judges a player's actions
    /// against the world as that player saw it (a shot against where its
    /// target was drawn on the shooter's screen, not where it is now). The
    /// engine then sets each [`Control::rewind`] from the tick the client
    /// says it was showing, and to 0 when that is further back than this
    /// (too laggy a view is judged against the present). The game keeps
    /// this many ticks of whatever it rewinds. The default, 0, asks for
    /// none.
    fn rewind_limit(config: &Self::Config) -> Tick {
        let _ = config;
        0
    }

    /// Steps one tick with each participant's input (those without one send
    /// nothing this tick).
    fn step(&mut self, inputs: &[Control<Self::Input>]);

    /// What a client needs to draw this game, sent once in `joined`.
    fn setup(&self) -> GameData;

    /// The kinds of entity the game replicates, each with its fields and
    /// how each is quantised (positions in fixed point within the map,
    /// angles in a few bits, small counts, flags). Clients receive it in
    /// `joined` and decode every snapshot with it.
    fn schema(config: &Self::Config) -> Schema;

    /// Writes every entity after the last step into `frame` (empty, of
    /// [`Game::schema`]'s kinds, fields in wire form), each with its place
    /// ([`Frame::push_at`]) when only viewers near it should receive it,
    /// and the step's events ([`Frame::event`]), which the engine sends to
    /// each viewer until it acknowledges a later tick.
    fn replicate(&self, frame: &mut Frame);

    /// What `viewer` receives this tick (interest management): the engine
    /// asks once per viewer and tick. By default everything.
    fn interest(&self, viewer: EntityId) -> Interest {
        let _ = viewer;
        Interest::Everything
    }

    /// Why the match is over (`time_up`, `kill_limit`), or `None` while it
    /// runs.
    fn end(&self) -> Option<&'static str>;

    /// Everyone's standing, best first.
    fn standings(&self) -> Vec<Standing>;

    /// A server bot for `id`, the match's `nth` bot (from 0), seeded with
    /// `seed`.
    fn new_bot(&self, id: EntityId, nth: usize, seed: u64) -> Self::Bot;

    /// What a bot does this tick; `None` sends nothing (its last controls
    /// stay held, as for a player whose input did not arrive).
    fn bot_input(&self, bot: &mut Self::Bot, id: EntityId) -> Option<Self::Input>;

    /// The whole state of the match, to restore later (on this node or
    /// another) and continue exactly as if it had never stopped. Server
    /// bots' memory ([`Game::Bot`]) is the engine's to keep, not part of
    /// this.
    fn save(&self) -> Vec<u8>;

    /// A match from [`Game::save`]'s bytes.
    fn restore(config: Arc<Self::Config>, saved: &[u8]) -> Result<Self, RestoreError>;

    /// A hash of the whole state, for replay tests.
    fn state_hash(&self) -> u64;
}
