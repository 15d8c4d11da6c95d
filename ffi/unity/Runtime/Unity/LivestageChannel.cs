// A live channel as a component: owns the Engine, joins on enable, polls events every frame
// and keeps one Texture2D per remote participant that shows video, written only when a newer
// picture arrived.

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
        readonly Dictionary<string, VideoFrame> frames = new Dictionary<string, VideoFrame>();
        readonly List<string> participants = new List<string>();

        /// <summary>The engine; null before Awake and after OnDestroy.</summary>
        public Engine Engine { get; private set; }

        /// <summary>The channel's name once Join was called.</summary>
        public string Channel { get; private set; }

        /// <summary>This client's user id once joined.</summary>
        public string Me { get; private set; }

        /// <summary>True between the joined event and the end of the session.</summary>
        public bool IsJoined { get; private set; }

        /// <summary>One texture per remote participant that showed video, by user id.</summary>
        public IDictionary<string, Texture2D> Textures
        {
            get { return textures; }
        }

        /// <summary>Every event, after the component has applied it.</summary>
        public event Action<LivestageEvent> EventReceived;

        /// <summary>A participant's texture was created or replaced (its size changed).</summary>
        public event Action<string, Texture2D> TextureChanged;

        /// <summary>A participant's texture was destroyed (it left).</summary>
        public event Action<string> TextureRemoved;

        /// <summary>A data message: sender and payload.</summary>
        public event Action<string, byte[]> DataReceived;

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
            for (int i = 0; i < participants.Count; i++)
            {
                Upload(participants[i]);
            }
        }

        void Apply(LivestageEvent ev)
        {
            if (ev.Channel != Channel)
            {
                return;
            }
            switch (ev.Type)
            {
                case "joined":
                    IsJoined = true;
                    Me = ev.GetParticipant("me").User;
                    participants.Clear();
                    foreach (Participant p in ev.GetParticipants("peers"))
                    {
                        Add(p.User);
                    }
                    break;
                // The client session's roster, kept by the library: who this client sees.
                case "participant":
                    Add(ev.GetParticipant("participant").User);
                    break;
                case "participant_gone":
                    Remove(ev.GetString("user"));
                    break;
                case "roster":
                    participants.Clear();
                    foreach (Participant p in ev.GetParticipants("participants"))
                    {
                        Add(p.User);
                    }
                    break;
                case "data":
                    if (DataReceived != null)
                    {
                        DataReceived(ev.GetString("from"), ev.Payload);
                    }
                    break;
                case "state":
                    if (ev.GetString("state") == "disconnected")
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

        void Add(string user)
        {
            if (user != Me && !participants.Contains(user))
            {
                participants.Add(user);
            }
        }

        void Remove(string user)
        {
            participants.Remove(user);
            frames.Remove(user);
            Texture2D texture;
            if (textures.TryGetValue(user, out texture))
            {
                textures.Remove(user);
                Destroy(texture);
                if (TextureRemoved != null)
                {
                    TextureRemoved(user);
                }
            }
        }

        /// <summary>Writes a participant's newest picture into its texture, if there is a newer one.</summary>
        void Upload(string user)
        {
            VideoFrame frame;
            if (!frames.TryGetValue(user, out frame))
            {
                frame = new VideoFrame();
                frames[user] = frame;
            }
            try
            {
                // Bottom row first, as LoadRawTextureData expects.
                if (!Engine.TryGetFrame(Channel, user, frame, true))
                {
                    return;
                }
            }
            catch (LivestageException e)
            {
                if (e.Code == Interop.LIVESTAGE_ERR_NOT_FOUND)
                {
                    return; // It left; the peer_left event follows.
                }
                throw;
            }
            Texture2D texture;
            if (!textures.TryGetValue(user, out texture) || texture.width != frame.Width ||
                texture.height != frame.Height)
            {
                if (texture != null)
                {
                    Destroy(texture);
                }
                texture = new Texture2D(frame.Width, frame.Height, TextureFormat.RGBA32, false);
                texture.name = "Livestage " + user;
                textures[user] = texture;
                if (TextureChanged != null)
                {
                    TextureChanged(user, texture);
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
            foreach (string user in new List<string>(textures.Keys))
            {
                Remove(user);
            }
            participants.Clear();
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
