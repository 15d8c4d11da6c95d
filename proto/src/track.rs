//! Media tracks: what a participant publishes. A host publishes up to [`MAX_VIDEO`] video and
//! [`MAX_AUDIO`] audio tracks at once (a camera and a screen share, a microphone and music),
//! each with an id of its own choosing that every media packet of the track carries.
//!
//! A track is announced with [`Request::Publish`](crate::wire::Request::Publish) before its
//! media flows; everyone who sees the participant learns of it through
//! [`Event::TrackPublished`](crate::wire::Event::TrackPublished), and its media is refused
//! until then.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};

/// A track's id, unique among its publisher's tracks, below [`MAX_ID`].
pub type TrackId = u8;

/// Track ids are below this.
pub const MAX_ID: TrackId = 16;
/// Most video tracks one participant publishes at once.
pub const MAX_VIDEO: usize = 4;
/// Most audio tracks one participant publishes at once.
pub const MAX_AUDIO: usize = 4;
/// Longest track name, in bytes.
pub const MAX_NAME: usize = 32;
/// Largest encoded [`Track`], in bytes.
pub const MAX_ENCODED: usize = 4 + 1 + MAX_NAME + 2;

/// The id a camera (or any first video) track takes by default.
pub const CAMERA: TrackId = 0;
/// The id a microphone (or any first audio) track takes by default.
pub const MICROPHONE: TrackId = 1;
/// The id a screen share takes by default.
pub const SCREEN: TrackId = 2;

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Sound (Opus datagrams).
    Audio,
    /// Pictures (H.264, one QUIC stream per frame).
    Video,
}

/// Where a track's media comes from, so a viewer can tell a face from a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A camera, or the game's own view of the player.
    Camera,
    /// A display, window or region of the screen.
    Screen,
    /// A microphone (or voice the game pushes).
    Microphone,
    /// Frames or samples the app makes itself.
    Custom,
    /// Music or sound effects mixed for the channel.
    Music,
    /// An external stream pulled into the channel.
    Inject,
}

impl Source {
    /// Every source, for parsers and pickers.
    pub const ALL: [Source; 6] = [
        Source::Camera,
        Source::Screen,
        Source::Microphone,
        Source::Custom,
        Source::Music,
        Source::Inject,
    ];

    /// The stable snake_case name, e.g. `screen`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Camera => "camera",
            Source::Screen => "screen",
            Source::Microphone => "microphone",
            Source::Custom => "custom",
            Source::Music => "music",
            Source::Inject => "inject",
        }
    }

    /// The source named `name` (its [`as_str`](Self::as_str)).
    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One published track, as everyone who sees its publisher knows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Track {
    /// Unique among the publisher's tracks, below [`MAX_ID`].
    pub id: TrackId,
    /// Audio or video.
    pub kind: Kind,
    /// Where it comes from.
    pub source: Source,
    /// A name for pickers ("Rules card"); at most [`MAX_NAME`] bytes, may be empty.
    pub name: String,
    /// A video track that also sends the low layer (a quarter of the area).
    pub low_layer: bool,
    /// A moderator muted this track: its media goes nowhere. Set by the server only.
    pub muted: bool,
}

impl Track {
    /// A track of `kind` from `source` with id `id`, unnamed, one layer, not muted.
    pub fn new(id: TrackId, kind: Kind, source: Source) -> Self {
        Self {
            id,
            kind,
            source,
            name: String::new(),
            low_layer: false,
            muted: false,
        }
    }

    /// A camera video track with the default id.
    pub fn camera() -> Self {
        Self::new(CAMERA, Kind::Video, Source::Camera)
    }

    /// A microphone audio track with the default id.
    pub fn microphone() -> Self {
        Self::new(MICROPHONE, Kind::Audio, Source::Microphone)
    }

    /// A screen-share video track with the default id.
    pub fn screen() -> Self {
        Self::new(SCREEN, Kind::Video, Source::Screen)
    }

    /// Whether this is a video track.
    pub fn is_video(&self) -> bool {
        self.kind == Kind::Video
    }

    /// Checks what a publisher may choose: the id's range, the name's length, and that an
    /// audio track has no low layer.
    pub fn validate(&self) -> Result<(), Error> {
        if self.id >= MAX_ID {
            let msg = format!("track id {} is not below {MAX_ID}", self.id);
            return Err(Error::new(ErrorCode::InvalidInput, msg));
        }
        if self.name.len() > MAX_NAME {
            let msg = format!(
                "a track name of {} bytes is longer than {MAX_NAME}",
                self.name.len()
            );
            return Err(Error::new(ErrorCode::InvalidInput, msg));
        }
        if self.low_layer && self.kind == Kind::Audio {
            let msg = format!("audio track {} cannot have a low video layer", self.id);
            return Err(Error::new(ErrorCode::InvalidInput, msg));
        }
        Ok(())
    }
}

/// Checks that `tracks` stay within the per-kind caps once `track` replaces the track with its
/// id (or joins them).
pub fn check_caps<'a>(
    tracks: impl IntoIterator<Item = &'a Track>,
    track: &Track,
) -> Result<(), Error> {
    let same_kind = tracks
        .into_iter()
        .filter(|t| t.id != track.id && t.kind == track.kind)
        .count();
    let cap = match track.kind {
        Kind::Audio => MAX_AUDIO,
        Kind::Video => MAX_VIDEO,
    };
    if same_kind >= cap {
        let kind = match track.kind {
            Kind::Audio => "audio",
            Kind::Video => "video",
        };
        let msg = format!("at most {cap} {kind} tracks; unpublish one first");
        return Err(Error::new(ErrorCode::TooManyTracks, msg));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn longest_track_fits_its_bound() {
        let mut t = Track::screen();
        t.id = MAX_ID - 1;
        t.name = "x".repeat(MAX_NAME);
        t.low_layer = true;
        t.muted = true;
        let bytes = postcard::to_stdvec(&t).unwrap();
        assert!(bytes.len() <= MAX_ENCODED, "{} bytes", bytes.len());
        t.validate().unwrap();
    }

    #[test]
    fn caps_and_validation() {
        let cams: Vec<Track> = (0..4)
            .map(|i| Track::new(i, Kind::Video, Source::Camera))
            .collect();
        let fifth = Track::new(9, Kind::Video, Source::Screen);
        assert_eq!(
            check_caps(&cams, &fifth).unwrap_err().code,
            ErrorCode::TooManyTracks
        );
        // Replacing one of the four is fine, and audio has its own cap.
        check_caps(&cams, &Track::new(3, Kind::Video, Source::Screen)).unwrap();
        check_caps(&cams, &Track::microphone()).unwrap();
        let mut bad = Track::microphone();
        bad.low_layer = true;
        assert!(bad.validate().is_err());
        assert!(
            Track::new(MAX_ID, Kind::Audio, Source::Music)
                .validate()
                .is_err()
        );
        assert_eq!(Source::parse("screen"), Some(Source::Screen));
        assert_eq!(Source::parse("face"), None);
    }
}
