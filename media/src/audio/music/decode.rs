//! A music file or stream decoded to 48 kHz stereo: symphonia finds the container and the
//! codec, decodes packet by packet, and rubato's FFT resampler brings any other rate to 48 kHz.
//! Used ahead of time by the music worker and in one go for sound effects.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Time;

use super::MusicError;
use super::source::Location;

/// The rate everything is decoded to.
pub const RATE: u32 = 48_000;
/// Channels everything is decoded to (mono is doubled, more than two are folded in).
pub const CHANNELS: usize = 2;
/// Frames per resampler chunk.
const CHUNK: usize = 1024;

/// An open, decoding music source.
pub struct Decoded {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track: u32,
    rate: u32,
    duration_ms: Option<u64>,
    resampler: Option<Fft<f32>>,
    /// Decoded stereo frames at the source rate, waiting for the resampler.
    pending: Vec<f32>,
    /// Frames of resampler delay still to drop from its output.
    skip: usize,
    /// Source frames fed to the resampler and 48 kHz frames kept from it since the last
    /// reset: at the end it is flushed to exactly the length the source had.
    fed: u64,
    kept: u64,
    /// Reused decode buffer.
    scratch: Vec<f32>,
    /// Stereo 48 kHz samples ready to hand out.
    ready: std::collections::VecDeque<f32>,
    /// The source has no more packets.
    ended: bool,
    /// Nothing more will come out.
    done: bool,
    /// Decoded source frames still to drop after an accurate seek.
    discard: u64,
}

impl Decoded {
    /// Opens and probes `location`.
    ///
    /// # Errors
    ///
    /// [`MusicError::NotFound`], [`MusicError::Io`] for a stream that cannot be read,
    /// [`MusicError::Unsupported`] when no container or codec fits.
    pub fn open(location: &Location) -> Result<Self, MusicError> {
        let name = location.to_string();
        Self::from_source(location.open()?, location.extension().as_deref(), &name)
    }

    /// Decodes a live stream read from `reader` (e.g. ADTS AAC as an RTMP stream brings it,
    /// with `extension` `"aac"` as the container hint), named `name` in errors. Reads block
    /// until the stream has data; the end of the reader is the end of the stream. It cannot
    /// seek.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn from_stream(
        reader: Box<dyn std::io::Read + Send + Sync>,
        extension: &str,
        name: &str,
    ) -> Result<Self, MusicError> {
        let source = Box::new(symphonia::core::io::ReadOnlySource::new(reader));
        Self::from_source(source, Some(extension), name)
    }

    fn from_source(
        source: Box<dyn symphonia::core::io::MediaSource>,
        extension: Option<&str>,
        location: &str,
    ) -> Result<Self, MusicError> {
        let stream = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    MusicError::Decode(format!("{location}: the file is cut short ({e})"))
                }
                SymphoniaError::IoError(e) => MusicError::Io(format!("{location}: {e}")),
                e => MusicError::Unsupported(format!("{location}: {e}")),
            })?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| MusicError::Unsupported(format!("{location}: no audio track")))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| MusicError::Unsupported(format!("{location}: not audio")))?;
        let rate = params
            .sample_rate
            .ok_or_else(|| MusicError::Unsupported(format!("{location}: no sample rate")))?;
        if !(8_000..=192_000).contains(&rate) {
            return Err(MusicError::Unsupported(format!(
                "{location}: a sample rate of {rate} Hz (8 to 192 kHz are played)"
            )));
        }
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| MusicError::Unsupported(format!("{location}: {e}")))?;
        let duration_ms = match (track.num_frames, track.time_base, track.duration) {
            (Some(frames), _, _) => Some(frames * 1000 / u64::from(rate)),
            (None, Some(base), Some(duration)) => {
                let ts = symphonia::core::units::Timestamp::new(
                    i64::try_from(duration.get()).unwrap_or(i64::MAX),
                );
                base.calc_time(ts).map(|t| t.as_millis().max(0) as u64)
            }
            _ => None,
        };
        let track = track.id;
        let mut decoded = Self {
            format,
            decoder,
            track,
            rate,
            duration_ms,
            resampler: None,
            pending: Vec::new(),
            skip: 0,
            fed: 0,
            kept: 0,
            scratch: Vec::new(),
            ready: Default::default(),
            ended: false,
            done: false,
            discard: 0,
        };
        decoded.reset_resampler()?;
        Ok(decoded)
    }

    /// The length, when the container says.
    pub fn duration_ms(&self) -> Option<u64> {
        self.duration_ms
    }

    /// The source's own sample rate.
    pub fn source_rate(&self) -> u32 {
        self.rate
    }

    fn reset_resampler(&mut self) -> Result<(), MusicError> {
        self.pending.clear();
        self.ready.clear();
        self.fed = 0;
        self.kept = 0;
        self.resampler = if self.rate == RATE {
            None
        } else {
            let r = Fft::<f32>::new(
                self.rate as usize,
                RATE as usize,
                CHUNK,
                CHANNELS,
                FixedSync::Input,
            )
            .map_err(|e| MusicError::Unsupported(format!("resampling {} Hz: {e}", self.rate)))?;
            self.skip = r.output_delay();
            Some(r)
        };
        Ok(())
    }

    /// Moves to `ms` from the start (to the frame at or before it); returns where it landed.
    ///
    /// # Errors
    ///
    /// [`MusicError::Seek`] when the source cannot seek (a stream without range requests).
    pub fn seek(&mut self, ms: u64) -> Result<u64, MusicError> {
        let time = Time::from_millis_u64(ms);
        let landed = self
            .format
            .seek(
                SeekMode::Accurate,
                SeekTo::Time {
                    time,
                    track_id: Some(self.track),
                },
            )
            .map_err(|e| MusicError::Seek(e.to_string()))?;
        self.decoder.reset();
        self.reset_resampler()?;
        self.ended = false;
        self.done = false;
        // The packet it landed on starts before the time asked for: the decoder drops the
        // frames in between.
        let (required, actual) = (landed.required_ts.get(), landed.actual_ts.get());
        self.discard = u64::try_from(required - actual).unwrap_or(0);
        let frames = u64::try_from(required).unwrap_or(0);
        Ok(frames * 1000 / u64::from(self.rate))
    }

    /// Whether everything has been read (it may decode ahead to find out).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn at_end(&mut self) -> Result<bool, MusicError> {
        while self.ready.is_empty() && !self.done {
            self.fill()?;
        }
        Ok(self.ready.is_empty() && self.done)
    }

    /// Appends `frames` stereo 48 kHz frames to `out`, fewer at the end of the source; returns
    /// how many it appended (0: the end).
    ///
    /// # Errors
    ///
    /// [`MusicError::Decode`] when the stream breaks mid-file (a truncated file, a bad packet
    /// run, a dropped connection).
    pub fn read(&mut self, out: &mut Vec<f32>, frames: usize) -> Result<usize, MusicError> {
        let want = frames * CHANNELS;
        while self.ready.len() < want && !self.done {
            self.fill()?;
        }
        let n = want.min(self.ready.len());
        out.extend(self.ready.drain(..n));
        Ok(n / CHANNELS)
    }

    /// Decodes one more packet (or flushes the resampler at the end) into `ready`; sets
    /// `done` once nothing more will come.
    fn fill(&mut self) -> Result<(), MusicError> {
        if !self.ended && !self.next_packet()? {
            self.ended = true;
        }
        let Some(resampler) = &mut self.resampler else {
            self.ready.extend(self.pending.drain(..));
            self.done = self.ended;
            return Ok(());
        };
        let ratio = |frames: u64| frames * u64::from(RATE) / u64::from(self.rate);
        let mut out = vec![0.0f32; resampler.output_frames_max() * CHANNELS];
        loop {
            let need = resampler.input_frames_next();
            let have = self.pending.len() / CHANNELS;
            if !self.ended && have < need {
                return Ok(());
            }
            // At the end: exactly the source's length at 48 kHz, what is still inside the
            // resampler brought out by feeding silence, its padding cut off.
            let target = ratio(self.fed + have as u64);
            if self.ended && self.kept >= target {
                self.pending.clear();
                self.done = true;
                return Ok(());
            }
            let used = have.min(need);
            let input = InterleavedSlice::new(&self.pending[..], CHANNELS, have)
                .map_err(|e| MusicError::Decode(e.to_string()))?;
            let capacity = out.len() / CHANNELS;
            let mut output = InterleavedSlice::new_mut(&mut out[..], CHANNELS, capacity)
                .map_err(|e| MusicError::Decode(e.to_string()))?;
            let indexing = rubato::Indexing {
                input_offset: 0,
                output_offset: 0,
                partial_len: (used < need).then_some(used),
                active_channels_mask: None,
            };
            let (_, written) = resampler
                .process_into_buffer(&input, &mut output, Some(&indexing))
                .map_err(|e| MusicError::Decode(e.to_string()))?;
            self.pending.drain(..used * CHANNELS);
            self.fed += used as u64;
            let dropped = self.skip.min(written);
            self.skip -= dropped;
            let mut keep = written - dropped;
            if self.ended {
                keep = keep.min(target.saturating_sub(self.kept) as usize);
            }
            self.kept += keep as u64;
            self.ready
                .extend(&out[dropped * CHANNELS..(dropped + keep) * CHANNELS]);
            if !self.ended {
                return Ok(());
            }
        }
    }

    /// Decodes the next packet of the track into `pending`; `false` at the end.
    fn next_packet(&mut self) -> Result<bool, MusicError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(false),
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(MusicError::Decode(e.to_string())),
            };
            if packet.track_id != self.track {
                continue;
            }
            let buffer = match self.decoder.decode(&packet) {
                Ok(b) => b,
                // One bad packet is skipped, as players do.
                Err(SymphoniaError::DecodeError(_)) => continue,
                Err(e) => return Err(MusicError::Decode(e.to_string())),
            };
            let channels = buffer.spec().channels().count().max(1);
            buffer.copy_to_vec_interleaved(&mut self.scratch);
            let skip = self.discard.min((self.scratch.len() / channels) as u64) as usize;
            self.discard -= skip as u64;
            for frame in self.scratch.chunks_exact(channels).skip(skip) {
                let (left, right) = match frame {
                    [mono] => (*mono, *mono),
                    [l, r] => (*l, *r),
                    // Surround: the front pair, with the rest folded in at half level.
                    [l, r, rest @ ..] => {
                        let extra: f32 = rest.iter().sum::<f32>() * 0.5 / rest.len() as f32;
                        (l + extra, r + extra)
                    }
                    [] => (0.0, 0.0),
                };
                self.pending.push(left);
                self.pending.push(right);
            }
            return Ok(true);
        }
    }
}

/// Decodes all of `location` (a short clip: a sound effect), at most `max_secs` seconds.
///
/// # Errors
///
/// As [`Decoded::open`] and [`Decoded::read`], and [`MusicError::TooLong`] for a clip past the
/// limit.
pub fn decode_all(location: &Location, max_secs: u32) -> Result<Vec<f32>, MusicError> {
    let mut decoded = Decoded::open(location)?;
    let limit = max_secs as usize * RATE as usize;
    let mut out = Vec::new();
    loop {
        let n = decoded.read(&mut out, RATE as usize / 10)?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() / CHANNELS > limit {
            return Err(MusicError::TooLong(max_secs));
        }
    }
}
