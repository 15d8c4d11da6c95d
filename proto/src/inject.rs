//! Injects: a moderator asks the server to pull an online stream (`rtmp://`) or open a media
//! file on the server and publish it into the channel as a host named `inject-<name>`, with a
//! video and an audio track of source [`Inject`](crate::track::Source::Inject). Everyone sees
//! and hears it like any host: hearing sets, mutes and kicks apply.
//!
//! States come back as [`Event::Inject`](crate::wire::Event::Inject) with the push's
//! [`UrlState`](crate::push::UrlState): connecting, running, recovering (an RTMP source that
//! dropped), failed with a reason, stopped (as asked, or a file played to its end).

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::id;

/// Most injects running in one channel at once.
pub const MAX_PER_CHANNEL: usize = 2;
/// Longest source (URL or path), in bytes.
pub const MAX_SOURCE_LEN: usize = 512;
/// What an inject's participant id starts with.
pub const USER_PREFIX: &str = "inject-";
/// Loudest volume, in percent of the source.
pub const MAX_VOLUME: u8 = 100;
/// Output frame rates a re-encoded inject may ask for.
pub const FPS: std::ops::RangeInclusive<u8> = 1..=60;
/// Output sizes a re-encoded inject may ask for (each side, even).
pub const SIDE: std::ops::RangeInclusive<u32> = 16..=1920;

/// What a moderator asks of the server's injects for its channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// A name unique among the wire types: the browser's schema (web/schema) is keyed by it.
#[serde(rename = "InjectRequest")]
pub enum Request {
    /// Start an inject named `name` (unique in the channel) from `source`.
    Start {
        /// The inject's name; its participant is `inject-<name>`.
        name: String,
        /// An `rtmp://` URL or a path on the server (MP4, Matroska or FLV), on the server's
        /// `[inject]` allow-list.
        source: String,
        /// How to play it.
        options: Options,
    },
    /// Change a running inject's volume.
    Update {
        /// Which inject.
        name: String,
        /// The new volume, in percent.
        volume: u8,
    },
    /// Stop an inject: it reports [`UrlState::Stopped`](crate::push::UrlState::Stopped) and
    /// its participant leaves.
    Stop {
        /// Which inject.
        name: String,
    },
}

/// How an inject plays its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Volume in percent of the source, 0 to [`MAX_VOLUME`].
    pub volume: u8,
    /// Play a file again from the start when it ends (ignored for streams).
    pub looped: bool,
    /// Re-encode to this size (width, height); `None` forwards the source's H.264 unchanged
    /// when every receiver decodes it, and re-encodes at the source's size otherwise.
    pub size: Option<(u32, u32)>,
    /// Re-encode at this frame rate; `None` keeps the source's.
    pub fps: Option<u8>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            volume: MAX_VOLUME,
            looped: false,
            size: None,
            fps: None,
        }
    }
}

impl Options {
    /// Whether the source must be decoded and encoded again.
    pub fn reencodes(&self) -> bool {
        self.size.is_some() || self.fps.is_some()
    }
}

impl Request {
    /// The inject it is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Start { name, .. } | Self::Update { name, .. } | Self::Stop { name } => name,
        }
    }

    /// The participant the inject publishes as.
    pub fn user(&self) -> String {
        user_of(self.name())
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        id::validate("inject name", self.name())?;
        // The participant id must be a valid user id too.
        id::validate("inject participant", &self.user())?;
        match self {
            Self::Start {
                source, options, ..
            } => {
                check_source(source)?;
                check_volume(options.volume)?;
                if let Some((w, h)) = options.size
                    && (!SIDE.contains(&w) || !SIDE.contains(&h) || w % 2 == 1 || h % 2 == 1)
                {
                    return Err(invalid(format!(
                        "output size {w}x{h}: each side must be even and within {}..={}",
                        SIDE.start(),
                        SIDE.end()
                    )));
                }
                if let Some(fps) = options.fps
                    && !FPS.contains(&fps)
                {
                    return Err(invalid(format!(
                        "output frame rate {fps} is outside {}..={}",
                        FPS.start(),
                        FPS.end()
                    )));
                }
                Ok(())
            }
            Self::Update { volume, .. } => check_volume(*volume),
            Self::Stop { .. } => Ok(()),
        }
    }
}

/// The participant id of inject `name`.
pub fn user_of(name: &str) -> String {
    format!("{USER_PREFIX}{name}")
}

fn check_source(source: &str) -> Result<(), Error> {
    if source.is_empty() || source.len() > MAX_SOURCE_LEN || source.chars().any(|c| c.is_control())
    {
        let shown: String = source.chars().take(64).collect();
        return Err(invalid(format!(
            "source {shown:?} must be 1 to {MAX_SOURCE_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

fn check_volume(volume: u8) -> Result<(), Error> {
    if volume > MAX_VOLUME {
        return Err(invalid(format!("volume {volume}% is above {MAX_VOLUME}%")));
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(source: &str, options: Options) -> Request {
        Request::Start {
            name: "film".into(),
            source: source.into(),
            options,
        }
    }

    #[test]
    fn a_plain_start_is_valid_and_names_its_participant() {
        let request = start("rtmp://127.0.0.1/live/a", Options::default());
        assert_eq!(request.validate(), Ok(()));
        assert_eq!(request.user(), "inject-film");
        assert!(!Options::default().reencodes());
    }

    #[test]
    fn bad_fields_are_refused_with_their_names() {
        let cases = [
            (start("", Options::default()), "source"),
            (start("a\nb", Options::default()), "source"),
            (
                start(&"x".repeat(MAX_SOURCE_LEN + 1), Options::default()),
                "source",
            ),
            (
                start(
                    "f.mp4",
                    Options {
                        volume: 101,
                        ..Options::default()
                    },
                ),
                "volume",
            ),
            (
                start(
                    "f.mp4",
                    Options {
                        size: Some((641, 360)),
                        ..Options::default()
                    },
                ),
                "output size",
            ),
            (
                start(
                    "f.mp4",
                    Options {
                        size: Some((4096, 360)),
                        ..Options::default()
                    },
                ),
                "output size",
            ),
            (
                start(
                    "f.mp4",
                    Options {
                        fps: Some(0),
                        ..Options::default()
                    },
                ),
                "frame rate",
            ),
            (
                Request::Update {
                    name: "film".into(),
                    volume: 200,
                },
                "volume",
            ),
        ];
        for (request, field) in cases {
            let error = request.validate().expect_err(field);
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.contains(field), "{field}: {}", error.message);
        }
        let bad_name = Request::Stop {
            name: "bad name".into(),
        }
        .validate();
        assert!(bad_name.expect_err("name").message.contains("inject name"));
    }
}
