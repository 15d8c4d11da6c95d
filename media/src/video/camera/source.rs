//! The [`CameraSource`]: a frame backend (a device, or a [`Recording`]) on its own thread,
//! converting to I420 and feeding a one-frame slot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CameraError, Format, Options, Setting};
use crate::video::frame::{I420, MAX_HEIGHT, MAX_WIDTH, check_size};
use crate::video::pixel::Converter;
use crate::video::scale::{self, Scaler};
use crate::video::source::{CustomSender, CustomSource};

/// How long the capture thread waits for a frame before it looks whether it should stop.
const POLL: Duration = Duration::from_millis(100);
/// A camera that sends nothing for this long has stopped working.
const STALL: Duration = Duration::from_secs(5);
/// This many frames in a row that cannot be converted end the capture.
const BAD_FRAMES: u32 = 30;

/// Where the capture thread gets raw frames: a camera, or a recording.
pub(super) trait Backend: Send {
    /// The next frame's bytes, waiting at most `timeout`; `Ok(None)` when none came in time.
    /// The bytes are valid until the next call.
    fn next(&mut self, timeout: Duration) -> Result<Option<&[u8]>, CameraError>;
}

/// Raw camera frames to replay through a [`CameraSource`] (see [`CameraSource::replay`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The frames' pixel format.
    pub format: Format,
    /// Width in pixels (odd is fine: the last column is cropped).
    pub width: u32,
    /// Height in pixels (odd is fine: the last row is cropped).
    pub height: u32,
    /// Bytes from one row to the next in YUYV and NV12 frames; 0 for rows without padding.
    /// Ignored for MJPEG.
    pub stride: u32,
    /// Frames per second to replay at (1 to 120).
    pub fps: f32,
    /// The frames, each as the camera would deliver it.
    pub frames: Vec<Vec<u8>>,
    /// Start again after the last frame; otherwise the source ends after it with
    /// [`CameraError::Disconnected`], as if the camera had been unplugged.
    pub repeat: bool,
}

/// A camera capturing on its own thread, as I420 frames of a size fixed at start.
///
/// Hands out frames like [`CustomSource`]: [`latest`](Self::latest) takes the newest frame and
/// its capture time; frames not taken in time are replaced, never queued. Dropping the source
/// stops and joins its thread.
#[derive(Debug)]
pub struct CameraSource {
    frames: CustomSource,
    setting: Setting,
    stop: Arc<AtomicBool>,
    ended: Arc<OnceLock<CameraError>>,
    thread: Option<JoinHandle<()>>,
}

impl CameraSource {
    /// Opens camera `device` (an index from [`devices`](super::devices); `None`: the first),
    /// picks its mode with [`choose`](super::choose) and starts capturing. Returns once the
    /// camera has sent its first frame (cameras take up to a second or so; after 5 s this is a
    /// [`CameraError::Capture`]), so a camera that cannot stream fails here, not later.
    ///
    /// # Errors
    ///
    /// [`CameraError::Unavailable`] when there is no camera at all (or no permission to open
    /// one, or no camera support on this platform); [`CameraError::NoSuchDevice`],
    /// [`CameraError::Busy`], [`CameraError::Format`] when no mode fits or the camera refuses
    /// it; [`CameraError::Capture`] when the capture cannot start.
    pub fn open(device: Option<u32>, options: Options) -> Result<Self, CameraError> {
        #[cfg(target_os = "linux")]
        {
            let (backend, setting, stride) = super::v4l2::open(device, &options)?;
            Self::start(Box::new(backend), setting, stride, &options)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (device, options);
            Err(super::unsupported())
        }
    }

    /// Replays `recording` through the same conversion, scaling and slot as a camera: for
    /// tests and demos. Only [`Options::max_size`] is read; the mode is the recording's.
    ///
    /// # Errors
    ///
    /// [`CameraError::Format`] when the recording is empty, its format is not MJPEG, YUYV or
    /// NV12, or its size is outside 16x16 to 3840x2160; [`CameraError::Capture`] when the
    /// thread cannot start. Frames that do not convert are skipped, as from a camera.
    pub fn replay(recording: Recording, options: &Options) -> Result<Self, CameraError> {
        let Recording {
            format,
            width,
            height,
            stride,
            fps,
            frames,
            repeat,
        } = recording;
        if !format.is_supported() {
            return Err(CameraError::Format(format!(
                "{format} cannot be converted; record MJPEG, YUYV or NV12"
            )));
        }
        if frames.is_empty() {
            return Err(CameraError::Format("the recording has no frame".to_owned()));
        }
        check_size(width & !1, height & !1).map_err(|e| CameraError::Format(e.to_string()))?;
        let fps = if fps.is_finite() {
            fps.clamp(1.0, 120.0)
        } else {
            30.0
        };
        let setting = Setting {
            format,
            width,
            height,
            fps,
        };
        let stride = if stride == 0 {
            tight_stride(format, width)
        } else {
            stride
        };
        let backend = Replay {
            frames,
            repeat,
            period: Duration::from_secs_f32(1.0 / fps),
            next: 0,
            due: Instant::now(),
        };
        Self::start(Box::new(backend), setting, stride, options)
    }

    /// Starts the capture thread on `backend`.
    fn start(
        backend: Box<dyn Backend>,
        setting: Setting,
        stride: u32,
        options: &Options,
    ) -> Result<Self, CameraError> {
        let (max_width, max_height) = options.max_size.unwrap_or((MAX_WIDTH, MAX_HEIGHT));
        let out = scale::fit(setting.width, setting.height, max_width, max_height);
        let (frames, sender) =
            CustomSource::new(out.0, out.1).expect("scale::fit always gives a valid size");
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(OnceLock::new());
        let capture = Capture {
            backend,
            picture: Picture {
                converter: Converter::new(),
                scaler: Scaler::new(),
                captured: None,
                setting,
                stride,
            },
            frames: sender,
            stop: Arc::clone(&stop),
            ended: Arc::clone(&ended),
        };
        let thread = std::thread::Builder::new()
            .name("livestage-camera".to_owned())
            .spawn(move || capture.run())
            .map_err(|e| CameraError::Capture(format!("cannot start the capture thread: {e}")))?;
        Ok(Self {
            frames,
            setting,
            stop,
            ended,
            thread: Some(thread),
        })
    }

    /// `(width, height)` of the frames, fixed for the life of the source: the camera's size
    /// rounded down to even, scaled into [`Options::max_size`].
    pub fn size(&self) -> (u32, u32) {
        self.frames.size()
    }

    /// The mode the camera captures in.
    pub fn setting(&self) -> Setting {
        self.setting
    }

    /// The newest frame captured since the last call, with its capture time in microseconds
    /// since the Unix epoch (when the frame was taken from the driver); `None` when there is
    /// none, and always once capture has ended.
    pub fn latest(&mut self) -> Option<(I420, u64)> {
        let newest = self.frames.latest();
        if self.ended.get().is_some() {
            return None;
        }
        newest
    }

    /// Why capture ended (the camera was unplugged...), or `None` while it runs. Once ended,
    /// the thread has stopped and [`latest`](Self::latest) gives nothing.
    pub fn ended(&self) -> Option<CameraError> {
        self.ended.get().cloned()
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the camera capture thread panicked");
        }
    }
}

/// Bytes per row of a `width`-pixel frame without padding.
fn tight_stride(format: Format, width: u32) -> u32 {
    match format {
        Format::Yuyv => width.div_ceil(2) * 4,
        Format::Nv12 => width.div_ceil(2) * 2,
        Format::Mjpeg | Format::Other(_) => 0,
    }
}

/// The capture thread's state.
struct Capture {
    backend: Box<dyn Backend>,
    picture: Picture,
    frames: CustomSender,
    stop: Arc<AtomicBool>,
    ended: Arc<OnceLock<CameraError>>,
}

impl Capture {
    fn run(mut self) {
        if let Err(error) = self.frames() {
            tracing::info!("camera capture ended: {error}");
            // Only this thread sets it, once, just before it stops.
            let _ = self.ended.set(error);
        }
    }

    /// Takes, converts and offers frames until told to stop (`Ok`) or the camera fails.
    fn frames(&mut self) -> Result<(), CameraError> {
        let mut last_frame = Instant::now();
        let mut bad = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(data) = self.backend.next(POLL)? else {
                if last_frame.elapsed() > STALL {
                    return Err(CameraError::Capture(format!(
                        "the camera sent no frame for {} s",
                        STALL.as_secs()
                    )));
                }
                continue;
            };
            let capture_us = crate::video::now_us();
            last_frame = Instant::now();
            match self.picture.render(data, self.frames.size()) {
                Ok(frame) => {
                    bad = 0;
                    self.frames
                        .push_i420(frame, capture_us)
                        .expect("the picture is rendered at the source's size");
                }
                Err(error) => {
                    bad += 1;
                    if bad == 1 {
                        tracing::warn!("a camera frame was skipped: {error}");
                    }
                    if bad >= BAD_FRAMES {
                        return Err(CameraError::Capture(format!(
                            "{BAD_FRAMES} frames in a row could not be converted ({error})"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Turns raw frames into I420 frames of the output size, keeping its buffers.
struct Picture {
    converter: Converter,
    scaler: Scaler,
    /// The converted frame at the camera's (even) size, when it is scaled afterwards.
    captured: Option<I420>,
    setting: Setting,
    stride: u32,
}

impl Picture {
    /// `data` as a new `out`-sized frame: converted at the camera's size (less an odd last
    /// column or row), then scaled down if `out` is smaller.
    fn render(&mut self, data: &[u8], out: (u32, u32)) -> Result<I420, crate::video::pixel::Error> {
        let Setting {
            format,
            width,
            height,
            ..
        } = self.setting;
        let even = (width & !1, height & !1);
        let mut output = I420::new(out.0, out.1).expect("the output size was checked at start");
        if even == out {
            self.converter
                .convert(format, data, width, height, self.stride, &mut output)?;
            return Ok(output);
        }
        let captured = self.captured.get_or_insert_with(|| {
            I420::new(even.0, even.1).expect("the mode's even size was checked at start")
        });
        self.converter
            .convert(format, data, width, height, self.stride, captured)?;
        self.scaler.scale_into(captured, &mut output);
        Ok(output)
    }
}

/// A [`Recording`] played back at its frame rate.
struct Replay {
    frames: Vec<Vec<u8>>,
    repeat: bool,
    period: Duration,
    /// The index of the next frame.
    next: usize,
    /// When the next frame is due.
    due: Instant,
}

impl Backend for Replay {
    fn next(&mut self, timeout: Duration) -> Result<Option<&[u8]>, CameraError> {
        let now = Instant::now();
        if self.due > now {
            let wait = self.due - now;
            std::thread::sleep(wait.min(timeout));
            if wait > timeout {
                return Ok(None);
            }
        }
        if self.next == self.frames.len() {
            if !self.repeat {
                // One frame period after the last frame, like a camera that was unplugged.
                return Err(CameraError::Disconnected);
            }
            self.next = 0;
        }
        // Keep the rate without catching up on frames a slow thread missed.
        self.due = (self.due + self.period).max(Instant::now());
        self.next += 1;
        Ok(Some(&self.frames[self.next - 1]))
    }
}
