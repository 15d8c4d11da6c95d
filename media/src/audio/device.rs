//! Audio devices: cpal playback and capture, each falling back to a null device.
//!
//! Opening never fails for want of hardware: with no usable default device (a server, CI,
//! a machine without a sound card) the null device takes its place and runs at real time on
//! a plain thread — the null sink consumes a frame every 20 ms, the null source produces a
//! silent one — so the rest of the pipeline keeps its pace.
//!
//! Each device runs on a thread owned by its [`Playback`] or [`Capture`] (cpal streams must
//! stay on the thread that made them); dropping the handle stops the device and joins the
//! thread. The app and the device callback meet only in the lock-free frame queue of
//! [`queue`](super::queue).

use std::thread::{self, JoinHandle};
use std::time::Instant;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, SampleFormat, SampleRate, StreamConfig, SupportedStreamConfigRange};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::error::{Error, Result};
use super::format::Format;
use super::queue::{Queue, Reader, Sink, Source, Stats, Writer};

/// The [`Backend::Null`] reason when the null device was asked for.
const NULL_REQUESTED: &str = "null device requested";

/// The device behind a [`Playback`] or [`Capture`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A cpal device, by name.
    Device(String),
    /// The null device, with the reason no real device is used.
    Null(String),
}

/// Plays interleaved `f32` audio on the default output device, or on the null device.
///
/// ```
/// use livestage_media::audio::{Format, Playback};
///
/// let mut playback = Playback::open(Format::MONO_48K)?;
/// println!("playing on {:?}", playback.backend());
/// playback.writer().write(&vec![0.0; Format::MONO_48K.frame_len()]);
/// # Ok::<(), livestage_media::audio::Error>(())
/// ```
#[derive(Debug)]
pub struct Playback {
    format: Format,
    backend: Backend,
    writer: Writer,
    /// Stops the device when dropped.
    _thread: DeviceThread,
}

impl Playback {
    /// Opens the default output device for `format`, or the null sink if there is none or
    /// it cannot play `format` as `f32` (logged as a warning).
    ///
    /// Errors only for an invalid `format` or if the device thread cannot be started.
    pub fn open(format: Format) -> Result<Playback> {
        Self::start(format, true)
    }

    /// Opens the null sink without trying a device (headless bots, tests).
    pub fn null(format: Format) -> Result<Playback> {
        Self::start(format, false)
    }

    fn start(format: Format, use_device: bool) -> Result<Playback> {
        format.validate()?;
        let queue = Queue::new(format.frame_len());
        let device_queue = queue.clone();
        let (thread, backend) = DeviceThread::spawn("livestage-playback", move |stop, ready| {
            let opened = if use_device {
                open_output(format, Sink::new(device_queue.clone())).inspect_err(|reason| {
                    tracing::warn!("no audio output device ({reason}); using the null device");
                })
            } else {
                Err(NULL_REQUESTED.to_owned())
            };
            match opened {
                Ok((stream, name)) => {
                    let _ = ready.send(Backend::Device(name));
                    let _ = stop.recv(); // Until the handle is dropped.
                    drop(stream);
                }
                Err(reason) => {
                    let _ = ready.send(Backend::Null(reason));
                    let mut sink = Sink::new(device_queue);
                    let mut buffer = vec![0.0; format.frame_len()];
                    pace(&stop, || sink.render(&mut buffer));
                }
            }
        })?;
        Ok(Playback {
            format,
            backend,
            writer: Writer::new(queue),
            _thread: thread,
        })
    }

    /// The format written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The device in use.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Whether this is the null device.
    pub fn is_null(&self) -> bool {
        matches!(self.backend, Backend::Null(_))
    }

    /// Where the app writes interleaved samples.
    pub fn writer(&mut self) -> &mut Writer {
        &mut self.writer
    }

    /// Frames played, dropped and underruns so far.
    pub fn stats(&self) -> Stats {
        self.writer.stats()
    }
}

/// Captures interleaved `f32` audio from the default input device, or silence from the null
/// device.
///
/// ```
/// use std::time::Duration;
/// use livestage_media::audio::{Capture, Format};
///
/// let mut capture = Capture::open(Format::MONO_48K)?;
/// if let Some(frame) = capture.reader().read_timeout(Duration::from_millis(100)) {
///     assert_eq!(frame.len(), Format::MONO_48K.frame_len());
/// }
/// # Ok::<(), livestage_media::audio::Error>(())
/// ```
#[derive(Debug)]
pub struct Capture {
    format: Format,
    backend: Backend,
    reader: Reader,
    /// Stops the device when dropped.
    _thread: DeviceThread,
}

impl Capture {
    /// Opens the default input device for `format`, or the null source if there is none or
    /// it cannot record `format` as `f32` (logged as a warning).
    ///
    /// Errors only for an invalid `format` or if the device thread cannot be started.
    pub fn open(format: Format) -> Result<Capture> {
        Self::start(format, true)
    }

    /// Opens the null source without trying a device (headless bots, tests).
    pub fn null(format: Format) -> Result<Capture> {
        Self::start(format, false)
    }

    fn start(format: Format, use_device: bool) -> Result<Capture> {
        format.validate()?;
        let queue = Queue::new(format.frame_len());
        let device_queue = queue.clone();
        let (thread, backend) = DeviceThread::spawn("livestage-capture", move |stop, ready| {
            let opened = if use_device {
                open_input(format, Source::new(device_queue.clone())).inspect_err(|reason| {
                    tracing::warn!("no audio input device ({reason}); using the null device");
                })
            } else {
                Err(NULL_REQUESTED.to_owned())
            };
            match opened {
                Ok((stream, name)) => {
                    let _ = ready.send(Backend::Device(name));
                    let _ = stop.recv(); // Until the handle is dropped.
                    drop(stream);
                }
                Err(reason) => {
                    let _ = ready.send(Backend::Null(reason));
                    let mut source = Source::new(device_queue);
                    let silence = vec![0.0; format.frame_len()];
                    pace(&stop, || source.push(&silence));
                }
            }
        })?;
        Ok(Capture {
            format,
            backend,
            reader: Reader::new(queue),
            _thread: thread,
        })
    }

    /// The format captured.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The device in use.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Whether this is the null device.
    pub fn is_null(&self) -> bool {
        matches!(self.backend, Backend::Null(_))
    }

    /// Where the app reads captured frames.
    pub fn reader(&mut self) -> &mut Reader {
        &mut self.reader
    }

    /// Frames captured and dropped so far.
    pub fn stats(&self) -> Stats {
        self.reader.stats()
    }
}

/// The thread running one device; dropping it stops the device and joins the thread.
#[derive(Debug)]
struct DeviceThread {
    /// Dropped to tell the thread to stop.
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl DeviceThread {
    /// Starts `run(stop, ready)` on a new thread and waits for it to report the backend.
    fn spawn(
        name: &str,
        run: impl FnOnce(Receiver<()>, Sender<Backend>) + Send + 'static,
    ) -> Result<(DeviceThread, Backend)> {
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let (ready_tx, ready_rx) = bounded(1);
        let handle = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(stop_rx, ready_tx))
            .map_err(Error::Thread)?;
        let thread = DeviceThread {
            stop: Some(stop_tx),
            handle: Some(handle),
        };
        let backend = ready_rx.recv().map_err(|_| {
            Error::Thread(std::io::Error::other(format!(
                "{name} thread stopped while opening"
            )))
        })?;
        Ok((thread, backend))
    }
}

impl Drop for DeviceThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            tracing::warn!("audio device thread panicked");
        }
    }
}

/// Calls `tick` every 20 ms until `stop` is dropped. After a stall (a suspended machine) it
/// resumes the pace instead of catching up in a burst.
fn pace(stop: &Receiver<()>, mut tick: impl FnMut()) {
    let period = Format::frame_duration();
    let mut deadline = Instant::now() + period;
    loop {
        match stop.recv_deadline(deadline) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        tick();
        deadline += period;
        let now = Instant::now();
        if now > deadline + period * 5 {
            deadline = now + period;
        }
    }
}

/// The stream config for `format` if the device offers it as `f32`.
fn stream_config(
    mut configs: impl Iterator<Item = SupportedStreamConfigRange>,
    format: Format,
) -> Option<StreamConfig> {
    let rate = format.sample_rate;
    configs
        .any(|c| {
            c.channels() == format.channels
                && c.sample_format() == SampleFormat::F32
                && (c.min_sample_rate().0..=c.max_sample_rate().0).contains(&rate)
        })
        .then_some(StreamConfig {
            channels: format.channels,
            sample_rate: SampleRate(rate),
            buffer_size: BufferSize::Default,
        })
}

fn device_name(device: &cpal::Device) -> String {
    device
        .name()
        .unwrap_or_else(|_| "unnamed device".to_owned())
}

fn open_output(
    format: Format,
    mut sink: Sink,
) -> std::result::Result<(cpal::Stream, String), String> {
    let device = cpal::default_host()
        .default_output_device()
        .ok_or_else(|| "no default output device".to_owned())?;
    let name = device_name(&device);
    let configs = device
        .supported_output_configs()
        .map_err(|e| format!("{name}: {e}"))?;
    let config = stream_config(configs, format).ok_or_else(|| {
        format!(
            "{name} cannot play {} Hz x {} f32",
            format.sample_rate, format.channels
        )
    })?;
    let stream = device
        .build_output_stream(
            &config,
            move |data: &mut [f32], _| sink.render(data),
            |err| tracing::warn!("audio output error: {err}"),
            None,
        )
        .map_err(|e| format!("{name}: {e}"))?;
    stream.play().map_err(|e| format!("{name}: {e}"))?;
    Ok((stream, name))
}

fn open_input(
    format: Format,
    mut source: Source,
) -> std::result::Result<(cpal::Stream, String), String> {
    let device = cpal::default_host()
        .default_input_device()
        .ok_or_else(|| "no default input device".to_owned())?;
    let name = device_name(&device);
    let configs = device
        .supported_input_configs()
        .map_err(|e| format!("{name}: {e}"))?;
    let config = stream_config(configs, format).ok_or_else(|| {
        format!(
            "{name} cannot record {} Hz x {} f32",
            format.sample_rate, format.channels
        )
    })?;
    let stream = device
        .build_input_stream(
            &config,
            move |data: &[f32], _| source.push(data),
            |err| tracing::warn!("audio input error: {err}"),
            None,
        )
        .map_err(|e| format!("{name}: {e}"))?;
    stream.play().map_err(|e| format!("{name}: {e}"))?;
    Ok((stream, name))
}
