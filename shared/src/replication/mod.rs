//! Replication every game gets: a game declares its kinds of entity and
//! their quantised fields ([`Schema`]), writes each tick's entities into a
//! [`Frame`], and says what each player may see ([`Interest`]); the
//! engine's
//! [`Replicator`] sends each player a delta ([`write_delta`]) against the
//! newest tick that player acknowledged, and clients decode it into a
//! [`Mirror`] with the schema they received in `joined`.
//!
//! Pure like the rest of this crate: no clocks, no sockets.

mod bits;
mod delta;
mod frame;
mod interest;
mod replicator;
mod schema;

pub use bits::{BitReader, BitWriter, Truncated};
pub use delta::{DecodeError, EventRef, Mirror, Visible, write_delta};
pub use frame::{EntityRef, Frame, Key};
pub use interest::Interest;
pub use replicator::{RING, Replicator};
pub use schema::{Field, Kind, Layout, Quant, Schema};
