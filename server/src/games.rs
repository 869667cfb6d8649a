//! The games a node serves. Each is a [`Game`] registered once with its
//! config ([`Games::with`]); the rest of the node sees it through
//! [`HostedGame`], which has no type parameters, so the directory of matches
//! and the sessions hold any game alike.

use crate::runner::{Directory, MatchCommand, MatchPlan, MatchRunner, RunnerSettings};
use futures_util::future::BoxFuture;
use skirmish_shared::game::{Game, GameData, InputError};
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// One game a node serves, without its type.
pub trait HostedGame: Send + Sync + fmt::Debug {
    /// The game's id ([`Game::ID`]).
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

/// A [`Game`] and the config its matches share.
struct Hosted<G: Game> {
    config: Arc<G::Config>,
}

impl<G: Game> fmt::Debug for Hosted<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hosted").field("game", &G::ID).finish()
    }
}

impl<G: Game> HostedGame for Hosted<G> {
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
    /// Adds a game, whose matches share `config`. A game registered twice
    /// keeps its first config.
    pub fn with<G: Game>(mut self, config: G::Config) -> Self {
        if self.get(G::ID).is_none() {
            self.list.push(Arc::new(Hosted::<G> {
                config: Arc::new(config),
            }));
        }
        self
    }

    /// A game by id.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn HostedGame>> {
        self.list.iter().find(|g| g.id() == id)
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

    /// Every game's id, in the order registered.
    pub fn ids(&self) -> Vec<&'static str> {
        self.list.iter().map(|g| g.id()).collect()
    }
}
