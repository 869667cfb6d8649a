//! The games a node serves. Each is a [`Game`] registered under a name with
//! its config ([`Games::with`], or [`Games::with_name`] for a variant: the
//! same game with other settings, such as a larger map for larger matches);
//! the rest of the node sees it through [`HostedGame`], which has no type
//! parameters, so the directory of matches and the sessions hold any game
//! alike.

use crate::runner::{Directory, MatchCommand, MatchPlan, MatchRunner, RunnerSettings};
use futures_util::future::BoxFuture;
use skirmish_shared::game::{Game, GameData, InputError};
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// One game a node serves, without its type.
pub trait HostedGame: Send + Sync + fmt::Debug {
    /// The name it is served under, which matchmaking modes give: its id,
    /// or a variant's own name.
    fn name(&self) -> &str;

    /// The game's id ([`Game::ID`]), which clients are told (`joined`).
    fn id(&self) -> &'static str;

    /// The most players a match of it seats.
    fn max_players(&self) -> u8;

    /// The stats it reports ([`Game::STATS`]).
    fn stats(&self) -> &'static [&'static str];

    /// Its teams ([`Game::TEAMS`]).
    fn teams(&self) -> u8;

    /// Decodes and checks one input, so a session answers a bad one before
    /// it reaches the match, and the match gets it decoded: the game's
    /// `Game::Input`, boxed.
    fn decode_input(&self, input: &GameData) -> Result<Box<dyn Any + Send>, InputError>;

    /// The task that runs one match of the game, to spawn.
    fn runner(
        &self,
        plan: MatchPlan,
        settings: RunnerSettings,
        commands: mpsc::Receiver<MatchCommand>,
        directory: Arc<dyn Directory>,
        shutdown: watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()>;
}

/// A [`Game`], its name, and the config its matches share.
struct Hosted<G: Game> {
    name: String,
    config: Arc<G::Config>,
}

impl<G: Game> fmt::Debug for Hosted<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hosted")
            .field("name", &self.name)
            .field("game", &G::ID)
            .finish()
    }
}

impl<G: Game> HostedGame for Hosted<G> {
    fn name(&self) -> &str {
        &self.name
    }

    fn id(&self) -> &'static str {
        G::ID
    }

    fn max_players(&self) -> u8 {
        G::max_players(&self.config)
    }

    fn stats(&self) -> &'static [&'static str] {
        G::STATS
    }

    fn teams(&self) -> u8 {
        G::TEAMS
    }

    fn decode_input(&self, input: &GameData) -> Result<Box<dyn Any + Send>, InputError> {
        let input: Box<dyn Any + Send> = Box::new(G::decode_input(&self.config, input)?);
        Ok(input)
    }

    fn runner(
        &self,
        plan: MatchPlan,
        settings: RunnerSettings,
        commands: mpsc::Receiver<MatchCommand>,
        directory: Arc<dyn Directory>,
        shutdown: watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()> {
        let runner = MatchRunner::<G>::new(
            Arc::clone(&self.config),
            plan,
            settings,
            commands,
            directory,
            shutdown,
        );
        Box::pin(runner.run())
    }
}

/// The games a node serves, in the order registered; the first is the one
/// quick play (`play`) starts.
#[derive(Clone, Debug, Default)]
pub struct Games {
    list: Vec<Arc<dyn HostedGame>>,
}

impl Games {
    /// Adds a game under its id, its matches sharing `config`. A name
    /// registered twice keeps its first config.
    pub fn with<G: Game>(self, config: G::Config) -> Self {
        self.with_name::<G>(G::ID, config)
    }

    /// Adds a game under `name` (a variant of it, when not its id), its
    /// matches sharing `config`. A name registered twice keeps its first
    /// config.
    pub fn with_name<G: Game>(mut self, name: impl Into<String>, config: G::Config) -> Self {
        let name = name.into();
        if self.get(&name).is_none() {
            self.list.push(Arc::new(Hosted::<G> {
                name,
                config: Arc::new(config),
            }));
        }
        self
    }

    /// A game by the name it is served under.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn HostedGame>> {
        self.list.iter().find(|g| g.name() == name)
    }

    /// The game quick play starts: the first registered.
    pub fn quick_play(&self) -> Option<&Arc<dyn HostedGame>> {
        self.list.first()
    }

    /// Whether some game reports the stat `name`.
    pub fn reports(&self, name: &str) -> bool {
        self.list.iter().any(|g| g.stats().contains(&name))
    }

    /// Every game, in the order registered.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn HostedGame>> {
        self.list.iter()
    }

    /// The name of every game, in the order registered.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|g| g.name()).collect()
    }
}
