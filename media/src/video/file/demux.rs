//! The [`Demuxer`]: a file's first H.264 video track as Annex B access units in decode order,
//! whatever the container.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::h264::Config;
use super::{Container, FileError, Info, mkv, mp4};

/// Frames per second assumed when neither the container nor the SPS says.
const DEFAULT_FPS: f32 = 30.0;

/// What the readers read from: a file, or bytes in memory.
pub(super) trait ReadSeek: Read + Seek + Send {}

impl<T: Read + Seek + Send> ReadSeek for T {}

/// Where a [`Demuxer`] reads from; opened again to rewind a Matroska file.
#[derive(Debug, Clone)]
enum Input {
    Path(PathBuf),
    Bytes(Arc<[u8]>),
}

impl Input {
    fn open(&self) -> Result<(Box<dyn ReadSeek>, u64), FileError> {
        match self {
            Self::Path(path) => {
                let failed = |e: std::io::Error| FileError::Open {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                };
                let file = File::open(path).map_err(failed)?;
                let meta = file.metadata().map_err(failed)?;
                if !meta.is_file() {
                    return Err(FileError::Open {
                        path: path.display().to_string(),
                        reason: "it is not a regular file".into(),
                    });
                }
                Ok((Box::new(BufReader::new(file)), meta.len()))
            }
            Self::Bytes(bytes) => {
                Ok((Box::new(Cursor::new(Arc::clone(bytes))), bytes.len() as u64))
            }
        }
    }
}

/// What a container says about the track beyond its H.264 configuration.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Probe {
    /// Frames per second, when the container tells.
    pub fps: Option<f32>,
    /// The length of a pass in microseconds, when known.
    pub duration_us: Option<u64>,
    /// The number of frames, when known.
    pub frames: Option<u64>,
    /// Presentation times go backwards in decode order somewhere.
    pub reorders: bool,
}

/// One access unit of the file, in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Annex B NAL units; an IDR comes with the SPS and PPS before it.
    pub data: Vec<u8>,
    /// Holds an IDR slice: decodes without earlier frames.
    pub keyframe: bool,
    /// Presentation time from the file's first frame, in microseconds.
    pub pts_us: u64,
    /// How long the frame shows, in microseconds (from the file, else one frame at
    /// [`Info::fps`]).
    pub duration_us: u64,
}

/// The container's reader.
enum Reader {
    Mp4 {
        reader: Box<dyn ReadSeek>,
        entries: Vec<mp4::Entry>,
        next: usize,
    },
    Mkv(Box<mkv::Track>),
}

/// Reads a file's first H.264 video track: [`read`](Self::read) gives its access units in
/// decode order, [`rewind`](Self::rewind) goes back to the start. Samples whose NAL framing is
/// broken are skipped, with the frames after them up to the next keyframe (which would decode
/// wrongly without them); [`skipped`](Self::skipped) counts them.
pub struct Demuxer {
    input: Input,
    reader: Reader,
    config: Config,
    info: Info,
    /// The spacing of frames at the nominal rate, for frames without a duration.
    frame_us: u64,
    /// Skipping until the next keyframe after a broken sample.
    skipping: bool,
    skipped: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Demuxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demuxer")
            .field("input", &self.input)
            .field("info", &self.info)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

impl Demuxer {
    /// Opens the MP4 or Matroska file at `path` (the format is told by its first bytes, not its
    /// name) and reads what its video is.
    ///
    /// # Errors
    ///
    /// [`FileError::Open`] when it cannot be read, [`FileError::NotVideoFile`],
    /// [`FileError::Damaged`], [`FileError::NoVideo`] or [`FileError::Codec`] (another codec
    /// than H.264). An H.264 file that cannot be decoded still opens: see [`Info::decodable`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        Self::new(Input::Path(path.as_ref().to_owned()))
    }

    /// As [`open`](Self::open), for a file already in memory.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Result<Self, FileError> {
        Self::new(Input::Bytes(bytes.into()))
    }

    fn new(input: Input) -> Result<Self, FileError> {
        let (mut reader, len) = input.open()?;
        let container = sniff(&mut reader)?;
        let (reader, config, probe) = match container {
            Container::Mp4 => {
                let track = mp4::open(&mut reader, len)?;
                let reader = Reader::Mp4 {
                    reader,
                    entries: track.entries,
                    next: 0,
                };
                (reader, track.config, track.probe)
            }
            Container::Matroska => {
                let probe = mkv::Track::probe(reader)?;
                let (track, config) = mkv::Track::open(input.open()?.0)?;
                (Reader::Mkv(Box::new(track)), config, probe)
            }
            // `sniff` knows files only.
            Container::Stream => return Err(FileError::NotVideoFile),
        };
        let sps = &config.sps;
        let fps = probe
            .fps
            .or(sps.fps)
            .filter(|f| f.is_finite() && *f > 0.0)
            .unwrap_or(DEFAULT_FPS);
        let info = Info {
            container,
            width: sps.width,
            height: sps.height,
            fps,
            duration_us: probe.duration_us,
            frames: probe.frames,
            profile: sps.profile,
            level: sps.level,
            b_frames: probe.reorders || sps.reorders == Some(true),
            progressive: sps.progressive,
            yuv420_8bit: sps.yuv420_8bit,
        };
        Ok(Self {
            input,
            reader,
            config,
            frame_us: (1_000_000.0 / fps) as u64,
            info,
            skipping: false,
            skipped: 0,
            buf: Vec::new(),
        })
    }

    /// What the video is.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The next access unit in decode order, or `None` at the end of the file.
    ///
    /// # Errors
    ///
    /// [`FileError::Read`] or [`FileError::Damaged`] when the file cannot be read further.
    pub fn read(&mut self) -> Result<Option<Sample>, FileError> {
        loop {
            let (pts_us, duration_us) = match &mut self.reader {
                Reader::Mp4 {
                    reader,
                    entries,
                    next,
                } => {
                    let Some(entry) = entries.get(*next) else {
                        return Ok(None);
                    };
                    *next += 1;
                    mp4::read(reader, entry, &mut self.buf)?;
                    (entry.pts_us, Some(entry.duration_us))
                }
                Reader::Mkv(track) => {
                    let Some((data, pts_us, duration_us)) = track.read()? else {
                        return Ok(None);
                    };
                    self.buf = data;
                    (pts_us, duration_us)
                }
            };
            let duration_us = duration_us.filter(|&d| d > 0).unwrap_or(self.frame_us);
            match self.config.annex_b(&self.buf) {
                Ok((data, keyframe)) if keyframe || !self.skipping => {
                    self.skipping = false;
                    return Ok(Some(Sample {
                        data,
                        keyframe,
                        pts_us,
                        duration_us,
                    }));
                }
                Ok(_) => self.skipped += 1,
                Err(why) => {
                    tracing::warn!("skipping a broken frame at {pts_us} µs: {why}");
                    self.skipping = true;
                    self.skipped += 1;
                }
            }
        }
    }

    /// Goes back to the first frame.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), when the file can no longer be opened.
    pub fn rewind(&mut self) -> Result<(), FileError> {
        match &mut self.reader {
            Reader::Mp4 { next, .. } => *next = 0,
            Reader::Mkv(track) => **track = mkv::Track::open(self.input.open()?.0)?.0,
        }
        self.skipping = false;
        Ok(())
    }

    /// Frames skipped so far because they or a frame they depend on were broken.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// The container, from the first bytes.
fn sniff(reader: &mut Box<dyn ReadSeek>) -> Result<Container, FileError> {
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FileError::Read(e.to_string())),
        }
    }
    reader
        .rewind()
        .map_err(|e| FileError::Read(e.to_string()))?;
    if got >= 4 && head[..4] == [0x1a, 0x45, 0xdf, 0xa3] {
        return Ok(Container::Matroska);
    }
    // ISO base media files start with a box; these are the types a file may start with.
    if got == 8
        && matches!(
            &head[4..],
            b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide"
        )
    {
        return Ok(Container::Mp4);
    }
    Err(FileError::NotVideoFile)
}
