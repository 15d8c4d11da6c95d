// One engine event: its type, channel and fields, parsed from the JSON the C ABI hands out.
// The shapes are listed in ffi/unity/README.md.

using System;
using System.Collections.Generic;
using System.Globalization;

namespace Livestage.Native
{
    /// <summary>A participant as events describe it.</summary>
    public sealed class Participant
    {
        public string User;
        public Role Role;
        public bool Moderator;
        public bool AudioMuted;
        public bool VideoMuted;
        /// <summary>An audience member asked to go on stage (always false for a host).</summary>
        public bool HandRaised;
        public ulong MediaId;
        /// <summary>What the participant publishes: camera, microphone, screen share, custom videos.</summary>
        public List<Track> Tracks = new List<Track>();

        /// <summary>The track with this id, or null.</summary>
        public Track GetTrack(byte id)
        {
            return Tracks.Find(t => t.Id == id);
        }

        internal static Participant From(object value)
        {
            var fields = value as Dictionary<string, object>;
            if (fields == null)
            {
                return null;
            }
            return new Participant
            {
                User = LivestageEvent.AsString(fields, "user"),
                Role = LivestageEvent.AsString(fields, "role") == "host" ? Role.Host : Role.Audience,
                Moderator = LivestageEvent.AsBool(fields, "moderator"),
                AudioMuted = LivestageEvent.AsBool(fields, "audio_muted"),
                VideoMuted = LivestageEvent.AsBool(fields, "video_muted"),
                HandRaised = LivestageEvent.AsBool(fields, "hand_raised"),
                MediaId = LivestageEvent.AsULong(fields, "media_id"),
                Tracks = Track.ListFrom(fields.ContainsKey("tracks") ? fields["tracks"] : null),
            };
        }
    }

    /// <summary>The path to the server as a "link" event reports it, once a second while
    /// connected.</summary>
    public sealed class LinkStats
    {
        /// <summary>Smoothed round-trip time, milliseconds.</summary>
        public uint RttMs;
        /// <summary>Share of this client's packets the server did not acknowledge, percent.</summary>
        public byte UplinkLossPercent;
        /// <summary>Share of the server's packets that did not reach this client, percent, as the
        /// server measures it.</summary>
        public byte DownlinkLossPercent;
        /// <summary>What the congestion controller lets this client send now, kbit/s.</summary>
        public uint BandwidthKbps;
        /// <summary>Extra copies of each voice packet sent because of the loss.</summary>
        public byte VoiceCopies;
        /// <summary>The path's grade: excellent, good, poor, bad, very_bad or down.</summary>
        public string Quality;

        public override string ToString()
        {
            return Quality + " (RTT " + RttMs + " ms, uplink loss " + UplinkLossPercent +
                "%, downlink loss " + DownlinkLossPercent + "%)";
        }
    }

    /// <summary>A host's path to the server as a "peer_links" event reports it: its round
    /// trip and downlink loss measured by the server, its uplink loss as it reported, and its
    /// uplink graded.</summary>
    public sealed class PeerLink
    {
        public string User;
        public uint RttMs;
        public byte UplinkLossPercent;
        public byte DownlinkLossPercent;
        /// <summary>Its uplink's grade: excellent, good, poor, bad or very_bad.</summary>
        public string Quality;
    }

    /// <summary>An error carried by an event: a stable snake_case code and a message.</summary>
    public sealed class EventError
    {
        public string Code;
        public string Message;

        public override string ToString()
        {
            return Code + ": " + Message;
        }
    }

    /// <summary>Something that happened in a channel.</summary>
    public sealed class LivestageEvent
    {
        /// <summary>state, joined, peer_joined, peer_left, role_changed, roster, participant,
        /// participant_gone, audience, mute_changed, hand_changed, hearing_changed, data, refused, token_expiring, token_renewed,
        /// layer_changed, speaking, track_published, track_unpublished, track_ended, error,
        /// music_state, effect_finished, audio_hook_removed or video_hook_removed; ignore types you
        /// do not know.</summary>
        public readonly string Type;
        /// <summary>The channel it happened in; null for this engine's own audio (music_state,
        /// effect_finished, audio_hook_removed) and for a video_hook_removed of no one track.</summary>
        public readonly string Channel;
        /// <summary>The event as the engine wrote it.</summary>
        public readonly string Json;
        /// <summary>Every field, parsed.</summary>
        public readonly Dictionary<string, object> Fields;

        public LivestageEvent(string json)
        {
            Json = json;
            Fields = Native.Json.Parse(json) as Dictionary<string, object>;
            if (Fields == null)
            {
                throw new FormatException("an event is a JSON object: " + json);
            }
            Type = AsString(Fields, "type");
            Channel = AsString(Fields, "channel");
        }

        /// <summary>A string field, or null.</summary>
        public string GetString(string key)
        {
            return AsString(Fields, key);
        }

        /// <summary>An integer field, or 0.</summary>
        public ulong GetULong(string key)
        {
            return AsULong(Fields, key);
        }

        /// <summary>A boolean field, or false.</summary>
        public bool GetBool(string key)
        {
            return AsBool(Fields, key);
        }

        /// <summary>A participant field (me, participant), or null.</summary>
        public Participant GetParticipant(string key)
        {
            object value;
            return Fields.TryGetValue(key, out value) ? Participant.From(value) : null;
        }

        /// <summary>The track of a track_published event, or null (track_unpublished and
        /// track_ended carry only its id: GetULong("track")).</summary>
        public Track GetTrack(string key)
        {
            object value;
            return Fields.TryGetValue(key, out value) ? Track.From(value) : null;
        }

        /// <summary>A list of participants (peers, participants); empty when absent.</summary>
        public List<Participant> GetParticipants(string key)
        {
            var result = new List<Participant>();
            object value;
            if (Fields.TryGetValue(key, out value) && value is List<object>)
            {
                foreach (object item in (List<object>)value)
                {
                    Participant p = Participant.From(item);
                    if (p != null)
                    {
                        result.Add(p);
                    }
                }
            }
            return result;
        }

        /// <summary>The error of a state, refused, error, track_ended or failed music_state
        /// event, or null.</summary>
        public EventError Error
        {
            get
            {
                object value;
                var fields = Fields.TryGetValue("error", out value) ? value as Dictionary<string, object> : null;
                if (fields == null)
                {
                    return null;
                }
                return new EventError { Code = AsString(fields, "code"), Message = AsString(fields, "message") };
            }
        }

        /// <summary>The figures of a link event, or null for other events.</summary>
        public LinkStats Link
        {
            get
            {
                if (Type != "link")
                {
                    return null;
                }
                return new LinkStats
                {
                    RttMs = (uint)GetULong("rtt_ms"),
                    UplinkLossPercent = (byte)GetULong("uplink_loss_percent"),
                    BandwidthKbps = (uint)GetULong("bandwidth_kbps"),
                    VoiceCopies = (byte)GetULong("voice_copies"),
                    DownlinkLossPercent = (byte)GetULong("downlink_loss_percent"),
                    Quality = GetString("quality"),
                };
            }
        }

        /// <summary>The hosts' paths of a peer_links event; empty for other events.</summary>
        public List<PeerLink> PeerLinks
        {
            get
            {
                var result = new List<PeerLink>();
                object value;
                if (Type != "peer_links" || !Fields.TryGetValue("links", out value) || !(value is List<object>))
                {
                    return result;
                }
                foreach (object item in (List<object>)value)
                {
                    var fields = item as Dictionary<string, object>;
                    if (fields == null)
                    {
                        continue;
                    }
                    result.Add(new PeerLink
                    {
                        User = AsString(fields, "user"),
                        RttMs = (uint)AsULong(fields, "rtt_ms"),
                        UplinkLossPercent = (byte)AsULong(fields, "uplink_loss_percent"),
                        DownlinkLossPercent = (byte)AsULong(fields, "downlink_loss_percent"),
                        Quality = AsString(fields, "quality"),
                    });
                }
                return result;
            }
        }

        /// <summary>The bytes of a data event.</summary>
        public byte[] Payload
        {
            get
            {
                string text = GetString("payload");
                return text == null ? new byte[0] : Convert.FromBase64String(text);
            }
        }

        internal static string AsString(Dictionary<string, object> fields, string key)
        {
            object value;
            return fields.TryGetValue(key, out value) ? value as string : null;
        }

        internal static bool AsBool(Dictionary<string, object> fields, string key)
        {
            object value;
            return fields.TryGetValue(key, out value) && value is bool && (bool)value;
        }

        internal static long AsLong(Dictionary<string, object> fields, string key)
        {
            object value;
            if (!fields.TryGetValue(key, out value) || value == null)
            {
                return 0;
            }
            return Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }

        internal static ulong AsULong(Dictionary<string, object> fields, string key)
        {
            object value;
            if (!fields.TryGetValue(key, out value) || value == null)
            {
                return 0;
            }
            if (value is long)
            {
                return (ulong)(long)value;
            }
            return Convert.ToUInt64(value, CultureInfo.InvariantCulture);
        }
    }
}
