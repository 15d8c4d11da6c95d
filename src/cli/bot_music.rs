//! `livestage bot --music PATH|URL [...] --voice PRESET`: music mixed under the published
//! voice and the voice changer on it, through the same `LocalMix` and voice chain the Bevy
//! plugin and the C ABI use. The report's `music` says what became of the music.

use livestage_media::audio::music::{Loops, MusicOptions, MusicState};
use livestage_media::audio::{LocalMix, MixEvent, VoicePreset};
use livestage_net::publish::VoiceControls;
use serde::Serialize;

/// Music and voice flags of `livestage bot`.
#[derive(clap::Args, Clone, Debug)]
pub struct MusicArgs {
    /// Mix music into the published voice: a file or an http(s):// URL (WAV, MP3, FLAC,
    /// OGG/Vorbis, AAC in MP4). Needs `--publish audio=...`.
    #[arg(long, value_name = "PATH|URL")]
    music: Option<String>,
    /// Times to play it; 0 is forever.
    #[arg(long, default_value_t = 1)]
    music_loops: u32,
    /// Pitch shift in semitones (-12 to 12).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    music_pitch: f32,
    /// Playback speed in percent (50 to 400).
    #[arg(long, default_value_t = 100.0)]
    music_speed: f32,
    /// How loud the channel hears it, in percent (0 to 100).
    #[arg(long, default_value_t = 100.0)]
    music_volume: f32,
    /// Voice changer preset: off, higher, lower, chipmunk, giant, robot, room, or semitones.
    #[arg(long, value_name = "PRESET", allow_hyphen_values = true)]
    voice: Option<String>,
}

/// What the music did, for the report.
#[derive(Serialize, Default, Debug)]
pub struct MusicReport {
    /// State changes in order: `playing`, `paused`, `stopped`, `completed`, `failed`.
    pub states: Vec<&'static str>,
    /// Why it failed, if it did: the code and the reason.
    pub error: Option<(String, String)>,
    /// Position when the bot left, in milliseconds.
    pub position_ms: Option<u64>,
    /// The source's length.
    pub duration_ms: Option<u64>,
}

/// Checked music and voice settings.
pub struct Music {
    location: Option<(String, MusicOptions)>,
    pub mix: LocalMix,
    pub controls: VoiceControls,
}

impl Music {
    /// Checks the flags; `has_voice` says whether `--publish` has an audio source to mix under.
    ///
    /// # Errors
    ///
    /// Values out of range, an unknown preset, music without a published voice.
    pub fn read(args: &MusicArgs, has_voice: bool) -> anyhow::Result<Self> {
        let controls = VoiceControls::default();
        if let Some(name) = &args.voice {
            controls.set_preset(VoicePreset::parse(name).map_err(anyhow::Error::msg)?);
        }
        let location = match &args.music {
            None => None,
            Some(_) if !has_voice => {
                anyhow::bail!(
                    "--music is mixed under the published voice: add --publish audio=tone:HZ"
                )
            }
            Some(location) => {
                let options = MusicOptions {
                    loops: match args.music_loops {
                        0 => Loops::Forever,
                        n => Loops::Count(n),
                    },
                    pitch: args.music_pitch,
                    speed: args.music_speed / 100.0,
                    publish_volume: args.music_volume / 100.0,
                    ..MusicOptions::default()
                };
                options.validate()?;
                Some((location.clone(), options))
            }
        };
        Ok(Self {
            location,
            mix: LocalMix::new(),
            controls,
        })
    }

    /// Whether `--music` was given.
    pub fn has_music(&self) -> bool {
        self.location.is_some()
    }

    /// Starts the music (once publishing started).
    ///
    /// # Errors
    ///
    /// As [`LocalMix::start_music`]: a missing local file, say.
    pub fn start(&self) -> Result<(), livestage_media::audio::music::MusicError> {
        match &self.location {
            Some((location, options)) => self.mix.start_music(location, *options),
            None => Ok(()),
        }
    }

    /// What happened, for the report.
    pub fn report(&self, report: &mut MusicReport) {
        for event in self.mix.poll_events() {
            let MixEvent::Music(state) = event else {
                continue;
            };
            report.states.push(match &state {
                MusicState::Playing => "playing",
                MusicState::Paused => "paused",
                MusicState::Stopped => "stopped",
                MusicState::Completed => "completed",
                MusicState::Failed(_) => "failed",
            });
            if let MusicState::Failed(e) = state {
                report.error = Some((e.code().to_owned(), e.to_string()));
            }
        }
        if let Some((position, duration)) =
            self.mix.with_music(|m| (m.position_ms(), m.duration_ms()))
        {
            report.position_ms = Some(position);
            report.duration_ms = duration;
        }
    }
}
