//! Cameras on Linux: video4linux2 device nodes (`/dev/videoN`), through the `v4l` crate.
//!
//! A node is a camera when it lists at least one video capture format; the metadata node that
//! UVC webcams add beside each camera lists none and is left out. Names come from sysfs.
//! Frames arrive in memory-mapped buffers; the capture thread polls the device with a timeout so
//! that it can stop, and reads a frame only once the device says one is ready.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use v4l::buffer::Type;
use v4l::device::Handle;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture as _;
use v4l::video::capture::Parameters;
use v4l::{FourCC, Fraction};

use super::source::Backend;
use super::{CameraError, Device, Format, Mode, Options, Setting, choose, describe};

/// `ENODEV`: the device went away (unplugged).
const ENODEV: i32 = 19;
/// `POLLIN` from `poll(2)`: a frame is ready.
const POLLIN: i16 = 1;
/// Buffers the driver fills in turn.
const BUFFERS: u32 = 4;
/// How long a camera gets to deliver its first frame.
const FIRST_FRAME: Duration = Duration::from_secs(5);
/// Sizes listed for a camera that takes any size in a range.
const COMMON_SIZES: [(u32, u32); 8] = [
    (320, 240),
    (640, 360),
    (640, 480),
    (800, 600),
    (1280, 720),
    (1920, 1080),
    (2560, 1440),
    (3840, 2160),
];
/// Rates listed for a camera that takes any rate in a range.
const COMMON_RATES: [f32; 6] = [5.0, 10.0, 15.0, 24.0, 30.0, 60.0];

/// The cameras on this machine.
pub(super) fn devices() -> Result<Vec<Device>, CameraError> {
    let nodes = nodes();
    if nodes.is_empty() {
        return Err(no_nodes());
    }
    let mut found = Vec::new();
    let mut refused = Vec::new();
    for (index, path) in &nodes {
        match v4l::Device::with_path(path) {
            Ok(device) => {
                let modes = modes(&device);
                if !modes.is_empty() {
                    found.push(Device {
                        index: *index,
                        name: name(*index),
                        path: path.display().to_string(),
                        modes,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => refused.push(path),
            Err(e) => tracing::debug!("skipping {}: {e}", path.display()),
        }
    }
    if !found.is_empty() {
        return Ok(found);
    }
    let list = |paths: &mut dyn Iterator<Item = &PathBuf>| {
        paths
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !refused.is_empty() {
        return Err(permission_denied(&list(&mut refused.into_iter())));
    }
    Err(CameraError::Unavailable(format!(
        "no camera found: {} capture no video (metadata, codec or output devices); plug in a \
         webcam",
        list(&mut nodes.iter().map(|(_, p)| p))
    )))
}

/// Opens camera `index` (the first camera for `None`), sets the mode [`choose`] picks and
/// starts streaming; returns once the first frame arrived.
pub(super) fn open(
    index: Option<u32>,
    options: &Options,
) -> Result<(Camera, Setting, u32), CameraError> {
    let index = match index {
        Some(index) => index,
        None => devices()?
            .first()
            .map(|d| d.index)
            .expect("devices() never returns an empty list"),
    };
    let nodes = nodes();
    let Some((_, path)) = nodes.into_iter().find(|(i, _)| *i == index) else {
        // No camera at all is "unavailable"; a wrong index among cameras is not.
        devices()?;
        return Err(CameraError::NoSuchDevice(index));
    };
    let device = v4l::Device::with_path(&path).map_err(|e| opening(&path, &e))?;
    let name = name(index);
    let modes = modes(&device);
    if modes.is_empty() {
        return Err(CameraError::NoSuchDevice(index));
    }
    let mut setting = choose(&modes, options).ok_or_else(|| {
        CameraError::Format(format!(
            "{name} ({}) offers {}; Livestage takes MJPEG, YUYV or NV12 from 16x16 to 3840x2160",
            path.display(),
            describe(&modes)
        ))
    })?;
    let wanted = v4l::Format::new(
        setting.width,
        setting.height,
        FourCC::new(&setting.format.fourcc()),
    );
    let got = device.set_format(&wanted).map_err(|e| match busy(&e) {
        true => CameraError::Busy(format!("{}: {e}", path.display())),
        false => CameraError::Format(format!("{name} refused {setting}: {e}")),
    })?;
    if (got.width, got.height, got.fourcc) != (wanted.width, wanted.height, wanted.fourcc) {
        return Err(CameraError::Format(format!(
            "{name} was asked for {setting} but gave {} {}x{}",
            Format::from_fourcc(got.fourcc.repr),
            got.width,
            got.height
        )));
    }
    // The driver picks the nearest interval it has; some cannot set one at all.
    let interval = Fraction::new(1000, (setting.fps * 1000.0).round() as u32);
    match device.set_params(&Parameters::new(interval)) {
        Ok(params) => setting.fps = fps(params.interval).unwrap_or(setting.fps),
        Err(e) => tracing::warn!("{name} keeps its frame rate ({e})"),
    }
    let mut stream = Stream::with_buffers(&device, Type::VideoCapture, BUFFERS).map_err(|e| {
        if busy(&e) {
            CameraError::Busy(format!("{}: {e}", path.display()))
        } else {
            CameraError::Capture(format!("cannot map {}'s buffers: {e}", path.display()))
        }
    })?;
    // The first call queues the buffers, starts streaming and waits; later calls are made only
    // once `poll` says a frame is ready (`Stream::next` cannot resume after a timeout).
    stream.set_timeout(FIRST_FRAME);
    stream.next().map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => CameraError::Capture(format!(
            "{name} started but sent no frame in {} s",
            FIRST_FRAME.as_secs()
        )),
        _ => failure(&path, &e),
    })?;
    let stride = match setting.format {
        Format::Mjpeg | Format::Other(_) => 0,
        Format::Yuyv | Format::Nv12 => got.stride,
    };
    tracing::info!("capturing {name} ({}) as {setting}", path.display());
    let handle = stream.handle();
    Ok((
        Camera {
            stream,
            handle,
            path,
        },
        setting,
        stride,
    ))
}

/// A streaming camera.
pub(super) struct Camera {
    stream: Stream<'static>,
    handle: Arc<Handle>,
    path: PathBuf,
}

impl Backend for Camera {
    fn next(&mut self, timeout: Duration) -> Result<Option<&[u8]>, CameraError> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        match self.handle.poll(POLLIN, ms) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(failure(&self.path, &e)),
        }
        let path = &self.path;
        let (data, meta) = self.stream.next().map_err(|e| failure(path, &e))?;
        // Compressed frames use only part of the buffer.
        let used = meta.bytesused as usize;
        Ok(Some(if used > 0 && used <= data.len() {
            &data[..used]
        } else {
            data
        }))
    }
}

/// The `(index, path)` of each `/dev/videoN`, by index.
fn nodes() -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return Vec::new();
    };
    let mut nodes: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let index = name.to_str()?.strip_prefix("video")?.parse().ok()?;
            Some((index, entry.path()))
        })
        .collect();
    nodes.sort();
    nodes
}

/// The camera's name from sysfs, or `"camera N"`.
fn name(index: u32) -> String {
    std::fs::read(format!("/sys/class/video4linux/video{index}/name"))
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("camera {index}"))
}

/// Every format, size and rate `device` captures; empty for a node that captures no video.
fn modes(device: &v4l::Device) -> Vec<Mode> {
    let Ok(formats) = device.enum_formats() else {
        return Vec::new();
    };
    let mut modes = Vec::new();
    for description in formats {
        let fourcc = description.fourcc;
        let format = Format::from_fourcc(fourcc.repr);
        let Ok(sizes) = device.enum_framesizes(fourcc) else {
            continue;
        };
        for (width, height) in sizes.into_iter().flat_map(|s| sizes_of(s.size)) {
            let fps = rates(device, fourcc, width, height);
            modes.push(Mode {
                format,
                width,
                height,
                fps,
            });
        }
    }
    modes
}

/// The sizes of one frame-size entry: itself, or the common sizes in its range and its largest.
fn sizes_of(size: FrameSizeEnum) -> Vec<(u32, u32)> {
    match size {
        FrameSizeEnum::Discrete(d) => vec![(d.width, d.height)],
        FrameSizeEnum::Stepwise(s) => {
            let fits = |v: u32, min: u32, max: u32, step: u32| {
                (min..=max).contains(&v) && (v - min).is_multiple_of(step.max(1))
            };
            let mut sizes: Vec<(u32, u32)> = COMMON_SIZES
                .into_iter()
                .filter(|&(w, h)| {
                    fits(w, s.min_width, s.max_width, s.step_width)
                        && fits(h, s.min_height, s.max_height, s.step_height)
                })
                .collect();
            if !sizes.contains(&(s.max_width, s.max_height)) {
                sizes.push((s.max_width, s.max_height));
            }
            sizes
        }
    }
}

/// The frame rates `device` offers for a format and size, fastest first.
fn rates(device: &v4l::Device, fourcc: FourCC, width: u32, height: u32) -> Vec<f32> {
    let Ok(intervals) = device.enum_frameintervals(fourcc, width, height) else {
        return Vec::new();
    };
    let mut rates = Vec::new();
    for interval in intervals {
        match interval.interval {
            FrameIntervalEnum::Discrete(f) => rates.extend(fps(f)),
            FrameIntervalEnum::Stepwise(s) => {
                let (Some(fastest), Some(slowest)) = (fps(s.min), fps(s.max)) else {
                    continue;
                };
                rates.extend(COMMON_RATES.iter().filter(|&&r| r > slowest && r < fastest));
                rates.extend([fastest, slowest]);
            }
        }
    }
    rates.sort_by(|a, b| b.total_cmp(a));
    rates.dedup();
    rates
}

/// Frames per second of a frame interval, if it is one.
fn fps(interval: Fraction) -> Option<f32> {
    (interval.numerator > 0 && interval.denominator > 0)
        .then(|| interval.denominator as f32 / interval.numerator as f32)
}

fn busy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ResourceBusy
}

/// The error for a node that cannot be opened.
fn opening(path: &Path, e: &io::Error) -> CameraError {
    match e.kind() {
        io::ErrorKind::PermissionDenied => permission_denied(&path.display().to_string()),
        io::ErrorKind::ResourceBusy => CameraError::Busy(format!("{}: {e}", path.display())),
        _ => failure(path, e),
    }
}

/// The error for a camera that failed while streaming.
fn failure(path: &Path, e: &io::Error) -> CameraError {
    if e.raw_os_error() == Some(ENODEV) || !path.exists() {
        CameraError::Disconnected
    } else {
        CameraError::Capture(format!("{}: {e}", path.display()))
    }
}

fn no_nodes() -> CameraError {
    CameraError::Unavailable(
        "no camera found: /dev/video* does not exist; plug in a webcam, and check that its \
         driver is loaded (uvcvideo for USB webcams)"
            .to_owned(),
    )
}

fn permission_denied(paths: &str) -> CameraError {
    CameraError::Unavailable(format!(
        "no permission to open {paths}; add your user to the group video \
         (sudo usermod -aG video $USER) and log in again"
    ))
}

#[cfg(test)]
mod tests {
    use v4l::framesize::Stepwise;

    use super::*;

    #[test]
    fn a_size_range_lists_the_common_sizes_in_it() {
        let range = FrameSizeEnum::Stepwise(Stepwise {
            min_width: 320,
            max_width: 1920,
            step_width: 16,
            min_height: 240,
            max_height: 1080,
            step_height: 8,
        });
        // The common sizes that fit the range and its steps; the largest is one of them.
        assert_eq!(
            sizes_of(range),
            vec![
                (320, 240),
                (640, 360),
                (640, 480),
                (800, 600),
                (1280, 720),
                (1920, 1080)
            ]
        );
    }

    #[test]
    fn an_interval_is_a_rate() {
        assert_eq!(fps(Fraction::new(1, 30)), Some(30.0));
        assert_eq!(
            fps(Fraction::new(1001, 30000)).map(|r| r.round()),
            Some(30.0)
        );
        assert_eq!(fps(Fraction::new(0, 30)), None);
    }
}
