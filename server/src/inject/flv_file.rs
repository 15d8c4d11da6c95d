//! FLV files (what RTMP recorders and OBS write): the file header, then tags of audio, video
//! or script data, each with a 24+8-bit millisecond timestamp. An inject plays one through
//! the same path as a live RTMP stream ([`super::stream`]): each audio and video tag body is
//! the body RTMP would have carried.

use std::io::Read;

use bytes::Bytes;

use crate::rtmp::play::Media;

/// The largest tag body accepted: far above any real frame, low enough that a damaged size
/// cannot exhaust memory.
const MAX_TAG: usize = 8 << 20;

/// A damaged or cut FLV file.
#[derive(Debug, thiserror::Error)]
#[error("the FLV file is damaged: {0}")]
pub struct Damaged(String);

/// Reads the tags of one FLV file in order.
pub struct FlvFile<R> {
    reader: R,
}

impl<R: Read> FlvFile<R> {
    /// Reads and checks the file header.
    ///
    /// # Errors
    ///
    /// [`Damaged`] if it does not start like an FLV file.
    pub fn open(mut reader: R) -> Result<Self, Damaged> {
        let mut header = [0u8; 9];
        reader
            .read_exact(&mut header)
            .map_err(|e| Damaged(format!("no FLV header: {e}")))?;
        if &header[..3] != b"FLV" {
            return Err(Damaged("it does not start with FLV".into()));
        }
        let size = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        if !(9..=1024).contains(&size) {
            return Err(Damaged(format!("a {size}-byte header")));
        }
        // The rest of the header, then PreviousTagSize0.
        let mut skip = vec![0u8; size - 9 + 4];
        reader
            .read_exact(&mut skip)
            .map_err(|e| Damaged(format!("the header is cut short: {e}")))?;
        Ok(Self { reader })
    }

    /// The next audio or video tag (script data is skipped), or `None` at the end (also when
    /// the file is cut off in the middle of a tag, as a stopped recorder leaves it).
    ///
    /// # Errors
    ///
    /// [`Damaged`] for a tag that claims more than [`MAX_TAG`] bytes, or a read that fails.
    pub fn next(&mut self) -> Result<Option<Media>, Damaged> {
        loop {
            let mut head = [0u8; 11];
            match self.reader.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(Damaged(e.to_string())),
            }
            let kind = head[0] & 0x1f;
            let size =
                usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]);
            let ts_ms = u32::from(head[7]) << 24
                | u32::from(head[4]) << 16
                | u32::from(head[5]) << 8
                | u32::from(head[6]);
            if size > MAX_TAG {
                return Err(Damaged(format!("a tag claims {size} bytes")));
            }
            let mut body = vec![0u8; size + 4];
            match self.reader.read_exact(&mut body) {
                Ok(()) => {}
                // A recording cut off mid-tag (its recorder stopped) ends there.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(Damaged(e.to_string())),
            }
            body.truncate(size);
            let body = Bytes::from(body);
            match kind {
                8 => return Ok(Some(Media::Audio { ts_ms, body })),
                9 => return Ok(Some(Media::Video { ts_ms, body })),
                _ => {} // Script data (onMetaData) and anything else.
            }
        }
    }
}

/// Whether `path` starts like an FLV file.
pub fn sniff(path: &std::path::Path) -> bool {
    let mut magic = [0u8; 3];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"FLV"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let mut t = vec![kind];
        t.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        t.extend_from_slice(&ts.to_be_bytes()[1..]);
        t.push((ts >> 24) as u8);
        t.extend_from_slice(&[0, 0, 0]);
        t.extend_from_slice(body);
        t.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        t
    }

    #[test]
    fn tags_come_out_in_order_and_script_data_is_skipped() {
        let mut file = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        file.extend(tag(18, 0, b"meta"));
        file.extend(tag(9, 0, &[0x17, 0, 0, 0, 0, 1]));
        file.extend(tag(8, 0x0100_0021, &[0xaf, 1, 7]));
        let mut flv = FlvFile::open(&file[..]).expect("a header");
        let Some(Media::Video { ts_ms: 0, body }) = flv.next().expect("reads") else {
            panic!("video first");
        };
        assert_eq!(&body[..], &[0x17, 0, 0, 0, 0, 1]);
        let Some(Media::Audio { ts_ms, .. }) = flv.next().expect("reads") else {
            panic!("then audio");
        };
        assert_eq!(
            ts_ms, 0x0100_0021,
            "the extended timestamp byte is the top one"
        );
        assert!(flv.next().expect("the end").is_none());
    }

    #[test]
    fn damage_is_an_error_and_a_cut_off_recording_ends_where_it_was_cut() {
        assert!(FlvFile::open(&b"MP4\x01\x05\x00\x00\x00\x09"[..]).is_err());
        assert!(FlvFile::open(&b"FLV\x01\x05\xff\xff\xff\xff"[..]).is_err());
        let mut file = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        file.extend(tag(9, 0, &[0x17, 0, 0, 0, 0, 1]));
        file.extend(&tag(9, 33, &[0x27, 1, 0, 0, 0, 1, 2, 3])[..15]);
        let mut flv = FlvFile::open(&file[..]).expect("a header");
        assert!(matches!(
            flv.next(),
            Ok(Some(Media::Video { ts_ms: 0, .. }))
        ));
        assert!(
            matches!(flv.next(), Ok(None)),
            "a tag cut short ends the file"
        );
        let mut huge = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        huge.extend([9, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(FlvFile::open(&huge[..]).expect("a header").next().is_err());
    }
}
