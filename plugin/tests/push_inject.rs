//! CDN pushes and injects from a game: a moderator's `Push` and `Inject` requests reach the
//! server and their states come back as `PushState` / `InjectState` messages on the channel
//! entity; a host without the grants is refused. The embedded server allows no RTMP URL and no
//! file (its allow-lists are empty), so the states here are the server's refusals; pushing and
//! injecting for real are tested end to end in tests/cdn_push.rs and tests/inject.rs.
#![allow(clippy::unwrap_used)]

mod common;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use bevy_livestage::{Inject, InjectState, Push, PushState, inject_request, push_request};
use common::*;

const URL: &str = "rtmp://cdn.example.com/live/key";

fn start_push(entity: Entity) -> Push {
    Push {
        entity,
        request: push_request::Request::Start {
            name: "main".into(),
            urls: vec![URL.into()],
            layout: push_request::Layout::default(),
        },
    }
}

fn start_inject(entity: Entity) -> Inject {
    Inject {
        entity,
        request: inject_request::Request::Start {
            name: "film".into(),
            source: "/etc/hostname".into(),
            options: inject_request::Options::default(),
        },
    }
}

#[test]
fn a_moderator_hears_back_from_its_push_and_inject_and_a_host_is_refused() {
    let mut app = app();
    collect::<PushState>(&mut app);
    collect::<InjectState>(&mut app);
    collect::<LivestageError>(&mut app);
    let boss = join(&mut app, "show", "boss", grants::MODERATOR, Role::Host);
    let host = join(&mut app, "show", "host", grants::HOST, Role::Host);
    update_until(&mut app, "both joined", |w| {
        w.get::<Connected>(boss).is_some() && w.get::<Connected>(host).is_some()
    });
    app.world_mut().trigger(start_push(boss));
    app.world_mut().trigger(start_inject(boss));
    app.world_mut().trigger(start_push(host));
    app.world_mut().trigger(start_inject(host));
    update_until(&mut app, "both states and both refusals", |w| {
        !seen::<PushState>(w).is_empty()
            && !seen::<InjectState>(w).is_empty()
            && seen::<LivestageError>(w).len() >= 2
    });
    let push = &seen::<PushState>(app.world())[0];
    assert_eq!(
        (push.channel, push.name.as_str(), push.url.as_str()),
        (boss, "main", URL)
    );
    assert!(
        matches!(
            push.state,
            push_request::UrlState::Failed {
                reason: push_request::FailReason::NotAllowed,
                ..
            }
        ),
        "{:?}",
        push.state
    );
    let inject = &seen::<InjectState>(app.world())[0];
    assert_eq!((inject.channel, inject.name.as_str()), (boss, "film"));
    assert!(
        matches!(
            inject.state,
            push_request::UrlState::Failed {
                reason: push_request::FailReason::NotAllowed,
                ..
            }
        ),
        "{:?}",
        inject.state
    );
    let refused: Vec<_> = seen::<LivestageError>(app.world())
        .iter()
        .filter(|e| e.entity == host)
        .map(|e| e.error.code)
        .collect();
    assert_eq!(refused, [ErrorCode::NotPermitted; 2]);
    // The host, a plain host, heard nothing of the moderator's push or inject.
    assert!(
        seen::<PushState>(app.world())
            .iter()
            .all(|s| s.channel == boss)
    );
    assert!(
        seen::<InjectState>(app.world())
            .iter()
            .all(|s| s.channel == boss)
    );
}
