//! Once a second, playout's per-publisher counters become [`MediaStats`], [`AudioLevel`] and
//! [`NetworkQuality`] on the remote participant entities. Part of
//! [`LivestageSystems::Receive`](crate::LivestageSystems).

use bevy::prelude::*;
use livestage_net::playout::Stats;
use livestage_proto::quality::Quality;

use crate::channel::{
    AudioLevel, LocalParticipant, MediaStats, NetworkQuality, Participant, ParticipantOf,
};
use crate::client::Livestage;
use crate::track::Tracks;
use crate::video::RemoteVideo;

/// Counters at the start of the current window.
#[derive(Component, Default)]
pub(crate) struct Baseline(Stats);

/// How often the statistics are refreshed.
#[derive(Resource)]
pub(crate) struct StatsTimer(pub Timer);

impl Default for StatsTimer {
    fn default() -> Self {
        Self(Timer::from_seconds(1.0, TimerMode::Repeating))
    }
}

pub(crate) fn refresh(
    mut commands: Commands,
    time: Res<Time>,
    mut timer: ResMut<StatsTimer>,
    client: Res<Livestage>,
    mut participants: Query<
        (
            Entity,
            &Participant,
            &ParticipantOf,
            &mut MediaStats,
            &mut AudioLevel,
            &mut NetworkQuality,
            Option<&Baseline>,
            Option<&Tracks>,
        ),
        Without<LocalParticipant>,
    >,
    videos: Query<&RemoteVideo>,
) {
    if !timer.0.tick(time.delta()).just_finished() {
        return;
    }
    let window = timer.0.duration().as_secs_f32();
    for (entity, participant, of, mut stats, mut level, mut quality, baseline, tracks) in
        &mut participants
    {
        let Some(now) = client
            .link_of(of.0)
            .and_then(|link| client.playout.participant_stats(link, participant.media_id))
        else {
            continue;
        };
        // The delay of its first video track on screen.
        let video = tracks
            .into_iter()
            .flat_map(|t| t.entities())
            .find_map(|&t| videos.get(t).ok());
        let before = baseline.map(|b| b.0).unwrap_or_default();
        let frames = now.video_frames.saturating_sub(before.video_frames);
        let played = now.audio_played.saturating_sub(before.audio_played);
        let recovered = now.audio_recovered.saturating_sub(before.audio_recovered);
        let concealed = now.audio_concealed.saturating_sub(before.audio_concealed);
        let voice = played + recovered + concealed;
        let audio_loss = (voice > 0).then(|| (recovered + concealed) as f32 / voice as f32);
        let video_delay = video
            .filter(|_| frames > 0)
            .map(|v| v.decoded_us.saturating_sub(v.capture_us) as f32 / 1000.0);
        stats.video_fps = frames as f32 / window;
        stats.video_kbps =
            now.video_bytes.saturating_sub(before.video_bytes) as f32 * 8.0 / 1000.0 / window;
        stats.video_delay_ms = video_delay.unwrap_or(0.0);
        stats.video_errors = now.video_errors;
        stats.audio_loss = audio_loss.unwrap_or(0.0);
        stats.audio_frames = now.audio_played + now.audio_recovered + now.audio_concealed;
        level.0 = if played > 0 { now.level_dbfs } else { -100.0 };
        *quality = NetworkQuality(Quality::of_media(audio_loss, video_delay));
        commands.entity(entity).insert(Baseline(now));
    }
}
