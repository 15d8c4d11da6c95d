//! MP4 (ISO base media): the top-level boxes are walked here, the movie box (`moov`) is decoded
//! with mp4-atom, and the video track's sample table is resolved into one entry per frame. Only
//! the `moov` is read at open; frames are read from their offsets as they are played.
//!
//! Edit lists are ignored (a pass starts at the first frame). Fragmented MP4 (`moof`) is not
//! read: such files are refused with a hint to rewrite them.

use std::io::SeekFrom;

use mp4_atom::{Atom, Codec, FourCC, Header, Moof, Moov, ReadAtom, ReadFrom, Stbl, StszSamples};

use super::FileError;
use super::demux::{Probe, ReadSeek};
use super::h264::{Config, MAX_ACCESS_BYTES};

/// The largest movie box read: a few MB holds hours of video, so more is a damaged size.
const MAX_MOOV_BYTES: u64 = 256 << 20;
/// The most frames a track may have: 46 hours at 60 fps. Bounds the table built at open.
const MAX_FRAMES: usize = 10_000_000;

/// One frame of the video track, in decode order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    /// Where the sample starts in the file.
    pub offset: u64,
    /// Its length in bytes.
    pub size: u32,
    /// Presentation time from the track's earliest one, in microseconds.
    pub pts_us: u64,
    /// How long it shows, in microseconds.
    pub duration_us: u64,
}

/// The H.264 video track of an MP4 file.
#[derive(Debug)]
pub(super) struct Track {
    /// Its decoder configuration.
    pub config: Config,
    /// Its frames in decode order.
    pub entries: Vec<Entry>,
    /// What its frame table says.
    pub probe: Probe,
}

/// Reads the movie box of the MP4 in `reader` (`len` bytes) and the first H.264 video track's
/// sample table.
pub(super) fn open(reader: &mut dyn ReadSeek, len: u64) -> Result<Track, FileError> {
    let (moov, fragmented) = find_moov(reader, len)?;
    let Some(moov) = moov else {
        return Err(FileError::Damaged(
            "it has no movie index (moov box); a recording that did not finish leaves none".into(),
        ));
    };
    let mut other = None;
    for trak in &moov.trak {
        if trak.mdia.hdlr.handler != FourCC::new(b"vide") {
            continue;
        }
        let avcc = match trak.mdia.minf.stbl.stsd.codecs.first() {
            Some(Codec::Avc1(avc1)) => &avc1.avcc,
            Some(Codec::Avc3(avc3)) => &avc3.avcc,
            Some(codec) => {
                other.get_or_insert_with(|| codec_name(codec));
                continue;
            }
            None => continue,
        };
        let config = Config::from_avcc(avcc)?;
        let stbl = &trak.mdia.minf.stbl;
        if fragmented && sample_count(stbl) == 0 {
            return Err(FileError::Unsupported(
                "it is a fragmented MP4; rewrite it as a plain one \
                 (ffmpeg -i IN -c copy OUT.mp4)"
                    .into(),
            ));
        }
        let (entries, reorders, duration_us) = entries(stbl, trak.mdia.mdhd.timescale, len)?;
        let frames = entries.len() as u64;
        let probe = Probe {
            fps: (duration_us > 0).then(|| frames as f32 * 1_000_000.0 / duration_us as f32),
            duration_us: Some(duration_us),
            frames: Some(frames),
            reorders,
        };
        return Ok(Track {
            config,
            entries,
            probe,
        });
    }
    Err(other.map_or(FileError::NoVideo, FileError::Codec))
}

/// Reads one frame's bytes into `buf`.
pub(super) fn read(
    reader: &mut dyn ReadSeek,
    entry: &Entry,
    buf: &mut Vec<u8>,
) -> Result<(), FileError> {
    let size = entry.size as usize;
    buf.resize(size, 0);
    reader
        .seek(SeekFrom::Start(entry.offset))
        .and_then(|_| reader.read_exact(buf))
        .map_err(|e| FileError::Read(format!("a frame at byte {}: {e}", entry.offset)))
}

/// Walks the top-level boxes: the decoded `moov` if there is one, and whether a `moof` is.
fn find_moov(reader: &mut dyn ReadSeek, len: u64) -> Result<(Option<Moov>, bool), FileError> {
    let damaged = |what: String| FileError::Damaged(what);
    let mut at = 0u64;
    let (mut moov, mut fragmented) = (None, false);
    while at < len {
        reader
            .seek(SeekFrom::Start(at))
            .map_err(|e| FileError::Read(e.to_string()))?;
        let header = match <Option<Header>>::read_from(reader) {
            Ok(Some(header)) => header,
            Ok(None) => break,
            // A cut-short box after the index is the end of what can be played.
            Err(_) if moov.is_some() => break,
            Err(e) => return Err(damaged(format!("a box at byte {at} is unreadable: {e}"))),
        };
        let body_at = reader
            .stream_position()
            .map_err(|e| FileError::Read(e.to_string()))?;
        let body = header
            .size
            .map_or(len.saturating_sub(body_at), |s| s as u64);
        if header.kind == Moov::KIND {
            if body > MAX_MOOV_BYTES || body_at.saturating_add(body) > len {
                return Err(damaged(format!(
                    "its movie index claims {body} bytes, more than the file holds or any \
                     real index needs"
                )));
            }
            let header = Header {
                kind: header.kind,
                size: Some(body as usize),
            };
            let decoded = Moov::read_atom(&header, reader)
                .map_err(|e| damaged(format!("its movie index (moov) is unreadable: {e}")))?;
            moov = Some(decoded);
        } else if header.kind == Moof::KIND {
            fragmented = true;
        }
        at = body_at.saturating_add(body);
    }
    Ok((moov, fragmented))
}

/// A name people know for a video codec other than H.264.
fn codec_name(codec: &Codec) -> String {
    match codec {
        Codec::Hev1(_) | Codec::Hvc1(_) => "HEVC (H.265)".into(),
        Codec::Vp08(_) => "VP8".into(),
        Codec::Vp09(_) => "VP9".into(),
        Codec::Av01(_) => "AV1".into(),
        Codec::Jpeg(_) => "Motion JPEG".into(),
        Codec::Uncv(_) => "uncompressed video".into(),
        Codec::Unknown(kind, _) => match &<[u8; 4]>::from(*kind) {
            b"mp4v" => "MPEG-4 Part 2 (mp4v)".into(),
            b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h" => "Apple ProRes".into(),
            b"hvc1" | b"hev1" | b"dvh1" | b"dvhe" => "HEVC (H.265)".into(),
            _ => format!("'{kind}'"),
        },
        _ => "not H.264".into(),
    }
}

/// The number of samples the sample size box lists.
fn sample_count(stbl: &Stbl) -> usize {
    match &stbl.stsz.samples {
        StszSamples::Identical { count, .. } => *count as usize,
        StszSamples::Different { sizes } => sizes.len(),
    }
}

/// One [`Entry`] per sample in decode order, whether presentation order differs, and where the
/// last frame shown ends (in microseconds). Every index and sum is checked: a damaged table is
/// an error, never a panic.
fn entries(
    stbl: &Stbl,
    timescale: u32,
    file_len: u64,
) -> Result<(Vec<Entry>, bool, u64), FileError> {
    let damaged = |what: &str| FileError::Damaged(format!("its frame table is broken: {what}"));
    let count = sample_count(stbl);
    if count == 0 {
        return Err(FileError::Damaged("the video track has no frames".into()));
    }
    if count > MAX_FRAMES {
        return Err(damaged("it lists more than 10 million frames"));
    }
    if timescale == 0 {
        return Err(damaged("the track's timescale is 0"));
    }
    let size = |i: usize| match &stbl.stsz.samples {
        StszSamples::Identical { size, .. } => *size,
        StszSamples::Different { sizes } => sizes[i],
    };
    let offsets = offsets(stbl, count, size).map_err(|what| damaged(&what))?;

    // Decode times from the time-to-sample runs; presentation times add the composition offsets.
    let mut deltas = stbl
        .stts
        .entries
        .iter()
        .flat_map(|e| std::iter::repeat_n(e.sample_delta, e.sample_count as usize));
    let mut offsets_ct = stbl.ctts.iter().flat_map(|ctts| {
        ctts.entries
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.sample_offset, e.sample_count as usize))
    });
    let mut last_delta = None;
    let mut dts = 0i64;
    let mut timing = Vec::with_capacity(count);
    for _ in 0..count {
        let delta = deltas
            .next()
            .or(last_delta)
            .ok_or_else(|| damaged("no frame durations"))?;
        last_delta = Some(delta);
        let pts = dts.saturating_add(offsets_ct.next().unwrap_or(0));
        timing.push((pts, delta));
        dts = dts.saturating_add(i64::from(delta));
    }
    let first = timing.iter().map(|t| t.0).min().unwrap_or(0);
    let end = timing
        .iter()
        .map(|&(pts, delta)| pts.saturating_add(i64::from(delta)))
        .max()
        .unwrap_or(0);
    let us = |ticks: i128| {
        u64::try_from(ticks.saturating_mul(1_000_000) / i128::from(timescale)).unwrap_or(u64::MAX)
    };

    let mut entries = Vec::with_capacity(count);
    let (mut reorders, mut latest) = (false, i64::MIN);
    for (i, (offset, (pts, delta))) in offsets.into_iter().zip(timing).enumerate() {
        let size = size(i);
        if size as usize > MAX_ACCESS_BYTES {
            return Err(damaged(&format!("frame {i} claims {size} bytes")));
        }
        if offset.saturating_add(u64::from(size)) > file_len {
            return Err(FileError::Damaged(format!(
                "it is cut short: frame {} of {count} lies past its end",
                i + 1
            )));
        }
        reorders |= pts < latest;
        latest = latest.max(pts);
        entries.push(Entry {
            offset,
            size,
            pts_us: us(i128::from(pts) - i128::from(first)),
            duration_us: us(i128::from(delta)),
        });
    }
    Ok((entries, reorders, us(i128::from(end) - i128::from(first))))
}

/// The file offset of each of the `count` samples, from the sample-to-chunk runs and the
/// chunk offsets.
fn offsets(stbl: &Stbl, count: usize, size: impl Fn(usize) -> u32) -> Result<Vec<u64>, String> {
    let chunks: Vec<u64> = match (&stbl.stco, &stbl.co64) {
        (Some(stco), _) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
        (None, Some(co64)) => co64.entries.clone(),
        (None, None) => return Err("no chunk offsets".into()),
    };
    let runs = &stbl.stsc.entries;
    let mut offsets = Vec::with_capacity(count);
    for (i, run) in runs.iter().enumerate() {
        // Chunks are numbered from 1; this run lasts until the next one starts.
        let first = run.first_chunk as usize;
        let end = runs
            .get(i + 1)
            .map_or(chunks.len() + 1, |next| next.first_chunk as usize)
            .min(chunks.len() + 1);
        if first == 0 || end < first {
            return Err("the chunk runs are out of order".into());
        }
        for chunk in first..end {
            let mut at = chunks[chunk - 1];
            for _ in 0..run.samples_per_chunk {
                if offsets.len() == count {
                    return Ok(offsets);
                }
                offsets.push(at);
                at = at.saturating_add(u64::from(size(offsets.len() - 1)));
            }
        }
    }
    if offsets.len() < count {
        return Err(format!(
            "the chunks hold {} of the {count} frames",
            offsets.len()
        ));
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mp4_atom::{Co64, Ctts, CttsEntry, Stco, Stsc, StscEntry, Stsz, Stts, SttsEntry};

    use super::*;

    fn stbl(sizes: Vec<u32>, runs: Vec<(u32, u32)>, chunks: Vec<u32>) -> Stbl {
        Stbl {
            stts: Stts {
                entries: vec![SttsEntry {
                    sample_count: u32::try_from(sizes.len()).unwrap(),
                    sample_delta: 1000,
                }],
            },
            stsc: Stsc {
                entries: runs
                    .into_iter()
                    .map(|(first_chunk, samples_per_chunk)| StscEntry {
                        first_chunk,
                        samples_per_chunk,
                        sample_description_index: 1,
                    })
                    .collect(),
            },
            stsz: Stsz {
                samples: StszSamples::Different { sizes },
            },
            stco: Some(Stco { entries: chunks }),
            ..Stbl::default()
        }
    }

    #[test]
    fn samples_are_placed_in_their_chunks() {
        // Chunks 1-2 hold two samples each, chunk 3 one.
        let stbl = stbl(
            vec![10, 20, 30, 40, 50],
            vec![(1, 2), (3, 1)],
            vec![100, 500, 900],
        );
        let (entries, reorders, end) = entries(&stbl, 30_000, 1000).unwrap();
        let offsets: Vec<u64> = entries.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, [100, 110, 500, 530, 900]);
        assert_eq!(entries[1].pts_us, 33_333);
        assert_eq!(end, 166_666);
        assert!(!reorders);
    }

    #[test]
    fn composition_offsets_out_of_order_are_reordering() {
        let mut stbl = stbl(vec![1, 1, 1], vec![(1, 3)], vec![0]);
        stbl.ctts = Some(Ctts {
            entries: [2000, 0, 0]
                .into_iter()
                .map(|sample_offset| CttsEntry {
                    sample_count: 1,
                    sample_offset,
                })
                .collect(),
        });
        let (entries, reorders, _) = entries(&stbl, 1000, 10).unwrap();
        assert!(reorders);
        let pts: Vec<u64> = entries.iter().map(|e| e.pts_us).collect();
        assert_eq!(pts, [1_000_000, 0, 1_000_000]);
    }

    #[test]
    fn broken_tables_are_errors() {
        let cut = stbl(vec![10, 10], vec![(1, 2)], vec![995]);
        assert!(matches!(
            entries(&cut, 1000, 1000),
            Err(FileError::Damaged(_))
        ));
        let short = stbl(vec![10, 10, 10], vec![(1, 1)], vec![0, 10]);
        assert!(entries(&short, 1000, 1000).is_err());
        let backwards = stbl(vec![1, 1], vec![(2, 1), (1, 1)], vec![0, 1]);
        assert!(entries(&backwards, 1000, 1000).is_err());
        let zero = stbl(vec![1], vec![(0, 1)], vec![0]);
        assert!(entries(&zero, 1000, 1000).is_err());
        let mut none = stbl(vec![1], vec![(1, 1)], vec![0]);
        none.stco = None;
        assert!(entries(&none, 1000, 1000).is_err());
        none.co64 = Some(Co64 { entries: vec![0] });
        assert!(entries(&none, 1000, 1000).is_ok());
        assert!(entries(&none, 0, 1000).is_err(), "timescale 0");
        let huge = Stbl {
            stsz: Stsz {
                samples: StszSamples::Identical {
                    count: u32::MAX,
                    size: 1,
                },
            },
            ..none
        };
        assert!(entries(&huge, 1000, 1000).is_err());
    }
}
