//! Raw video hooks: what a hook may do to a frame, and what happens when it misbehaves.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use livestage_media::video::hooks::{
    self, FAILURES, Failure, Format, FrameMut, Info, Runner, Verdict,
};
use livestage_media::video::{I420, Rgba, TestPattern, convert};

const BUDGET: Duration = Duration::from_millis(40);

fn frame() -> I420 {
    TestPattern::new(320, 180).unwrap().frame(3, 1_000)
}

#[test]
fn an_i420_hook_rewrites_the_frame_in_place() {
    let hook = hooks::hook_fn(Format::I420, |frame, _| {
        let FrameMut::I420(i420) = frame else {
            panic!("asked for I420");
        };
        i420.planes_mut().0.fill(200);
        Verdict::Keep
    });
    let mut runner = Runner::new(Box::new(hook), BUDGET);
    let mut f = frame();
    let (u, v) = (f.u().to_vec(), f.v().to_vec());
    assert_eq!(runner.run(&mut f, &Info::local(0)), Ok(Verdict::Keep));
    assert!(f.y().iter().all(|&y| y == 200));
    assert_eq!((f.u(), f.v()), (&u[..], &v[..]), "chroma untouched");
}

#[test]
fn an_rgba_hook_inverts_colours() {
    let hook = hooks::hook_fn(Format::Rgba, |frame, _| {
        if let FrameMut::Rgba(rgba) = frame {
            for px in rgba.data_mut().chunks_exact_mut(4) {
                px[..3].iter_mut().for_each(|c| *c = 255 - *c);
            }
        }
        Verdict::Keep
    });
    let mut runner = Runner::new(Box::new(hook), BUDGET);
    let original = frame();
    let mut f = original.clone();
    runner.run(&mut f, &Info::local(0)).unwrap();
    let (before, after) = (convert::i420_to_rgba(&original), convert::i420_to_rgba(&f));
    // Each channel is near 255 minus the original (two conversions round a little).
    let worst = before
        .data()
        .chunks_exact(4)
        .zip(after.data().chunks_exact(4))
        .flat_map(|(b, a)| (0..3).map(move |c| (i32::from(b[c]) + i32::from(a[c]) - 255).abs()))
        .max()
        .unwrap();
    assert!(worst <= 12, "inverted within rounding: worst {worst}");
}

#[test]
fn a_hook_can_drop_a_frame_and_the_frame_stays_as_it_came() {
    let hook = hooks::hook_fn(Format::I420, |frame, info| {
        if let FrameMut::I420(i420) = frame {
            i420.planes_mut().0.fill(0);
        }
        if info.frame % 2 == 0 {
            Verdict::Drop
        } else {
            Verdict::Keep
        }
    });
    let mut runner = Runner::new(Box::new(hook), BUDGET);
    let mut f = frame();
    let original = f.clone();
    assert_eq!(runner.run(&mut f, &Info::local(2)), Ok(Verdict::Drop));
    assert_eq!(f, original, "a dropped frame is not rewritten");
    assert_eq!(runner.run(&mut f, &Info::local(3)), Ok(Verdict::Keep));
    assert_ne!(f, original);
}

#[test]
fn a_hook_that_panics_is_removed_and_the_frame_is_untouched() {
    let hook = hooks::hook_fn(Format::I420, |frame, _| {
        if let FrameMut::I420(i420) = frame {
            i420.planes_mut().0.fill(0);
        }
        panic!("filter crashed");
    });
    let mut runner = Runner::new(Box::new(hook), BUDGET);
    let mut f = frame();
    let original = f.clone();
    let failed = runner.run(&mut f, &Info::local(0));
    assert_eq!(failed, Err(Failure::Panicked("filter crashed".into())));
    assert_eq!(f, original);
}

#[test]
fn a_hook_that_resizes_leaves_frames_unmodified_then_is_removed() {
    let hook = hooks::hook_fn(Format::Rgba, |frame, _| {
        if let FrameMut::Rgba(rgba) = frame {
            *rgba = Rgba::new(64, 64).unwrap();
        }
        Verdict::Keep
    });
    let mut runner = Runner::new(Box::new(hook), BUDGET);
    let mut f = frame();
    let original = f.clone();
    for n in 1..FAILURES {
        assert_eq!(
            runner.run(&mut f, &Info::local(u64::from(n))),
            Ok(Verdict::Keep)
        );
        assert_eq!(f, original, "frame {n} sent as it came");
    }
    let removed = runner.run(&mut f, &Info::local(99));
    assert!(
        matches!(removed, Err(Failure::Resized { new_width: 64, .. })),
        "{removed:?}"
    );
    assert_eq!(f, original);
}

#[test]
fn a_hook_over_its_budget_leaves_the_frame_and_recovers_when_fast_again() {
    let hook = hooks::hook_fn(Format::I420, |frame, info| {
        if let FrameMut::I420(i420) = frame {
            i420.planes_mut().0.fill(99);
        }
        if info.frame < 2 {
            std::thread::sleep(Duration::from_millis(15));
        }
        Verdict::Keep
    });
    let mut runner = Runner::new(Box::new(hook), Duration::from_millis(5));
    let mut f = frame();
    let original = f.clone();
    for n in 0..2 {
        assert_eq!(runner.run(&mut f, &Info::local(n)), Ok(Verdict::Keep));
        assert_eq!(f, original, "a late result is not used");
    }
    // Fast again: the count of failures in a row starts over, the result is used.
    assert_eq!(runner.run(&mut f, &Info::local(2)), Ok(Verdict::Keep));
    assert!(f.y().iter().all(|&y| y == 99));
}
