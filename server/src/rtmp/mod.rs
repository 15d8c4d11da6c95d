//! RTMP: publish one stream (H.264 + AAC in FLV tags) to one or more RTMP URLs, as a CDN push
//! does; and play one, as an inject does.
//!
//! - [`url`]: parse and check `rtmp://host[:port]/app/stream_key`.
//! - [`flv`]: FLV tag bodies (AVC and AAC sequence headers and frames) and `onMetaData`, built
//!   and read.
//! - [`play`]: the sans-IO playing connection ([`play::Play`]).
//! - [`session`]: the sans-IO connection ([`Session`]), the keyframe [`Gate`], retries.
//! - [`publish`]: the tokio glue: an [`Output`] with one task per URL, reporting
//!   [`UrlState`]s.
//!
//! The encoder side turns each encoded picture into a [`Tag`] with [`flv::avc_frame`] and
//! each AAC access unit with [`flv::aac_frame`], calls [`Output::set_headers`] once it has
//! the SPS/PPS ([`flv::sps_pps`]) and the AudioSpecificConfig, and [`Output::send`]s tags.

pub mod flv;
pub mod play;
pub mod publish;
pub mod session;
pub mod url;

pub use publish::{Feed, Options, Output, Report, UrlState};
pub use session::{Backoff, FailReason, Gate, Headers, Session, Tag};
pub use url::Url;
