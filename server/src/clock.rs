//! The wall clock, in the one form the node stores and sends it: Unix
//! milliseconds. Kept apart so the parts that only need the time (the match
//! runner, the results outbox) do not depend on the node.

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
