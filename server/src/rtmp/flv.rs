//! FLV tag bodies as RTMP carries them in video and audio messages (E.4.3 and E.4.2 of the
//! FLV specification), and the `onMetaData` values.
//!
//! A video body is one header byte (frame type, codec 7 = AVC), the AVC packet type
//! (0 = sequence header, 1 = NAL units), a 24-bit composition time and then either the
//! AVCDecoderConfigurationRecord or 4-byte length-prefixed NAL units. An audio body is one
//! header byte (0xAF: AAC, and the fixed fields AAC requires), the AAC packet type
//! (0 = AudioSpecificConfig, 1 = raw access unit) and the payload.

use bytes::{BufMut, Bytes, BytesMut};
use rml_rtmp::sessions::StreamMetadata;

/// FLV video codec id of AVC (H.264).
pub const AVC_CODEC_ID: u32 = 7;

/// FLV audio codec id of AAC.
pub const AAC_CODEC_ID: u32 = 10;

/// The first byte of every AAC audio body: format 10, 44 kHz, 16-bit, stereo (the fields
/// are fixed for AAC; the real format is in the AudioSpecificConfig).
const AAC_HEADER: u8 = 0xAF;

/// H.264 NAL unit types this module looks at.
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// What a stream holds, for `onMetaData`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Info {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f32,
    /// Video bitrate in bits per second.
    pub video_bitrate_bps: u32,
    /// Audio sample rate in Hz; `None` for a stream without audio.
    pub audio_sample_rate: Option<u32>,
    /// Audio channels (1 or 2).
    pub audio_channels: u32,
    /// Audio bitrate in bits per second.
    pub audio_bitrate_bps: u32,
}

/// The `onMetaData` values for `info`, in the form `rml_rtmp` publishes.
pub fn metadata(info: &Info) -> StreamMetadata {
    let mut m = StreamMetadata::new();
    m.video_width = Some(info.width);
    m.video_height = Some(info.height);
    m.video_codec_id = Some(AVC_CODEC_ID);
    m.video_frame_rate = Some(info.fps);
    m.video_bitrate_kbps = Some(info.video_bitrate_bps / 1000);
    if let Some(rate) = info.audio_sample_rate {
        m.audio_codec_id = Some(AAC_CODEC_ID);
        m.audio_sample_rate = Some(rate);
        m.audio_channels = Some(info.audio_channels);
        m.audio_is_stereo = Some(info.audio_channels == 2);
        m.audio_bitrate_kbps = Some(info.audio_bitrate_bps / 1000);
    }
    m.encoder = Some(concat!("livestage ", env!("CARGO_PKG_VERSION")).to_owned());
    m
}

/// The NAL units of an Annex B stream (start codes `00 00 01` or `00 00 00 01`), without
/// their start codes and trailing zero bytes.
pub fn nal_units(annexb: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = annexb;
    std::iter::from_fn(move || {
        loop {
            let start = find_start_code(rest)?;
            let body = &rest[start..];
            let end = find_start_code(body).map_or(body.len(), |next| {
                // `next` is past the next start code; back up to its first zero.
                let mut end = next - 3;
                while end > 0 && body[end - 1] == 0 {
                    end -= 1;
                }
                end
            });
            rest = &body[end..];
            let nal = &body[..end];
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    })
}

/// The index just past the first `00 00 01` in `data`.
fn find_start_code(data: &[u8]) -> Option<usize> {
    data.windows(3).position(|w| w == [0, 0, 1]).map(|i| i + 3)
}

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// The first SPS and PPS of an Annex B access unit (an encoder's keyframe carries them).
pub fn sps_pps(annexb: &[u8]) -> Option<(&[u8], &[u8])> {
    let sps = nal_units(annexb).find(|n| nal_type(n) == NAL_SPS)?;
    let pps = nal_units(annexb).find(|n| nal_type(n) == NAL_PPS)?;
    Some((sps, pps))
}

/// The AVC sequence header body: an AVCDecoderConfigurationRecord with one SPS and one PPS
/// and 4-byte NAL lengths. `None` if the SPS is too short to hold the profile and level.
pub fn avc_sequence_header(sps: &[u8], pps: &[u8]) -> Option<Bytes> {
    if sps.len() < 4 || pps.is_empty() || sps.len() > 0xFFFF || pps.len() > 0xFFFF {
        return None;
    }
    let mut b = BytesMut::with_capacity(16 + sps.len() + pps.len());
    b.put_slice(&[0x17, 0, 0, 0, 0]); // keyframe + AVC, sequence header, composition 0
    b.put_u8(1); // configurationVersion
    b.put_slice(&sps[1..4]); // profile, compatibility, level
    b.put_u8(0xFF); // reserved + lengthSizeMinusOne = 3
    b.put_u8(0xE1); // reserved + one SPS
    b.put_u16(sps.len() as u16);
    b.put_slice(sps);
    b.put_u8(1); // one PPS
    b.put_u16(pps.len() as u16);
    b.put_slice(pps);
    Some(b.freeze())
}

/// A video body for one Annex B access unit: its NAL units length-prefixed, without the
/// SPS, PPS and access unit delimiters (those travel in the sequence header). `None` if
/// nothing is left to send.
pub fn avc_frame(annexb: &[u8], keyframe: bool, composition_ms: i32) -> Option<Bytes> {
    let mut b = BytesMut::with_capacity(annexb.len() + 16);
    b.put_u8(if keyframe { 0x17 } else { 0x27 });
    b.put_u8(1);
    let cts = composition_ms.clamp(-0x80_0000, 0x7F_FFFF) as u32;
    b.put_slice(&cts.to_be_bytes()[1..]);
    let header = b.len();
    for nal in nal_units(annexb) {
        if matches!(nal_type(nal), NAL_SPS | NAL_PPS | NAL_AUD) {
            continue;
        }
        b.put_u32(nal.len() as u32);
        b.put_slice(nal);
    }
    (b.len() > header).then(|| b.freeze())
}

/// The AAC sequence header body for an AudioSpecificConfig.
pub fn aac_sequence_header(asc: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + asc.len());
    b.put_slice(&[AAC_HEADER, 0]);
    b.put_slice(asc);
    b.freeze()
}

/// The audio body for one raw AAC access unit.
pub fn aac_frame(au: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + au.len());
    b.put_slice(&[AAC_HEADER, 1]);
    b.put_slice(au);
    b.freeze()
}

/// A video body as it arrives from an RTMP server we play from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoIn<'a> {
    /// The AVCDecoderConfigurationRecord.
    AvcConfig(&'a [u8]),
    /// Length-prefixed NAL units of one access unit.
    Avc {
        /// The frame type says keyframe.
        keyframe: bool,
        /// Presentation minus decode time, in milliseconds (non-zero with B-frames).
        composition_ms: i32,
        /// The NAL units, each after its length.
        data: &'a [u8],
    },
    /// An end-of-sequence marker, or a codec other than AVC (ignored).
    Other,
}

/// Reads a video body.
///
/// # Errors
///
/// A body too short for its header.
pub fn parse_video(body: &[u8]) -> Result<VideoIn<'_>, String> {
    let [first, kind, c0, c1, c2, data @ ..] = body else {
        return Err(format!("a {}-byte video body is too short", body.len()));
    };
    if u32::from(first & 0x0f) != AVC_CODEC_ID {
        return Ok(VideoIn::Other);
    }
    // 24-bit signed composition time.
    let raw = (i32::from(*c0) << 16) | (i32::from(*c1) << 8) | i32::from(*c2);
    let composition_ms = (raw << 8) >> 8;
    Ok(match kind {
        0 => VideoIn::AvcConfig(data),
        1 => VideoIn::Avc {
            keyframe: first >> 4 == 1,
            composition_ms,
            data,
        },
        _ => VideoIn::Other,
    })
}

/// An audio body as it arrives from an RTMP server we play from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioIn<'a> {
    /// The AudioSpecificConfig.
    AacConfig(&'a [u8]),
    /// One raw AAC access unit.
    Aac(&'a [u8]),
    /// A codec other than AAC (MP3, Speex...: not played).
    Other,
}

/// Reads an audio body.
///
/// # Errors
///
/// A body too short for its header.
pub fn parse_audio(body: &[u8]) -> Result<AudioIn<'_>, String> {
    let [first, rest @ ..] = body else {
        return Err("an empty audio body".into());
    };
    if u32::from(first >> 4) != AAC_CODEC_ID {
        return Ok(AudioIn::Other);
    }
    let [kind, data @ ..] = rest else {
        return Err("an AAC body without its packet type".into());
    };
    Ok(match kind {
        0 => AudioIn::AacConfig(data),
        _ => AudioIn::Aac(data),
    })
}

/// What an AudioSpecificConfig says, as much as an ADTS header needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asc {
    /// Audio object type (2 = AAC LC).
    pub object_type: u8,
    /// Sampling frequency index (3 = 48 kHz, 4 = 44.1 kHz).
    pub frequency_index: u8,
    /// Channel configuration (1 = mono, 2 = stereo).
    pub channels: u8,
}

impl Asc {
    /// Reads the first two bytes of an AudioSpecificConfig.
    ///
    /// # Errors
    ///
    /// Too short, or an escape (explicit frequency, extended object type) ADTS cannot carry.
    pub fn parse(asc: &[u8]) -> Result<Self, String> {
        let [a, b, ..] = asc else {
            return Err("the AAC configuration is shorter than 2 bytes".into());
        };
        let object_type = a >> 3;
        let frequency_index = ((a & 0x07) << 1) | (b >> 7);
        let channels = (b >> 3) & 0x0f;
        if !(1..=4).contains(&object_type) || frequency_index > 12 || channels == 0 {
            return Err(format!(
                "AAC object type {object_type}, frequency index {frequency_index}, \
                 {channels} channels cannot be played (AAC LC at a standard rate is)"
            ));
        }
        Ok(Self {
            object_type,
            frequency_index,
            channels,
        })
    }

    /// The 7-byte ADTS header (no CRC) for a raw access unit of `len` bytes, so a stream of
    /// them reads as an `.aac` file.
    pub fn adts_header(&self, len: usize) -> [u8; 7] {
        let frame = (len + 7).min(0x1fff) as u16;
        let profile = self.object_type - 1;
        [
            0xff,
            0xf1,
            (profile << 6) | (self.frequency_index << 2) | (self.channels >> 2),
            ((self.channels & 3) << 6) | ((frame >> 11) as u8 & 0x03),
            (frame >> 3) as u8,
            (((frame & 7) as u8) << 5) | 0x1f,
            0xfc,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_bodies_read_back_as_they_were_built() {
        let config = avc_sequence_header(&SPS, &PPS).expect("valid");
        let VideoIn::AvcConfig(record) = parse_video(&config).expect("parses") else {
            panic!("a configuration");
        };
        assert_eq!(record[0], 1, "the record's version");
        let frame = avc_frame(&keyframe(), true, -40).expect("has a slice");
        let VideoIn::Avc {
            keyframe,
            composition_ms,
            data,
        } = parse_video(&frame).expect("parses")
        else {
            panic!("NAL units");
        };
        assert!(keyframe);
        assert_eq!(composition_ms, -40);
        assert_eq!(data, &frame[5..]);
        assert!(parse_video(&[0x17, 1]).is_err());
        assert_eq!(parse_video(&[0x12, 1, 0, 0, 0]), Ok(VideoIn::Other));
        let asc = [0x11, 0x90]; // AAC LC, 48 kHz, stereo.
        assert_eq!(
            parse_audio(&aac_sequence_header(&asc)),
            Ok(AudioIn::AacConfig(&asc[..]))
        );
        assert_eq!(
            parse_audio(&aac_frame(&[7, 8])),
            Ok(AudioIn::Aac(&[7, 8][..]))
        );
        assert_eq!(parse_audio(&[0x2f, 1]), Ok(AudioIn::Other));
    }

    #[test]
    fn an_adts_header_carries_the_configuration_and_the_length() {
        let asc = Asc::parse(&[0x12, 0x10]).expect("AAC LC 44.1 kHz stereo");
        assert_eq!(
            (asc.object_type, asc.frequency_index, asc.channels),
            (2, 4, 2)
        );
        let header = asc.adts_header(100);
        assert_eq!(&header[..2], &[0xff, 0xf1]);
        let frame = (usize::from(header[3] & 3) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        assert_eq!(frame, 107);
        assert!(Asc::parse(&[0x12]).is_err());
        assert!(Asc::parse(&[0xf8, 0x00]).is_err());
    }

    const SPS: [u8; 6] = [0x67, 0x42, 0xC0, 0x1E, 0xAB, 0xCD];
    const PPS: [u8; 3] = [0x68, 0xCE, 0x3C];

    fn keyframe() -> Vec<u8> {
        let mut v = vec![0, 0, 0, 1, 0x09, 0xF0]; // AUD
        v.extend([0, 0, 0, 1]);
        v.extend(SPS);
        v.extend([0, 0, 1]);
        v.extend(PPS);
        v.extend([0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x21]); // IDR slice
        v
    }

    #[test]
    fn nal_units_split_on_both_start_codes() {
        let frame = keyframe();
        let nals: Vec<&[u8]> = nal_units(&frame).collect();
        assert_eq!(nals.len(), 4);
        assert_eq!(nals[1], SPS);
        assert_eq!(nals[2], PPS);
        assert_eq!(nals[3], [0x65, 0x88, 0x84, 0x00, 0x21]);
    }

    #[test]
    fn sps_and_pps_come_from_a_keyframe() {
        assert_eq!(sps_pps(&keyframe()), Some((&SPS[..], &PPS[..])));
        assert_eq!(sps_pps(&[0, 0, 0, 1, 0x41, 0x9A]), None);
    }

    #[test]
    fn the_sequence_header_is_an_avc_decoder_configuration_record() {
        let body = avc_sequence_header(&SPS, &PPS).expect("valid");
        let mut expected = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 6];
        expected.extend(SPS);
        expected.extend([1, 0, 3]);
        expected.extend(PPS);
        assert_eq!(&body[..], &expected[..]);
        assert_eq!(avc_sequence_header(&[0x67], &PPS), None);
    }

    #[test]
    fn a_frame_is_length_prefixed_without_parameter_sets() {
        let body = avc_frame(&keyframe(), true, 0).expect("has a slice");
        assert_eq!(
            &body[..],
            &[0x17, 1, 0, 0, 0, 0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x21]
        );
        let p = avc_frame(&[0, 0, 1, 0x41, 0x9A, 0, 0, 1, 0x41, 0x9B], false, 40).expect("p");
        assert_eq!(
            &p[..],
            &[
                0x27, 1, 0, 0, 40, 0, 0, 0, 2, 0x41, 0x9A, 0, 0, 0, 2, 0x41, 0x9B
            ]
        );
        assert_eq!(
            avc_frame(&[0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x09, 0xF0], true, 0),
            None
        );
        let negative = avc_frame(&[0, 0, 1, 0x41], false, -1).expect("p");
        assert_eq!(&negative[2..5], &[0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn aac_bodies_carry_the_config_then_raw_units() {
        assert_eq!(
            &aac_sequence_header(&[0x11, 0x90])[..],
            &[0xAF, 0, 0x11, 0x90]
        );
        assert_eq!(&aac_frame(&[1, 2, 3])[..], &[0xAF, 1, 1, 2, 3]);
    }

    #[test]
    fn metadata_names_avc_and_aac() {
        let m = metadata(&Info {
            width: 640,
            height: 360,
            fps: 30.0,
            video_bitrate_bps: 1_500_000,
            audio_sample_rate: Some(48_000),
            audio_channels: 2,
            audio_bitrate_bps: 128_000,
        });
        assert_eq!((m.video_width, m.video_height), (Some(640), Some(360)));
        assert_eq!((m.video_codec_id, m.audio_codec_id), (Some(7), Some(10)));
        assert_eq!(m.audio_sample_rate, Some(48_000));
        assert_eq!(m.audio_is_stereo, Some(true));
        assert_eq!(m.video_bitrate_kbps, Some(1500));
    }
}
