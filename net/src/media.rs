//! Media on QUIC, shared by client and server: one unidirectional stream per video frame
//! (newest first by priority, abandoned when late) and one datagram per audio frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use livestage_proto::media::{self, VideoHeader};
use livestage_proto::{Error, ErrorCode};
use tokio::time::timeout;

use crate::transport::{Connection, RecvStream};

/// A video frame that is not fully sent within this time is abandoned: late video is dropped,
/// never queued.
pub const VIDEO_DEADLINE: Duration = Duration::from_millis(500);

/// Reads one video frame stream: type byte, header, payload to the end.
pub async fn read_video(mut recv: RecvStream) -> Result<(VideoHeader, Bytes), Error> {
    let bad = |msg: String| Error::new(ErrorCode::ProtocolError, msg);
    let mut prefix = [0u8; 2];
    recv.read_exact(&mut prefix)
        .await
        .map_err(|e| bad(format!("video stream ended early: {e}")))?;
    if prefix[0] != media::STREAM_VIDEO || usize::from(prefix[1]) > media::MAX_VIDEO_HEADER {
        return Err(bad(format!(
            "unknown stream type {} or header length {}",
            prefix[0], prefix[1]
        )));
    }
    let mut header = vec![0u8; usize::from(prefix[1])];
    recv.read_exact(&mut header)
        .await
        .map_err(|e| bad(format!("video header cut short: {e}")))?;
    let header = VideoHeader::decode(&header)?;
    let payload = recv
        .read_to_end(media::MAX_VIDEO_FRAME)
        .await
        .map_err(|e| {
            bad(format!(
                "video frame unreadable or over {} bytes: {e}",
                media::MAX_VIDEO_FRAME
            ))
        })?;
    Ok((header, Bytes::from(payload)))
}

/// Sends video frames on one connection, at most `limit` unacknowledged at a time; each frame
/// gets its own stream, prioritised by frame number so the newest goes first, and is reset if
/// the peer does not have all of it within [`VIDEO_DEADLINE`].
#[derive(Clone)]
pub struct VideoSender {
    conn: Connection,
    in_flight: Arc<AtomicUsize>,
    /// Set when a frame missed its deadline; the next send reports congestion.
    late: Arc<AtomicBool>,
    limit: usize,
}

impl VideoSender {
    /// A sender for `conn` allowing `limit` frames in flight.
    pub fn new(conn: Connection, limit: usize) -> Self {
        let late = Arc::new(AtomicBool::new(false));
        Self {
            conn,
            in_flight: Arc::new(AtomicUsize::new(0)),
            late,
            limit,
        }
    }

    /// Frames currently being sent.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Starts sending a frame; `false` when the path is congested — too many frames in flight,
    /// or an earlier frame missed its deadline — in which case the frame is dropped and the
    /// caller should wait for a keyframe.
    pub fn send(&self, header: &VideoHeader, payload: Bytes) -> bool {
        if self.late.swap(false, Ordering::AcqRel) {
            return false;
        }
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        let (conn, in_flight, late, prefix) = (
            self.conn.clone(),
            self.in_flight.clone(),
            self.late.clone(),
            header.encode(),
        );
        let priority = header.frame as i32;
        tokio::spawn(async move {
            let send = async {
                let mut stream = conn.open_uni().await.ok()?;
                let _ = stream.set_priority(priority);
                let sent = timeout(VIDEO_DEADLINE, async {
                    stream.write_all(&prefix).await.ok()?;
                    stream.write_chunk(payload).await.ok()?;
                    stream.finish().ok()?;
                    // Count the frame in flight until the peer has it all.
                    stream.stopped().await.ok().map(drop)
                })
                .await;
                if !matches!(sent, Ok(Some(()))) {
                    let _ = stream.reset(0); // Late: abandon rather than queue.
                    late.store(true, Ordering::Release);
                }
                Some(())
            };
            let _ = send.await;
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
        true
    }
}
