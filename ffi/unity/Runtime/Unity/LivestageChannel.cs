// A live channel as a component: owns the Engine, joins on enable, polls events every frame,
// keeps the participants this client sees (with their tracks, from the library's roster) and
// one Texture2D per video track of each (camera, screen share, custom videos), written only
// when a newer picture arrived. It can share this machine's screen beside the camera, and
// tells what becomes of the engine's music, effects and audio hooks (Engine.StartMusic,
// PlayEffect, SetVoicePreset, SetAudioHook).

using System;
using System.Collections.Generic;
using Livestage.Native;
using UnityEngine;

namespace Livestage.Unity
{
    [DisallowMultipleComponent]
    [AddComponentMenu("Livestage/Livestage Channel")]
    public sealed class LivestageChannel : MonoBehaviour
    {
        [Tooltip("The server's UDP address, host:port.")]
        public string server = "127.0.0.1:4443";

        [Tooltip("The server certificate (a PEM file imported as a TextAsset) to trust.")]
        public TextAsset certificate;

        [Tooltip("Or the certificate's SHA-256 fingerprint, sha256:..., when no certificate is set.")]
        public string fingerprint;

        [Tooltip("The access token; the channel it names is joined.")]
        [TextArea]
        public string token;

        [Tooltip("Join on stage (the token must grant publishing).")]
        public bool joinAsHost;

        readonly Dictionary<string, Texture2D> textures = new Dictionary<string, Texture2D>();
        readonly Dictionary<string, Dictionary<byte, Texture2D>> trackTextures =
            new Dictionary<string, Dictionary<byte, Texture2D>>();
        readonly Dictionary<string, Dictionary<byte, VideoFrame>> frames =
            new Dictionary<string, Dictionary<byte, VideoFrame>>();
        readonly Dictionary<string, Participant> participants = new Dictionary<string, Participant>();
        readonly List<Participant> order = new List<Participant>();
        readonly Dictionary<string, PeerLink> peerLinks = new Dictionary<string, PeerLink>();

        /// <summary>The engine; null before Awake and after OnDestroy.</summary>
        public Engine Engine { get; private set; }

        /// <summary>The channel's name once Join was called.</summary>
        public string Channel { get; private set; }

        /// <summary>This client's user id once joined.</summary>
        public string Me { get; private set; }

        /// <summary>True between the joined event and the end of the session.</summary>
        public bool IsJoined { get; private set; }

        /// <summary>The connection state: connecting, connected, reconnecting (nothing heard
        /// from the server for 4 s, or resuming on a new connection) or disconnected.</summary>
        public string State { get; private set; }

        /// <summary>The path to the server, updated each second while connected; null before
        /// the first report.</summary>
        public LinkStats Link { get; private set; }

        /// <summary>The hosts' paths to the server by user id, updated each second.</summary>
        public IDictionary<string, PeerLink> PeerLinks
        {
            get { return peerLinks; }
        }

        /// <summary>One texture per remote participant that showed camera video, by user id.</summary>
        public IDictionary<string, Texture2D> Textures
        {
            get { return textures; }
        }

        /// <summary>The remote participants this client sees, by user id, each with its Tracks.</summary>
        public IDictionary<string, Participant> Participants
        {
            get { return participants; }
        }

        /// <summary>The texture of one of a participant's video tracks (Track.Camera, Track.Screen,
        /// or an id from its Tracks), or null before its first picture.</summary>
        public Texture2D GetTexture(string user, byte track)
        {
            Dictionary<byte, Texture2D> byTrack;
            Texture2D texture;
            return trackTextures.TryGetValue(user, out byTrack) && byTrack.TryGetValue(track, out texture)
                ? texture
                : null;
        }

        /// <summary>True while this client shares its screen in the channel.</summary>
        public bool IsSharingScreen { get; private set; }

        /// <summary>Every event, after the component has applied it.</summary>
        public event Action<LivestageEvent> EventReceived;

        /// <summary>A participant's camera texture was created or replaced (its size changed).</summary>
        public event Action<string, Texture2D> TextureChanged;

        /// <summary>A participant's camera texture was destroyed (it left or stopped its camera).</summary>
        public event Action<string> TextureRemoved;

        /// <summary>The texture of a participant's video track was created or replaced: user,
        /// track, texture. Called for every video track, the camera included.</summary>
        public event Action<string, Track, Texture2D> TrackTextureChanged;

        /// <summary>The texture of a participant's video track was destroyed: user, track id.</summary>
        public event Action<string, byte> TrackTextureRemoved;

        /// <summary>This client's screen share ended by itself (the window closed): the error.</summary>
        public event Action<EventError> ScreenShareEnded;

        /// <summary>A data message: sender and payload.</summary>
        public event Action<string, byte[]> DataReceived;

        /// <summary>The engine's music changed state: playing, paused, stopped, completed or
        /// failed (with the error, else null).</summary>
        public event Action<string, EventError> MusicStateChanged;

        /// <summary>A sound effect finished its last loop: its id.</summary>
        public event Action<uint> EffectFinished;

        /// <summary>An audio hook was removed by the engine (too slow, or it threw): the point
        /// and why. It is not called again.</summary>
        public event Action<HookPoint, string> AudioHookRemoved;

        /// <summary>A video hook or renderer was removed by the engine (too slow, or it threw):
        /// which one and why. It is not called again.</summary>
        public event Action<VideoHookRemoval> VideoHookRemoved;

        void Awake()
        {
            int channels = AudioSettings.speakerMode == AudioSpeakerMode.Mono ? 1 : 2;
            Engine = new Engine(AudioSettings.outputSampleRate, channels);
        }

        void OnEnable()
        {
            if (Engine != null && !string.IsNullOrEmpty(token))
            {
                Join();
            }
        }

        /// <summary>Joins with the fields' settings (done on enable when a token is set).</summary>
        public void Join()
        {
            string trust = certificate != null ? certificate.text : fingerprint;
            Channel = Engine.Join(server, trust, token, null, joinAsHost ? Role.Host : Role.Audience);
        }

        void Update()
        {
            if (Engine == null)
            {
                return;
            }
            LivestageEvent ev;
            while (Engine.TryPollEvent(out ev))
            {
                Apply(ev);
                if (EventReceived != null)
                {
                    EventReceived(ev);
                }
            }
            if (!IsJoined)
            {
                return;
            }
            for (int i = 0; i < order.Count; i++)
            {
                Participant p = order[i];
                for (int t = 0; t < p.Tracks.Count; t++)
                {
                    if (p.Tracks[t].IsVideo)
                    {
                        Upload(p.User, p.Tracks[t]);
                    }
                }
            }
        }

        /// <summary>Shares a display (id from Engine.Screens(), uint.MaxValue for the first) or a
        /// window as the screen track, beside the camera; the token must grant publishing video
        /// and the client must be a host. Throws LivestageException (LIVESTAGE_ERR_UNAVAILABLE
        /// where screen capture is not possible).</summary>
        public void ShareScreen(ScreenTarget target = ScreenTarget.Display, uint id = uint.MaxValue, float fps = 15)
        {
            Engine.ShareScreen(Channel, target, id, 0, 0, 0, 0, fps);
            IsSharingScreen = true;
        }

        /// <summary>Stops sharing the screen, if it is shared.</summary>
        public void StopScreenShare()
        {
            if (!IsSharingScreen)
            {
                return;
            }
            IsSharingScreen = false;
            try
            {
                Engine.StopScreenShare(Channel);
            }
            catch (LivestageException e)
            {
                if (e.Code != Interop.LIVESTAGE_ERR_NOT_PUBLISHING && e.Code != Interop.LIVESTAGE_ERR_NOT_JOINED)
                {
                    throw;
                }
            }
        }

        void Apply(LivestageEvent ev)
        {
            // The engine's own audio belongs to no channel.
            switch (ev.Type)
            {
                case "music_state":
                    if (ev.Error != null)
                    {
                        Debug.LogWarning("Livestage: music " + ev.Error);
                    }
                    if (MusicStateChanged != null)
                    {
                        MusicStateChanged(ev.GetString("state"), ev.Error);
                    }
                    return;
                case "effect_finished":
                    if (EffectFinished != null)
                    {
                        EffectFinished((uint)ev.GetULong("id"));
                    }
                    return;
                case "audio_hook_removed":
                    Debug.LogWarning("Livestage: audio hook removed: " + ev.GetString("reason"));
                    foreach (HookPoint point in Enum.GetValues(typeof(HookPoint)))
                    {
                        if (Engine.PointName(point) == ev.GetString("point") && AudioHookRemoved != null)
                        {
                            AudioHookRemoved(point, ev.GetString("reason"));
                        }
                    }
                    return;
                case "video_hook_removed":
                    VideoHookRemoval removal = VideoHookRemoval.From(ev);
                    Debug.LogWarning("Livestage: video " + (removal.Renderer ? "renderer" : "hook") + " removed: " +
                        removal.Reason);
                    if (VideoHookRemoved != null)
                    {
                        VideoHookRemoved(removal);
                    }
                    return;
            }
            if (ev.Channel != Channel)
            {
                return;
            }
            switch (ev.Type)
            {
                case "joined":
                    IsJoined = true;
                    Me = ev.GetParticipant("me").User;
                    Replace(ev.GetParticipants("peers"));
                    break;
                // The client session's roster, kept by the library: who this client sees and
                // what they publish (a published or unpublished track comes as a participant).
                case "participant":
                    Add(ev.GetParticipant("participant"));
                    break;
                case "participant_gone":
                    Remove(ev.GetString("user"));
                    break;
                case "roster":
                    Replace(ev.GetParticipants("participants"));
                    break;
                case "track_ended":
                    if (ev.GetULong("track") == Track.Screen)
                    {
                        IsSharingScreen = false;
                        if (ScreenShareEnded != null)
                        {
                            ScreenShareEnded(ev.Error);
                        }
                    }
                    break;
                case "data":
                    if (DataReceived != null)
                    {
                        DataReceived(ev.GetString("from"), ev.Payload);
                    }
                    break;
                case "link":
                    Link = ev.Link;
                    break;
                case "peer_links":
                    peerLinks.Clear();
                    foreach (PeerLink peer in ev.PeerLinks)
                    {
                        peerLinks[peer.User] = peer;
                    }
                    break;
                case "state":
                    State = ev.GetString("state");
                    if (State == "disconnected")
                    {
                        IsJoined = false;
                        if (ev.Error != null)
                        {
                            Debug.LogWarning("Livestage: " + Channel + " ended: " + ev.Error);
                        }
                    }
                    break;
                case "refused":
                case "error":
                    Debug.LogWarning("Livestage: " + ev.Error);
                    break;
            }
        }

        void Replace(List<Participant> all)
        {
            var seen = new HashSet<string>();
            foreach (Participant p in all)
            {
                seen.Add(p.User);
                Add(p);
            }
            foreach (string user in new List<string>(participants.Keys))
            {
                if (!seen.Contains(user))
                {
                    Remove(user);
                }
            }
        }

        void Add(Participant p)
        {
            if (p == null || p.User == Me)
            {
                return;
            }
            Participant old;
            if (participants.TryGetValue(p.User, out old))
            {
                order[order.IndexOf(old)] = p;
                // Textures of the video tracks it no longer publishes go.
                foreach (Track track in old.Tracks)
                {
                    Track now = p.GetTrack(track.Id);
                    if (track.IsVideo && (now == null || !now.IsVideo))
                    {
                        RemoveTexture(p.User, track.Id);
                    }
                }
            }
            else
            {
                order.Add(p);
            }
            participants[p.User] = p;
        }

        void Remove(string user)
        {
            Participant p;
            if (user == null || !participants.TryGetValue(user, out p))
            {
                return;
            }
            participants.Remove(user);
            order.Remove(p);
            Dictionary<byte, Texture2D> byTrack;
            if (trackTextures.TryGetValue(user, out byTrack))
            {
                foreach (byte track in new List<byte>(byTrack.Keys))
                {
                    RemoveTexture(user, track);
                }
            }
            frames.Remove(user);
            trackTextures.Remove(user);
        }

        void RemoveTexture(string user, byte track)
        {
            Dictionary<byte, VideoFrame> userFrames;
            if (frames.TryGetValue(user, out userFrames))
            {
                userFrames.Remove(track);
            }
            Dictionary<byte, Texture2D> byTrack;
            Texture2D texture;
            if (!trackTextures.TryGetValue(user, out byTrack) || !byTrack.TryGetValue(track, out texture))
            {
                return;
            }
            byTrack.Remove(track);
            Destroy(texture);
            if (TrackTextureRemoved != null)
            {
                TrackTextureRemoved(user, track);
            }
            if (track == Track.Camera)
            {
                textures.Remove(user);
                if (TextureRemoved != null)
                {
                    TextureRemoved(user);
                }
            }
        }

        /// <summary>Writes a video track's newest picture into its texture, if there is a newer one.</summary>
        void Upload(string user, Track track)
        {
            Dictionary<byte, VideoFrame> userFrames;
            if (!frames.TryGetValue(user, out userFrames))
            {
                userFrames = new Dictionary<byte, VideoFrame>();
                frames[user] = userFrames;
            }
            VideoFrame frame;
            if (!userFrames.TryGetValue(track.Id, out frame))
            {
                frame = new VideoFrame();
                userFrames[track.Id] = frame;
            }
            try
            {
                // Bottom row first, as LoadRawTextureData expects.
                if (!Engine.TryGetFrame(Channel, user, track.Id, frame, true))
                {
                    return;
                }
            }
            catch (LivestageException e)
            {
                if (e.Code == Interop.LIVESTAGE_ERR_NOT_FOUND)
                {
                    return; // It left; the participant_gone event follows.
                }
                throw;
            }
            Dictionary<byte, Texture2D> byTrack;
            if (!trackTextures.TryGetValue(user, out byTrack))
            {
                byTrack = new Dictionary<byte, Texture2D>();
                trackTextures[user] = byTrack;
            }
            Texture2D texture;
            if (!byTrack.TryGetValue(track.Id, out texture) || texture.width != frame.Width ||
                texture.height != frame.Height)
            {
                if (texture != null)
                {
                    Destroy(texture);
                }
                texture = new Texture2D(frame.Width, frame.Height, TextureFormat.RGBA32, false);
                texture.name = "Livestage " + user + " " + track;
                byTrack[track.Id] = texture;
                if (TrackTextureChanged != null)
                {
                    TrackTextureChanged(user, track, texture);
                }
                if (track.Id == Track.Camera)
                {
                    textures[user] = texture;
                    if (TextureChanged != null)
                    {
                        TextureChanged(user, texture);
                    }
                }
            }
            texture.LoadRawTextureData(frame.Pixels);
            texture.Apply(false);
        }

        void OnDisable()
        {
            if (Engine != null && Channel != null)
            {
                try
                {
                    Engine.Leave(Channel);
                }
                catch (LivestageException)
                {
                    // Already over (kicked, refused): nothing to leave.
                }
            }
            IsJoined = false;
            IsSharingScreen = false;
            foreach (string user in new List<string>(participants.Keys))
            {
                Remove(user);
            }
        }

        void OnDestroy()
        {
            if (Engine != null)
            {
                Engine.Dispose();
                Engine = null;
            }
        }
    }
}
