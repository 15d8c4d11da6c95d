// A published media track, as the participant JSON of events describes it: a user's camera,
// screen share, microphone, or a video the app publishes itself.

using System.Collections.Generic;

namespace Livestage.Native
{
    /// <summary>Audio or video.</summary>
    public enum TrackKind
    {
        Audio,
        Video,
    }

    /// <summary>Where a track's media comes from (the LIVESTAGE_SOURCE_* values).</summary>
    public enum TrackSource
    {
        Camera = Interop.LIVESTAGE_SOURCE_CAMERA,
        Screen = Interop.LIVESTAGE_SOURCE_SCREEN,
        Microphone = Interop.LIVESTAGE_SOURCE_MICROPHONE,
        Custom = Interop.LIVESTAGE_SOURCE_CUSTOM,
        Music = Interop.LIVESTAGE_SOURCE_MUSIC,
        Inject = Interop.LIVESTAGE_SOURCE_INJECT,
    }

    /// <summary>One track a participant publishes.</summary>
    public sealed class Track
    {
        /// <summary>The camera's default id (also the first video of a publisher).</summary>
        public const byte Camera = 0;
        /// <summary>The microphone's default id.</summary>
        public const byte Microphone = 1;
        /// <summary>A screen share's id.</summary>
        public const byte Screen = 2;

        /// <summary>Unique among the publisher's tracks, 0 to 15.</summary>
        public byte Id;
        public TrackKind Kind;
        public TrackSource Source;
        /// <summary>A name for pickers; may be empty.</summary>
        public string Name;
        /// <summary>A video track that also sends a low layer.</summary>
        public bool LowLayer;
        /// <summary>A moderator muted this track.</summary>
        public bool Muted;

        public bool IsVideo
        {
            get { return Kind == TrackKind.Video; }
        }

        /// <summary>The snake_case name of a source ("screen"), as the bot's report keys use it.</summary>
        public static string SourceName(TrackSource source)
        {
            return source.ToString().ToLowerInvariant();
        }

        /// <summary>The source named in event JSON; Custom for a name this version does not know.</summary>
        public static TrackSource ParseSource(string name)
        {
            switch (name)
            {
                case "camera": return TrackSource.Camera;
                case "screen": return TrackSource.Screen;
                case "microphone": return TrackSource.Microphone;
                case "music": return TrackSource.Music;
                case "inject": return TrackSource.Inject;
                default: return TrackSource.Custom;
            }
        }

        internal static Track From(object value)
        {
            var fields = value as Dictionary<string, object>;
            if (fields == null)
            {
                return null;
            }
            return new Track
            {
                Id = (byte)LivestageEvent.AsULong(fields, "id"),
                Kind = LivestageEvent.AsString(fields, "kind") == "audio" ? TrackKind.Audio : TrackKind.Video,
                Source = ParseSource(LivestageEvent.AsString(fields, "source")),
                Name = LivestageEvent.AsString(fields, "name") ?? "",
                LowLayer = LivestageEvent.AsBool(fields, "low_layer"),
                Muted = LivestageEvent.AsBool(fields, "muted"),
            };
        }

        internal static List<Track> ListFrom(object value)
        {
            var result = new List<Track>();
            var items = value as List<object>;
            if (items != null)
            {
                foreach (object item in items)
                {
                    Track track = From(item);
                    if (track != null)
                    {
                        result.Add(track);
                    }
                }
            }
            return result;
        }

        public override string ToString()
        {
            return Id + ":" + SourceName(Source) + (Name.Length > 0 ? " (" + Name + ")" : "");
        }
    }
}
