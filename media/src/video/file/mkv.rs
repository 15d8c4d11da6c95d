//! Matroska (MKV, WebM) with matroska-demuxer: the first H.264 video track's blocks, in file
//! (decode) order, with their times.
//!
//! Matroska stores presentation times only, and no frame table: at open the first
//! [`SCAN_FRAMES`] frames are read to see whether times go backwards (B-frames) and how far
//! apart frames are; a file that ends within them also gets its frame count.

use matroska_demuxer::{Frame, MatroskaFile, TrackType};

use super::FileError;
use super::demux::{Probe, ReadSeek};
use super::h264::{Config, MAX_ACCESS_BYTES};

/// Frames read at open to learn the frame spacing and spot reordering (20 s at 30 fps).
const SCAN_FRAMES: usize = 600;

/// The Matroska codec id of H.264.
const H264: &str = "V_MPEG4/ISO/AVC";

/// The H.264 video track of a Matroska file, being read.
pub(super) struct Track {
    file: MatroskaFile<Box<dyn ReadSeek>>,
    /// The track's number in blocks.
    number: u64,
    /// Nanoseconds per timestamp tick.
    tick_ns: u64,
    /// The first frame's time in ticks; later times count from it.
    first: Option<u64>,
    /// The track's default frame duration in microseconds, if it has one.
    default_duration_us: Option<u64>,
    frame: Frame,
}

impl std::fmt::Debug for Track {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Track")
            .field("number", &self.number)
            .field("tick_ns", &self.tick_ns)
            .finish_non_exhaustive()
    }
}

/// One frame: its bytes (AVCC), presentation time from the first frame and duration, both in
/// microseconds (the duration when the file says).
pub(super) type Block = (Vec<u8>, u64, Option<u64>);

impl Track {
    /// Opens the Matroska file in `reader` at its first H.264 video track.
    pub fn open(reader: Box<dyn ReadSeek>) -> Result<(Self, Config), FileError> {
        let file = MatroskaFile::open(reader)
            .map_err(|e| FileError::Damaged(format!("its Matroska header is unreadable: {e}")))?;
        let mut other = None;
        let mut chosen = None;
        for track in file.tracks() {
            if track.track_type() != TrackType::Video {
                continue;
            }
            if track.codec_id() != H264 {
                other.get_or_insert_with(|| codec_name(track.codec_id()));
                continue;
            }
            if track.content_encodings().is_some_and(|e| !e.is_empty()) {
                return Err(FileError::Unsupported(
                    "its frames are compressed or encrypted in the file (ContentEncoding); \
                     rewrite it with ffmpeg -i IN -c copy OUT.mkv"
                        .into(),
                ));
            }
            let private = track.codec_private().ok_or_else(|| {
                FileError::Damaged("the H.264 track has no configuration (CodecPrivate)".into())
            })?;
            chosen = Some((
                track.track_number().get(),
                Config::from_record(private)?,
                track.default_duration().map(|d| d.get() / 1000),
            ));
            break;
        }
        let Some((number, config, default_duration_us)) = chosen else {
            return Err(other.map_or(FileError::NoVideo, FileError::Codec));
        };
        let tick_ns = file.info().timestamp_scale().get();
        Ok((
            Self {
                file,
                number,
                tick_ns,
                first: None,
                default_duration_us: default_duration_us.filter(|&d| d > 0),
                frame: Frame::default(),
            },
            config,
        ))
    }

    /// Opens the file and reads its first frames to learn what the header does not say: frames
    /// per second from the default duration or the frames' spacing; the duration and frame
    /// count when the scan reached the end (else the segment's duration and no count); whether
    /// times went backwards within the scanned frames.
    pub fn probe(reader: Box<dyn ReadSeek>) -> Result<Probe, FileError> {
        let (mut track, _) = Self::open(reader)?;
        let segment_us = track
            .file
            .info()
            .duration()
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|ticks| (ticks * track.tick_ns as f64 / 1000.0) as u64);
        let mut times = Vec::new();
        let (mut reorders, mut end, mut reached_end) = (false, 0u64, false);
        while times.len() < SCAN_FRAMES {
            let Some((_, pts_us, duration_us)) = track.read()? else {
                reached_end = true;
                break;
            };
            reorders |= times.last().is_some_and(|&last| pts_us < last);
            end = end.max(pts_us.saturating_add(duration_us.unwrap_or(0)));
            times.push(pts_us);
        }
        if times.is_empty() {
            return Err(FileError::Damaged("the video track has no frames".into()));
        }
        let spacing = track
            .default_duration_us
            .or_else(|| median_spacing(&mut times));
        let fps = spacing.map(|us| 1_000_000.0 / us as f32);
        let frames = reached_end.then_some(times.len() as u64);
        let duration_us = if reached_end {
            let last = times.iter().max().copied().unwrap_or(0);
            Some(end.max(last.saturating_add(spacing.unwrap_or(0))))
        } else {
            segment_us
        };
        Ok(Probe {
            fps,
            duration_us,
            frames,
            reorders,
        })
    }

    /// The next frame of the track, or `None` at the end of the file.
    pub fn read(&mut self) -> Result<Option<Block>, FileError> {
        loop {
            let more = self
                .file
                .next_frame(&mut self.frame)
                .map_err(|e| FileError::Damaged(format!("a block is unreadable: {e}")))?;
            if !more {
                return Ok(None);
            }
            if self.frame.track != self.number {
                continue;
            }
            if self.frame.data.len() > MAX_ACCESS_BYTES {
                return Err(FileError::Damaged(format!(
                    "a frame claims {} bytes",
                    self.frame.data.len()
                )));
            }
            let first = *self.first.get_or_insert(self.frame.timestamp);
            let ticks = self.frame.timestamp.saturating_sub(first);
            let us = |ticks: u64| {
                u64::try_from(u128::from(ticks) * u128::from(self.tick_ns) / 1000)
                    .unwrap_or(u64::MAX)
            };
            let duration_us = self.frame.duration.map(us).or(self.default_duration_us);
            return Ok(Some((
                std::mem::take(&mut self.frame.data),
                us(ticks),
                duration_us,
            )));
        }
    }
}

/// The median gap between consecutive presentation times (sorted), if any is positive.
fn median_spacing(times: &mut [u64]) -> Option<u64> {
    times.sort_unstable();
    let mut gaps: Vec<u64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&g| g > 0)
        .collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied()
}

/// A name people know for a Matroska video codec id other than H.264.
fn codec_name(id: &str) -> String {
    match id {
        "V_MPEGH/ISO/HEVC" => "HEVC (H.265)".into(),
        "V_VP8" => "VP8".into(),
        "V_VP9" => "VP9".into(),
        "V_AV1" => "AV1".into(),
        "V_MPEG2" => "MPEG-2".into(),
        "V_THEORA" => "Theora".into(),
        "V_PRORES" => "Apple ProRes".into(),
        "V_MJPEG" => "Motion JPEG".into(),
        id if id.starts_with("V_MPEG4/ISO/") => format!("MPEG-4 Part 2 ({id})"),
        id => format!("'{id}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_gap_ignores_reordering_and_repeats() {
        let mut times = vec![0, 66_666, 33_333, 100_000, 100_000, 133_333];
        assert_eq!(median_spacing(&mut times), Some(33_333));
        assert_eq!(median_spacing(&mut [5]), None);
    }

    #[test]
    fn codecs_are_named() {
        assert_eq!(codec_name("V_VP9"), "VP9");
        assert_eq!(codec_name("V_MPEGH/ISO/HEVC"), "HEVC (H.265)");
        assert_eq!(codec_name("V_QUICKTIME"), "'V_QUICKTIME'");
    }
}
