//! Network quality on the scale games show (excellent .. very bad, and down), graded from
//! measured figures in one place so every front end grades alike.
//!
//! ```
//! use livestage_proto::quality::Quality;
//!
//! assert_eq!(Quality::of_path(0, 30), Quality::Excellent);
//! assert_eq!(Quality::of_path(12, 30), Quality::Bad);
//! assert!(Quality::of_path(50, 30) < Quality::of_path(2, 30));
//! ```

/// How good a link is, best first; [`Quality::Unknown`] until something was measured.
///
/// Ordered from worst to best, so `a < b` means `a` is worse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quality {
    /// Nothing heard for [`STALL_MS`] or more: the link is down (for now).
    Down,
    /// Barely usable: voice still arrives (DRED rebuilds most of it), video stalls.
    VeryBad,
    /// Communication is hard: frequent gaps, long delays.
    Bad,
    /// Noticeable, but communication is fine.
    Poor,
    /// Slightly short of excellent; hard to notice.
    Good,
    /// As good as it gets.
    Excellent,
    /// Not measured yet.
    #[default]
    Unknown,
}

/// How long a link may hear nothing before it is graded [`Quality::Down`] (and the client
/// reports `reconnecting`).
pub const STALL_MS: u64 = 4_000;

/// Loss (percent) and round trip (ms) at which each grade ends, best first: a path is graded
/// by the worse of the two.
const PATH_BOUNDS: [(Quality, u8, u32); 4] = [
    (Quality::Excellent, 1, 100),
    (Quality::Good, 3, 200),
    (Quality::Poor, 10, 400),
    (Quality::Bad, 30, 800),
];

/// Share of voice frames lost (before recovery, 0..1) and video delay (ms) at which each grade
/// ends, best first, for what arrives from one remote publisher.
const MEDIA_BOUNDS: [(Quality, f32, f32); 4] = [
    (Quality::Excellent, 0.01, 150.0),
    (Quality::Good, 0.03, 300.0),
    (Quality::Poor, 0.10, 600.0),
    (Quality::Bad, 0.30, 1200.0),
];

impl Quality {
    /// Grades a network path from its packet loss (percent) and round-trip time: excellent
    /// under 1% and 100 ms, good under 3% and 200 ms, poor under 10% and 400 ms, bad under 30%
    /// and 800 ms, very bad beyond.
    pub fn of_path(loss_percent: u8, rtt_ms: u32) -> Self {
        PATH_BOUNDS
            .iter()
            .find(|(_, loss, rtt)| loss_percent < *loss && rtt_ms < *rtt)
            .map_or(Self::VeryBad, |(q, _, _)| *q)
    }

    /// Grades a second of media from one publisher as it arrived: the share of voice frames
    /// that had to be rebuilt or concealed (0..1) and the age of the newest video frame when
    /// decoded; [`Quality::Unknown`] when neither arrived. The bounds follow
    /// [`Quality::of_path`]'s, with video delay in place of the round trip.
    pub fn of_media(voice_lost: Option<f32>, video_delay_ms: Option<f32>) -> Self {
        if voice_lost.is_none() && video_delay_ms.is_none() {
            return Self::Unknown;
        }
        let (lost, delay) = (voice_lost.unwrap_or(0.0), video_delay_ms.unwrap_or(0.0));
        MEDIA_BOUNDS
            .iter()
            .find(|(_, l, d)| lost < *l && delay < *d)
            .map_or(Self::VeryBad, |(q, _, _)| *q)
    }

    /// The lower-case name games and the C ABI use: `excellent`, `good`, `poor`, `bad`,
    /// `very_bad`, `down`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::VeryBad => "very_bad",
            Self::Bad => "bad",
            Self::Poor => "poor",
            Self::Good => "good",
            Self::Excellent => "excellent",
            Self::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_grade_by_the_worse_of_loss_and_round_trip() {
        assert_eq!(Quality::of_path(0, 99), Quality::Excellent);
        assert_eq!(Quality::of_path(1, 20), Quality::Good);
        assert_eq!(Quality::of_path(0, 100), Quality::Good);
        assert_eq!(Quality::of_path(5, 20), Quality::Poor);
        assert_eq!(Quality::of_path(0, 450), Quality::Bad);
        assert_eq!(Quality::of_path(29, 20), Quality::Bad);
        assert_eq!(Quality::of_path(80, 20), Quality::VeryBad);
        assert_eq!(Quality::of_path(0, 5_000), Quality::VeryBad);
    }

    #[test]
    fn media_grades_like_paths_and_nothing_is_unknown() {
        assert_eq!(Quality::of_media(None, None), Quality::Unknown);
        assert_eq!(Quality::of_media(Some(0.0), None), Quality::Excellent);
        assert_eq!(Quality::of_media(None, Some(200.0)), Quality::Good);
        assert_eq!(Quality::of_media(Some(0.05), Some(50.0)), Quality::Poor);
        assert_eq!(Quality::of_media(Some(0.5), Some(50.0)), Quality::VeryBad);
    }

    #[test]
    fn order_is_worst_first_and_names_are_stable() {
        assert!(Quality::Down < Quality::VeryBad && Quality::Good < Quality::Excellent);
        assert_eq!(Quality::VeryBad.as_str(), "very_bad");
    }
}
