//! [`Interest`]: what one viewer receives of a frame.

/// What one viewer receives: entities pushed without a place always, and
/// those with a place ([`super::Frame::push_at`]) as this says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Interest {
    /// Every entity.
    Everything,
    /// Entities within `radius` of `at` (in the game's units).
    Around {
        /// The centre, e.g. the viewer's body.
        at: [f32; 2],
        /// How far it sees.
        radius: f32,
    },
}

impl Interest {
    /// Whether a viewer with this interest receives an entity at `place`.
    #[inline]
    pub fn sees(&self, place: Option<[f32; 2]>) -> bool {
        match (self, place) {
            (Interest::Everything, _) | (_, None) => true,
            (Interest::Around { at, radius }, Some([x, y])) => {
                let (dx, dy) = (x - at[0], y - at[1]);
                dx * dx + dy * dy <= radius * radius
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_area_sees_what_is_inside_and_everything_without_a_place() {
        let area = Interest::Around {
            at: [100.0, 100.0],
            radius: 50.0,
        };
        assert!(area.sees(None));
        assert!(area.sees(Some([130.0, 140.0])));
        assert!(!area.sees(Some([131.0, 141.0])));
        assert!(Interest::Everything.sees(Some([1e9, 1e9])));
    }
}
