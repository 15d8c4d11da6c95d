//! Co-hosting across channels from a game: a host's `StartRelay` reaches the server, and each
//! destination's state comes back as a `RelayState` message on its channel entity; another
//! channel then sees the host as one of its hosts; `PauseRelay` and `StopRelay` follow; a host
//! without the `relay` grant is refused. Forwarding media through a relay is tested end to end
//! in tests/relay.rs and tests/relay_cli.rs.
#![allow(clippy::unwrap_used)]

mod common;

use bevy::prelude::*;
use bevy_livestage::prelude::*;
use bevy_livestage::relay_request::{Destination, State, Target};
use common::*;

fn into(app: &App, channel: &str, user: &str) -> Destination {
    Destination {
        target: Target {
            channel: channel.into(),
            server: None,
        },
        token: token(app, channel, user, grants::HOST),
    }
}

fn last_state(world: &World) -> Option<State> {
    seen::<RelayState>(world).last().map(|s| s.state.clone())
}

#[test]
fn a_host_relays_into_another_channel_and_hears_back() {
    let mut app = app();
    collect::<RelayState>(&mut app);
    collect::<LivestageError>(&mut app);
    let star = join(&mut app, "home", "star", grants::RELAYING_HOST, Role::Host);
    let plain = join(&mut app, "other", "plain", grants::HOST, Role::Host);
    let away = join(&mut app, "away", "fan", grants::AUDIENCE, Role::Audience);
    update_until(&mut app, "all joined", |w| {
        [star, plain, away]
            .iter()
            .all(|&c| w.get::<Connected>(c).is_some())
    });
    let destinations = vec![into(&app, "away", "star")];
    app.world_mut().trigger(StartRelay {
        entity: star,
        destinations,
    });
    let destinations = vec![into(&app, "away", "plain")];
    app.world_mut().trigger(StartRelay {
        entity: plain,
        destinations,
    });
    update_until(&mut app, "running, and the refusal", |w| {
        last_state(w) == Some(State::Running) && !seen::<LivestageError>(w).is_empty()
    });
    let state = &seen::<RelayState>(app.world())[0];
    assert_eq!((state.channel, state.to.channel.as_str()), (star, "away"));
    let refused = &seen::<LivestageError>(app.world())[0];
    assert_eq!(
        (refused.entity, refused.error.code),
        (plain, ErrorCode::NotPermitted)
    );
    update_until(&mut app, "the relayed star is a host of away", |w| {
        participant(w, away, "star").is_some_and(|p| w.get::<Host>(p).is_some())
    });

    app.world_mut().trigger(PauseRelay {
        entity: star,
        paused: true,
    });
    update_until(&mut app, "paused", |w| last_state(w) == Some(State::Paused));
    app.world_mut().trigger(StopRelay { entity: star });
    update_until(&mut app, "stopped", |w| {
        last_state(w) == Some(State::Stopped)
    });
    update_until(&mut app, "the relayed star left away", |w| {
        participant(w, away, "star").is_none()
    });
}
