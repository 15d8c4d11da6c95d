//! H.264 as files store it: the decoder configuration (avcC) with its parameter sets, samples of
//! length-prefixed NAL units (AVCC) turned into Annex B, and what the SPS says about the stream.

use h264_reader::nal::sps::{
    ChromaFormat, FrameMbsFlags, PicOrderCntType, SeqParameterSet, SpsError,
};
use h264_reader::rbsp::{BitReader, decode_nal};

use super::{FileError, Profile};

/// The Annex B start code put before every NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// NAL unit type of a slice of an IDR picture.
const NAL_IDR: u8 = 5;
/// NAL unit type of a sequence parameter set.
const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
const NAL_PPS: u8 = 8;
/// Most bytes an access unit may have: far above any real frame (a 4K intra frame at the
/// highest quality is a few MB), low enough that a corrupt size cannot exhaust memory.
pub(super) const MAX_ACCESS_BYTES: usize = 32 << 20;

/// A track's decoder configuration: how samples frame their NAL units, and the parameter sets
/// that go before every IDR. Files and streams (an FLV AVC sequence header is the same record)
/// share it.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bytes in each NAL unit's length prefix: 1, 2 or 4.
    length_size: usize,
    /// Every SPS then every PPS of the configuration, each after a start code.
    parameter_sets: Vec<u8>,
    /// What the (first) SPS says.
    pub sps: Sps,
}

impl Config {
    /// The configuration in an `AVCDecoderConfigurationRecord` (an MP4 `avcC` box's body, or a
    /// Matroska `CodecPrivate` for `V_MPEG4/ISO/AVC`).
    pub fn from_record(record: &[u8]) -> Result<Self, FileError> {
        let mut buf = record;
        let avcc = <mp4_atom::Avcc as mp4_atom::Atom>::decode_body(&mut buf).map_err(|e| {
            FileError::Damaged(format!("the H.264 configuration (avcC) is unreadable: {e}"))
        })?;
        Self::from_avcc(&avcc)
    }

    /// The configuration of an MP4 `avcC` box that mp4-atom decoded.
    pub fn from_avcc(avcc: &mp4_atom::Avcc) -> Result<Self, FileError> {
        let length_size = usize::from(avcc.length_size);
        if !matches!(length_size, 1 | 2 | 4) {
            return Err(FileError::Damaged(format!(
                "the H.264 configuration gives NAL units a {length_size}-byte length, \
                 which is not 1, 2 or 4"
            )));
        }
        let first = avcc.sequence_parameter_sets.first().ok_or_else(|| {
            FileError::Damaged("the H.264 configuration has no sequence parameter set".into())
        })?;
        let sps = Sps::parse(first)?;
        let mut parameter_sets = Vec::new();
        for set in avcc
            .sequence_parameter_sets
            .iter()
            .chain(&avcc.picture_parameter_sets)
            .filter(|set| !set.is_empty())
        {
            parameter_sets.extend_from_slice(&START_CODE);
            parameter_sets.extend_from_slice(set);
        }
        Ok(Self {
            length_size,
            parameter_sets,
            sps,
        })
    }

    /// What a live stream with this configuration is, as far as its SPS says: its size and
    /// profile, 30 fps unless the SPS times it, and B-frames unless the SPS rules them out.
    pub fn stream_info(&self) -> super::Info {
        let sps = &self.sps;
        super::Info {
            container: super::Container::Stream,
            width: sps.width,
            height: sps.height,
            fps: sps
                .fps
                .filter(|f| f.is_finite() && *f > 0.0)
                .unwrap_or(30.0),
            duration_us: None,
            frames: None,
            profile: sps.profile,
            level: sps.level,
            b_frames: sps.reorders != Some(false),
            progressive: sps.progressive,
            yuv420_8bit: sps.yuv420_8bit,
        }
    }

    /// One sample (AVCC: each NAL unit after its big-endian length) as an Annex B access unit,
    /// with the configuration's SPS and PPS put first when it holds an IDR slice without them,
    /// so that every keyframe decodes on its own. Returns the access unit and whether it holds
    /// an IDR slice.
    pub fn annex_b(&self, sample: &[u8]) -> Result<(Vec<u8>, bool), String> {
        let mut units = Vec::new();
        let (mut idr, mut sps, mut pps) = (false, false, false);
        let mut rest = sample;
        while !rest.is_empty() {
            let Some((prefix, after)) = rest.split_at_checked(self.length_size) else {
                return Err(format!(
                    "{} stray bytes after the last NAL unit",
                    rest.len()
                ));
            };
            let len = prefix
                .iter()
                .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
            let Some((unit, after)) = after.split_at_checked(len) else {
                return Err(format!(
                    "a NAL unit claims {len} bytes but only {} are left",
                    after.len()
                ));
            };
            rest = after;
            let Some(&header) = unit.first() else {
                continue;
            };
            match header & 0x1f {
                NAL_IDR => idr = true,
                NAL_SPS => sps = true,
                NAL_PPS => pps = true,
                _ => {}
            }
            units.push(unit);
        }
        if units.is_empty() {
            return Err("the sample holds no NAL unit".into());
        }
        let prefix = if idr && !(sps && pps) {
            &self.parameter_sets[..]
        } else {
            &[]
        };
        let size = prefix.len() + units.iter().map(|u| u.len() + 4).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(prefix);
        for unit in units {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(unit);
        }
        Ok((out, idr))
    }
}

/// What a sequence parameter set says about the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Sps {
    /// The profile (from `profile_idc` and the constraint flags).
    pub profile: Profile,
    /// `level_idc`: 31 is level 3.1.
    pub level: u8,
    /// Picture size after cropping.
    pub width: u32,
    /// Picture height after cropping.
    pub height: u32,
    /// Frames only (`frame_mbs_only_flag`), no fields.
    pub progressive: bool,
    /// 4:2:0 chroma at 8 bits.
    pub yuv420_8bit: bool,
    /// `Some(false)` when the SPS rules out frame reordering (picture order count type 2, or a
    /// VUI that says `max_num_reorder_frames` is 0), `Some(true)` when its VUI allows it,
    /// `None` when it does not say.
    pub reorders: Option<bool>,
    /// Frames per second from the VUI timing, when present.
    pub fps: Option<f32>,
}

impl Sps {
    /// Parses one SPS NAL unit (with its header byte, without a start code).
    pub fn parse(nal: &[u8]) -> Result<Self, FileError> {
        let bad = |why: String| {
            FileError::Damaged(format!(
                "the H.264 sequence parameter set is unreadable: {why}"
            ))
        };
        // decode_nal needs the header and at least one byte after it.
        if nal.len() < 4 || nal[0] & 0x1f != NAL_SPS {
            return Err(bad("it is too short or not an SPS".into()));
        }
        let (profile_idc, constraints, level) = (nal[1], nal[2], nal[3]);
        let rbsp = decode_nal(nal).map_err(|e| bad(e.to_string()))?;
        let sps = SeqParameterSet::from_bits(BitReader::new(&*rbsp))
            .map_err(|e: SpsError| bad(format!("{e:?}")))?;
        let (width, height) = sps.pixel_dimensions().map_err(|e| bad(format!("{e:?}")))?;
        let chroma = &sps.chroma_info;
        let vui = sps.vui_parameters.as_ref();
        let reorders = if matches!(sps.pic_order_cnt, PicOrderCntType::TypeTwo) {
            Some(false)
        } else {
            vui.and_then(|v| v.bitstream_restrictions.as_ref())
                .map(|r| r.max_num_reorder_frames > 0)
        };
        let fps = vui.and_then(|v| v.timing_info.as_ref()).and_then(|t| {
            // time_scale counts fields: a frame is two ticks.
            let fps = t.time_scale as f32 / (2.0 * t.num_units_in_tick as f32);
            (t.num_units_in_tick > 0 && fps.is_finite() && fps > 0.0).then_some(fps)
        });
        Ok(Self {
            profile: Profile::from_idc(profile_idc, constraints),
            level,
            width,
            height,
            progressive: matches!(sps.frame_mbs_flags, FrameMbsFlags::Frames),
            yuv420_8bit: chroma.chroma_format == ChromaFormat::YUV420
                && chroma.bit_depth_luma_minus8 == 0
                && chroma.bit_depth_chroma_minus8 == 0,
            reorders,
            fps,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A real SPS (x264, constrained baseline level 1.3, 320x240) and its PPS.
    const SPS: [u8; 24] = [
        0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80,
    ];
    const PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];

    fn config() -> Config {
        let avcc = mp4_atom::Avcc {
            configuration_version: 1,
            avc_profile_indication: 0x42,
            profile_compatibility: 0xc0,
            avc_level_indication: 0x0d,
            length_size: 4,
            sequence_parameter_sets: vec![SPS.to_vec()],
            picture_parameter_sets: vec![PPS.to_vec()],
            ext: None,
        };
        Config::from_avcc(&avcc).expect("a valid configuration")
    }

    fn avcc(units: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for unit in units {
            out.extend_from_slice(&u32::try_from(unit.len()).unwrap().to_be_bytes());
            out.extend_from_slice(unit);
        }
        out
    }

    #[test]
    fn the_sps_gives_profile_size_and_order() {
        let sps = config().sps;
        assert_eq!(sps.profile, Profile::ConstrainedBaseline);
        assert_eq!((sps.level, sps.width, sps.height), (13, 320, 240));
        assert!(sps.progressive && sps.yuv420_8bit);
    }

    #[test]
    fn an_idr_gets_the_parameter_sets_and_a_p_frame_does_not() {
        let config = config();
        let (idr, key) = config.annex_b(&avcc(&[&[0x65, 1, 2, 3]])).unwrap();
        assert!(key);
        let mut expected = vec![0, 0, 0, 1];
        expected.extend_from_slice(&SPS);
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(&PPS);
        expected.extend_from_slice(&[0, 0, 0, 1, 0x65, 1, 2, 3]);
        assert_eq!(idr, expected);
        let (p, key) = config.annex_b(&avcc(&[&[0x41, 9]])).unwrap();
        assert!(!key);
        assert_eq!(p, [0, 0, 0, 1, 0x41, 9]);
    }

    #[test]
    fn an_idr_with_its_own_parameter_sets_is_left_alone() {
        let (au, key) = config().annex_b(&avcc(&[&SPS, &PPS, &[0x65, 7]])).unwrap();
        assert!(key);
        assert_eq!(au.len(), 3 * 4 + SPS.len() + PPS.len() + 2);
    }

    #[test]
    fn broken_framing_is_an_error_not_a_panic() {
        let config = config();
        assert!(config.annex_b(&[]).is_err());
        assert!(config.annex_b(&[0, 0, 0, 9, 0x65]).is_err());
        assert!(config.annex_b(&[0, 0]).is_err());
        assert!(config.annex_b(&[0, 0, 0, 0]).is_err(), "only empty units");
        assert!(Sps::parse(&[0x67]).is_err());
        assert!(Sps::parse(&[0x67, 0x42, 0, 0x1e, 0xff, 0xff]).is_err());
    }
}
