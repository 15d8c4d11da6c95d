//! The video file source: MP4 and Matroska with H.264 demux into access units that decode,
//! play in real time, loop without a jump back, forward only what receivers can show, and turn
//! bad files into errors. Fixtures are made by ffmpeg at test time (no video files in the repo).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use livestage_media::video::file::{
    Access, Container, Demuxer, FileError, FileSource, Mode, Options, Profile, QUEUE,
};
use livestage_media::video::{Decoder, I420};

/// Serialises fixture making, so tests running in parallel make each file once.
static MAKING: Mutex<()> = Mutex::new(());

/// The testsrc pattern at `size` and `fps` for `secs`, encoded by libx264 with `x264` options
/// (or `-c:v` another codec), into `name`; made once and kept in the target's temp folder.
fn fixture(name: &str, size: &str, fps: u32, secs: f32, codec: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("file_source");
    let path = dir.join(name);
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join(format!("partial-{name}"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate={fps}"))
        .args(["-t", &secs.to_string()])
        .args(codec)
        .arg(&partial)
        .status()
        .expect("ffmpeg (./dev setup installs it; CI has it)");
    assert!(status.success(), "ffmpeg made no {name}");
    std::fs::rename(&partial, &path).unwrap();
    path
}

/// H.264 arguments: a profile, a GOP of `gop` frames, B-frames or not, 4:2:0.
fn x264(profile: &str, gop: u32, b_frames: u32) -> Vec<String> {
    [
        "-c:v",
        "libx264",
        "-profile:v",
        profile,
        "-g",
        &gop.to_string(),
        "-bf",
        &b_frames.to_string(),
        "-pix_fmt",
        "yuv420p",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn h264(name: &str, fps: u32, secs: f32, profile: &str, gop: u32, b_frames: u32) -> PathBuf {
    let args = x264(profile, gop, b_frames);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fixture(name, "320x240", fps, secs, &args)
}

/// 3 s of 320x240 at 30 fps, Baseline, a keyframe every second.
fn baseline(ext: &str) -> PathBuf {
    h264(&format!("baseline.{ext}"), 30, 3.0, "baseline", 30, 0)
}

/// 2 s of High profile with two B-frames between references.
fn b_frames(ext: &str) -> PathBuf {
    h264(&format!("high-bf2.{ext}"), 30, 2.0, "high", 30, 2)
}

/// 2 s at 60 fps, Baseline, a keyframe every half second: for pacing and dropping.
fn fast() -> PathBuf {
    h264("fast.mp4", 60, 2.0, "baseline", 30, 0)
}

/// Half a second at 60 fps (30 frames), Baseline, one keyframe: for looping and ending.
fn short() -> PathBuf {
    h264("short.mp4", 60, 0.5, "baseline", 60, 0)
}

/// What ffmpeg decodes `path` to, frame by frame (I420, display order).
fn ffmpeg_frames(path: &Path, width: usize, height: usize) -> Vec<Vec<u8>> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .unwrap();
    assert!(output.status.success());
    output
        .stdout
        .chunks_exact(width * height * 3 / 2)
        .map(<[u8]>::to_vec)
        .collect()
}

fn planes(frame: &I420) -> Vec<u8> {
    [frame.y(), frame.u(), frame.v()].concat()
}

/// Every access unit of `path` through `decoder`, then its flush.
fn decode_all(path: &Path, mut decoder: Decoder) -> Vec<I420> {
    let mut demuxer = Demuxer::open(path).unwrap();
    let mut frames = Vec::new();
    while let Some(sample) = demuxer.read().unwrap() {
        frames.extend(decoder.decode(&sample.data).unwrap());
    }
    frames.extend(decoder.flush().unwrap());
    frames
}

/// Takes access units from a forwarding source until `count` came or `limit` passed.
fn take(source: &mut FileSource, count: usize, limit: Duration) -> Vec<(Access, Instant)> {
    let deadline = Instant::now() + limit;
    let mut taken = Vec::new();
    while taken.len() < count && Instant::now() < deadline {
        if let Some(access) = source.next_encoded_timeout(Duration::from_millis(50)) {
            taken.push((access, Instant::now()));
        }
    }
    taken
}

#[test]
fn every_access_unit_decodes_in_order_to_what_ffmpeg_shows() {
    for ext in ["mp4", "mkv"] {
        let path = baseline(ext);
        let frames = decode_all(&path, Decoder::new().unwrap());
        let expected = ffmpeg_frames(&path, 320, 240);
        assert_eq!(frames.len(), 90, "{ext}: all 3 s at 30 fps");
        assert_eq!(expected.len(), 90);
        for (n, (frame, expected)) in frames.iter().zip(&expected).enumerate() {
            assert_eq!(planes(frame), *expected, "{ext}: frame {n} differs");
        }
    }
}

#[test]
fn openh264_decodes_main_and_high_as_ffmpeg_does() {
    // Main (CABAC) and High (8x8 transform) without B-frames: the forwarding case.
    for profile in ["main", "high"] {
        let path = h264(&format!("{profile}.mp4"), 30, 1.0, profile, 30, 0);
        let frames = decode_all(&path, Decoder::new().unwrap());
        assert_eq!(frames.len(), 30, "{profile}");
        let expected = ffmpeg_frames(&path, 320, 240);
        assert!(
            frames.iter().zip(&expected).all(|(f, e)| planes(f) == *e),
            "{profile} decodes bit-exact"
        );
        assert!(Demuxer::open(&path).unwrap().info().forwardable().is_ok());
    }
    // High with B-frames: the reordering decoder gives display order, like ffmpeg.
    let path = b_frames("mp4");
    let frames = decode_all(&path, Decoder::reordering().unwrap());
    let expected = ffmpeg_frames(&path, 320, 240);
    assert_eq!((frames.len(), expected.len()), (60, 60));
    for (n, (frame, expected)) in frames.iter().zip(&expected).enumerate() {
        assert_eq!(
            planes(frame),
            *expected,
            "B-frames: picture {n} out of order"
        );
    }
}

#[test]
fn each_keyframe_carries_its_parameter_sets_and_decodes_alone() {
    let mut demuxer = Demuxer::open(baseline("mp4")).unwrap();
    let mut keyframes = 0;
    while let Some(sample) = demuxer.read().unwrap() {
        assert!(sample.data.starts_with(&[0, 0, 0, 1]), "Annex B");
        if sample.keyframe {
            keyframes += 1;
            assert_eq!(sample.data[4] & 0x1f, 7, "an SPS leads each IDR");
            let picture = Decoder::new().unwrap().decode(&sample.data).unwrap();
            assert_eq!(picture.map(|p| p.size()), Some((320, 240)));
        }
    }
    assert_eq!(keyframes, 3, "one per second");
}

#[test]
fn info_describes_the_video() {
    let info = Demuxer::open(baseline("mp4")).unwrap().info().clone();
    assert_eq!(info.container, Container::Mp4);
    assert_eq!((info.width, info.height), (320, 240));
    assert!((info.fps - 30.0).abs() < 0.01, "{}", info.fps);
    assert_eq!(info.frames, Some(90));
    assert_eq!(info.duration_us, Some(3_000_000));
    assert_eq!(info.profile, Profile::ConstrainedBaseline);
    assert!(info.progressive && info.yuv420_8bit && !info.b_frames);

    let mkv = Demuxer::open(baseline("mkv")).unwrap().info().clone();
    assert_eq!(mkv.container, Container::Matroska);
    assert_eq!((mkv.width, mkv.height, mkv.frames), (320, 240, Some(90)));
    assert!((mkv.fps - 30.0).abs() < 0.1, "{}", mkv.fps);
    let duration = mkv.duration_us.unwrap();
    assert!(duration.abs_diff(3_000_000) <= 40_000, "{duration}");
}

#[test]
fn baseline_is_forwardable_and_b_frames_are_not() {
    for ext in ["mp4", "mkv"] {
        let plain = Demuxer::open(baseline(ext)).unwrap();
        assert_eq!(plain.info().forwardable(), Ok(()), "{ext}");

        let reordered = Demuxer::open(b_frames(ext)).unwrap();
        let info = reordered.info();
        assert_eq!(info.profile, Profile::High);
        assert!(info.b_frames, "{ext}");
        assert_eq!(info.decodable(), Ok(()));
        assert!(matches!(
            info.forwardable(),
            Err(FileError::NotForwardable(_))
        ));
        let options = Options {
            looped: false,
            mode: Mode::Forward,
        };
        let refused = FileSource::open(b_frames(ext), options).unwrap_err();
        assert!(matches!(refused, FileError::NotForwardable(_)), "{refused}");
        let auto = FileSource::open(b_frames(ext), Options::default()).unwrap();
        assert_eq!(auto.mode(), Mode::Decode);
    }
}

#[test]
fn frames_are_paced_in_real_time() {
    let mut source = FileSource::open(fast(), Options::default()).unwrap();
    assert_eq!(source.mode(), Mode::Forward);
    let taken = take(&mut source, 61, Duration::from_secs(5));
    assert_eq!(taken.len(), 61);
    // 60 frame intervals at 60 fps: 1 s by the wall clock, within 15%.
    let elapsed = taken[60].1 - taken[0].1;
    assert!(
        (0.85..=1.15).contains(&elapsed.as_secs_f64()),
        "60 frames at 60 fps took {elapsed:?}"
    );
    // Capture times are the start plus each frame's presentation time.
    for pair in taken.windows(2) {
        let (a, b) = (&pair[0].0, &pair[1].0);
        assert_eq!(b.capture_us - a.capture_us, b.pts_us - a.pts_us);
    }
    assert_eq!(taken[60].0.pts_us, 1_000_000);
}

#[test]
fn a_looped_file_continues_the_timeline_from_its_first_keyframe() {
    let options = Options {
        looped: true,
        mode: Mode::Forward,
    };
    let mut source = FileSource::open(short(), options).unwrap();
    // 30 frames a pass: take two passes and a bit.
    let taken = take(&mut source, 70, Duration::from_secs(5));
    assert_eq!(taken.len(), 70);
    let units: Vec<&Access> = taken.iter().map(|(a, _)| a).collect();
    for pair in units.windows(2) {
        let gap = pair[1].capture_us - pair[0].capture_us;
        assert!(
            gap.abs_diff(16_667) <= 1,
            "capture times step one frame, across loops too: {gap}"
        );
    }
    for start in [0, 30, 60] {
        assert!(units[start].keyframe, "pass starting at {start}");
        assert_eq!(units[start].pts_us, 0);
    }
    assert!(units[59].pts_us > units[30].pts_us);
    assert_eq!(source.ended(), None);
    assert_eq!(source.dropped(), 0);
}

#[test]
fn a_file_played_once_ends_after_its_last_frame() {
    let mut source = FileSource::open(short(), Options::default()).unwrap();
    let started = Instant::now();
    let mut units = 0;
    while source.ended().is_none() && started.elapsed() < Duration::from_secs(5) {
        units += usize::from(
            source
                .next_encoded_timeout(Duration::from_millis(10))
                .is_some(),
        );
    }
    while source.next_encoded().is_some() {
        units += 1;
    }
    assert_eq!(source.ended(), Some(FileError::Ended));
    assert_eq!(units, 30, "every frame, once");
    let played = started.elapsed().as_secs_f64();
    assert!(
        (0.4..1.0).contains(&played),
        "half a second of video took {played} s"
    );
}

#[test]
fn decode_mode_gives_frames_of_the_file_size() {
    let options = Options {
        looped: false,
        mode: Mode::Decode,
    };
    let mut source = FileSource::open(baseline("mkv"), options).unwrap();
    assert_eq!(source.mode(), Mode::Decode);
    assert_eq!(source.size(), (320, 240));
    assert!((source.fps() - 30.0).abs() < 0.1);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut times = Vec::new();
    while times.len() < 10 && Instant::now() < deadline {
        if let Some((frame, capture_us)) = source.latest() {
            assert_eq!(frame.size(), (320, 240));
            times.push(capture_us);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(times.len(), 10);
    assert!(times.windows(2).all(|t| t[1] > t[0]));
    assert!(
        source.next_encoded().is_none(),
        "nothing encoded in decode mode"
    );
}

#[test]
fn a_b_frame_file_is_decoded_and_shown_in_presentation_order() {
    let mut source = FileSource::open(b_frames("mkv"), Options::default()).unwrap();
    assert_eq!(source.mode(), Mode::Decode);
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut times = Vec::new();
    while source.ended().is_none() && Instant::now() < deadline {
        if let Some((frame, capture_us)) = source.latest() {
            assert_eq!(frame.size(), (320, 240));
            times.push(capture_us);
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    assert_eq!(source.ended(), Some(FileError::Ended));
    assert!(times.len() >= 40, "most of 60 frames seen: {}", times.len());
    assert!(
        times.windows(2).all(|t| t[1] > t[0]),
        "in presentation order"
    );
}

#[test]
fn a_looped_b_frame_file_shows_every_pass_in_decode_mode() {
    // Each pass of a decoded file ends with a flush; every pass after it must decode too
    // (a reused openh264 decoder lost every other pass after its first few frames).
    let options = Options {
        looped: true,
        mode: Mode::Decode,
    };
    let mut source = FileSource::open(b_frames("mp4"), options).unwrap();
    // Three passes of 2 s at 30 fps would be 180 frames: count frames over the 2nd and 3rd.
    let deadline = Instant::now() + Duration::from_millis(5_500);
    let mut times = Vec::new();
    while Instant::now() < deadline {
        if let Some((_, capture_us)) = source.latest() {
            times.push(capture_us);
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    let first = times[0];
    let later = times.iter().filter(|t| **t >= first + 2_000_000).count();
    assert!(
        later >= 90,
        "frames of the later passes: {later} of about 105"
    );
    let largest_gap = times.windows(2).map(|t| t[1] - t[0]).max().unwrap();
    assert!(
        largest_gap < 200_000,
        "no pass is skipped: a {largest_gap} us gap"
    );
}

#[test]
fn a_consumer_that_falls_behind_loses_frames_up_to_a_keyframe() {
    let mut source = FileSource::open(fast(), Options::default()).unwrap();
    // Keyframes every 30 frames; not reading for 1.2 s overflows the queue of QUEUE.
    std::thread::sleep(Duration::from_millis(1200));
    let taken = take(&mut source, 20, Duration::from_secs(2));
    assert!(
        source.dropped() as usize >= QUEUE,
        "dropped {}",
        source.dropped()
    );
    assert!(taken[0].0.keyframe, "the queue restarts at a keyframe");
    let mut decoder = Decoder::new().unwrap();
    for (access, _) in &taken {
        assert!(decoder.decode(&access.data).unwrap().is_some());
    }
}

#[test]
fn bad_files_are_errors_a_user_can_act_on() {
    let dir = tempfile::tempdir().unwrap();
    let missing = FileSource::open(dir.path().join("nope.mp4"), Options::default()).unwrap_err();
    assert!(matches!(missing, FileError::Open { .. }), "{missing}");
    assert!(matches!(
        Demuxer::open(dir.path()).unwrap_err(),
        FileError::Open { .. }
    ));

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all").unwrap();
    assert_eq!(Demuxer::open(&text).unwrap_err(), FileError::NotVideoFile);

    // ffmpeg writes the index last: a cut MP4 has none, a cut Matroska loses its header.
    let mp4 = std::fs::read(baseline("mp4")).unwrap();
    let cut = Demuxer::from_bytes(&mp4[..mp4.len() / 2]).unwrap_err();
    assert!(matches!(cut, FileError::Damaged(_)), "{cut}");
    let mkv = std::fs::read(baseline("mkv")).unwrap();
    let cut = Demuxer::from_bytes(&mkv[..60]).unwrap_err();
    assert!(matches!(cut, FileError::Damaged(_)), "{cut}");

    let audio = dir.path().join("tone.m4a");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.2",
            "-c:a",
            "aac",
        ])
        .arg(&audio)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(Demuxer::open(&audio).unwrap_err(), FileError::NoVideo);

    let hevc = fixture(
        "hevc.mp4",
        "320x240",
        30,
        0.2,
        &["-c:v", "libx265", "-x265-params", "log-level=error"],
    );
    let error = Demuxer::open(hevc).unwrap_err();
    assert_eq!(error, FileError::Codec("HEVC (H.265)".into()));
    assert!(error.to_string().contains("only H.264"), "{error}");
    let vp9 = fixture("vp9.mkv", "320x240", 30, 0.2, &["-c:v", "libvpx-vp9"]);
    assert_eq!(
        Demuxer::open(vp9).unwrap_err(),
        FileError::Codec("VP9".into())
    );

    let fragmented = fixture(
        "fragmented.mp4",
        "320x240",
        30,
        0.2,
        &[
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "frag_keyframe+empty_moov",
        ],
    );
    let error = Demuxer::open(fragmented).unwrap_err();
    assert!(error.to_string().contains("fragmented"), "{error}");

    // H.264 that openh264 cannot decode opens as a demuxer but not as a source.
    let interlaced = fixture(
        "interlaced.mp4",
        "320x240",
        30,
        0.2,
        &[
            "-c:v",
            "libx264",
            "-flags",
            "+ildct+ilme",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    assert!(!Demuxer::open(&interlaced).unwrap().info().progressive);
    let error = FileSource::open(&interlaced, Options::default()).unwrap_err();
    assert!(error.to_string().contains("interlaced"), "{error}");
    let deep = fixture(
        "10bit.mp4",
        "320x240",
        30,
        0.2,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
    );
    let error = FileSource::open(deep, Options::default()).unwrap_err();
    assert!(matches!(error, FileError::Unsupported(_)), "{error}");
    let huge = fixture(
        "huge.mp4",
        "4096x2176",
        1,
        1.0,
        &[
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "ultrafast",
        ],
    );
    let error = FileSource::open(huge, Options::default()).unwrap_err();
    assert_eq!(
        error,
        FileError::Size {
            width: 4096,
            height: 2176
        }
    );
}

#[test]
fn damaged_bytes_never_panic() {
    for original in [baseline("mp4"), baseline("mkv"), b_frames("mp4")] {
        let bytes = std::fs::read(original).unwrap();
        // Cut at many lengths, and with bytes overwritten all over the file.
        let mut inputs: Vec<Vec<u8>> = (1..64)
            .map(|n| bytes[..bytes.len() * n / 64].to_vec())
            .collect();
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..64 {
            let mut damaged = bytes.clone();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % damaged.len();
                damaged[at] = (seed >> 24) as u8;
            }
            inputs.push(damaged);
        }
        for input in inputs {
            let Ok(mut demuxer) = Demuxer::from_bytes(input) else {
                continue;
            };
            let mut decoder = Decoder::reordering().unwrap();
            while let Ok(Some(sample)) = demuxer.read() {
                let _ = decoder.decode(&sample.data);
            }
        }
    }
}
