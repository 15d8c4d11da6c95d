// A console viewer on Runtime/Native only (no UnityEngine): joins a channel, fetches the newest
// picture of every video track of every remote user (camera, screen share, custom videos) at a
// game's frame rate, pulls the mixed voice from an audio thread as OnAudioFilterRead would,
// counts data messages, and writes a JSON report with the keys of `livestage bot` (joined,
// error, peers, data.received, video.<user>.frames for the camera, video.<user>/<source>.frames
// for every video track, audio.<user>.frames) plus each user's tracks and the glass-to-glass
// latency read from the test pattern's stamp.
//
// As a host it can publish too: --publish-track ID publishes pushed frames as the camera and
// as a second, custom video track ID; --share-screen display shares the first display as the
// screen track; --publish-image FILE publishes a PNG or JPEG as the camera instead, with
// beauty's lightening at --beauty L (0 to 1); the report has image, cameras (Engine.Cameras:
// how many, or "unavailable") and beauty_refused (the code an out-of-range SetBeauty got).
//
// Its own audio: --publish-voice HZ pushes a tone as its microphone; --music FILE plays music
// (--music-loops N times) and --effect FILE a sound effect, which the channel hears with the
// voice and this player hears in what the audio thread pulls; --voice PRESET changes the voice;
// --hook POINT installs a hook that counts its calls, --hook-throw POINT one that throws on its
// 10th call. The report's local_audio has the music states, finished effects, position,
// the hook's calls and format, the hooks removed, and the codes of calls refused on purpose.
//
// Raw video: --video-hooks rgba|i420 installs a remote video hook and a renderer in that format
// on every track and fetches each camera as I420 too (VideoTap.cs; the report's video_hooks).
//
// Co-hosting across channels: --relay DEST[,DEST...] (as a host whose token grants relay; a
// destination is CHANNEL:TOKEN or CHANNEL@ADDR#CERT:TOKEN) relays this player's tracks into
// other channels once joined; the report's relay has each destination's last state and code.
//
//   mono Viewer.exe --server ADDR --cert PEM --token T [--role host|audience]
//                   [--duration S] [--report FILE] [--fps N]
//                   [--publish-track ID] [--share-screen display]
//                   [--publish-image FILE] [--beauty L]
//                   [--publish-voice HZ] [--music FILE] [--music-loops N] [--effect FILE]
//                   [--voice PRESET] [--hook POINT] [--hook-throw POINT]
//                   [--video-hooks rgba|i420] [--relay DEST[,DEST...]]
//
// --cert is a PEM file, or a fingerprint "sha256:...". Exit code 0 when it joined and no
// error ended the session.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using Livestage.Native;

namespace Livestage.Samples
{
    sealed class UserVideo
    {
        public readonly VideoFrame Frame = new VideoFrame();
        public long Frames;
        public long Stamped;
        public readonly List<double> LatencyMs = new List<double>();
        public readonly List<double> FetchMs = new List<double>();
    }

    /// <summary>Pulls voice the way Unity's OnAudioFilterRead does: 1024 stereo frames every
    /// 21.3 ms into a buffer allocated once.</summary>
    sealed class AudioThread
    {
        const int Frames = 1024;
        const int Rate = 48000;
        readonly Engine engine;
        readonly Thread thread;
        volatile bool stop;
        public long Samples;
        public long Voiced;
        /// <summary>Samples of the left channel in audible blocks, their energy and zero
        /// crossings (silent blocks, before and after speech, would dilute both).</summary>
        public long Audible;
        public double SumSquares;
        public long Crossings;
        public long Errors;

        public AudioThread(Engine engine)
        {
            this.engine = engine;
            thread = new Thread(Run) { IsBackground = true, Name = "viewer-audio" };
            thread.Start();
        }

        void Run()
        {
            var data = new float[Frames * 2];
            var clock = Stopwatch.StartNew();
            long calls = 0;
            float last = 0;
            while (!stop)
            {
                int voiced = engine.ReadAudio(data, 2);
                if (voiced < 0)
                {
                    Errors++;
                    voiced = 0;
                }
                Samples += data.Length;
                Voiced += voiced;
                double energy = 0;
                long crossings = 0;
                for (int i = 0; i < voiced; i += 2)
                {
                    float left = data[i];
                    energy += left * left;
                    if ((left >= 0) != (last >= 0))
                    {
                        crossings++;
                    }
                    last = left;
                }
                if (voiced > 0 && energy / (voiced / 2) > 1e-4)
                {
                    Audible += voiced / 2;
                    SumSquares += energy;
                    Crossings += crossings;
                }
                calls++;
                long due = calls * Frames * 1000L / Rate;
                long wait = due - clock.ElapsedMilliseconds;
                if (wait > 0)
                {
                    Thread.Sleep((int)wait);
                }
            }
        }

        public void Stop()
        {
            stop = true;
            thread.Join();
        }

        public Dictionary<string, object> Report()
        {
            return new Dictionary<string, object>
            {
                { "samples", Samples },
                { "voiced", Voiced },
                { "audible", Audible },
                { "errors", Errors },
                { "rms", Audible > 0 ? Math.Sqrt(SumSquares / Audible) : 0.0 },
                // A tone crosses zero twice a period.
                { "hz", Audible > 0 ? Crossings / 2.0 / ((double)Audible / Rate) : 0.0 },
            };
        }
    }

    /// <summary>Frames this host pushes: a camera and a second video track, in two colours
    /// that move so every frame differs.</summary>
    sealed class Publishing
    {
        public int Track = -1;
        readonly byte[] camera = new byte[160 * 120 * 4];
        readonly byte[] custom = new byte[160 * 120 * 4];
        long pushed;

        public void Push(Engine engine, string channel, long tick)
        {
            if (Track < 0)
            {
                return;
            }
            for (int i = 0; i < camera.Length; i += 4)
            {
                int x = (i / 4) % 160;
                byte shade = (byte)((x + tick) & 0xff);
                camera[i] = 30; camera[i + 1] = shade; camera[i + 2] = 30; camera[i + 3] = 255;
                custom[i] = shade; custom[i + 1] = 30; custom[i + 2] = 200; custom[i + 3] = 255;
            }
            engine.PushVideo(channel, camera, 160, 120);
            engine.PushVideo(channel, (byte)Track, custom, 160, 120);
            pushed++;
        }

        public Dictionary<string, object> Report()
        {
            return new Dictionary<string, object> { { "track", (long)Track }, { "pushed", pushed } };
        }
    }

    /// <summary>This host's own audio: a pushed tone as its voice, music, an effect, the voice
    /// changer and hooks, and what the engine told of them.</summary>
    sealed class LocalAudio
    {
        const int Rate = 48000;
        public double VoiceHz;
        public string Music;
        public uint MusicLoops = 1;
        public string Effect;
        public string Voice;
        public string Hook;
        public string HookThrow;

        readonly List<object> musicStates = new List<object>();
        readonly List<object> musicErrors = new List<object>();
        readonly List<object> effectsFinished = new List<object>();
        readonly List<object> hooksRemoved = new List<object>();
        readonly Dictionary<string, object> refused = new Dictionary<string, object>();
        // Written by the hook on an audio thread.
        long hookCalls;
        long throwCalls;
        int hookRate, hookChannels, hookLength;
        readonly Stopwatch voiceClock = new Stopwatch();
        readonly float[] voiceBuffer = new float[Rate];
        long voicePushed;
        double phase;
        ulong positionMs;
        ulong? durationMs;

        public bool Wanted
        {
            get { return VoiceHz > 0 || Music != null || Effect != null || Voice != null || Hook != null || HookThrow != null; }
        }

        static HookPoint Point(string name)
        {
            foreach (HookPoint point in Enum.GetValues(typeof(HookPoint)))
            {
                if (Engine.PointName(point) == name)
                {
                    return point;
                }
            }
            throw new ArgumentException("a hook point is capture, encode, remote_voice or playback, not " + name);
        }

        void Counting(float[] samples, AudioHookInfo info)
        {
            Interlocked.Increment(ref hookCalls);
            hookRate = info.SampleRate;
            hookChannels = info.Channels;
            hookLength = samples.Length;
        }

        void Throwing(float[] samples, AudioHookInfo info)
        {
            if (Interlocked.Increment(ref throwCalls) >= 10)
            {
                throw new InvalidOperationException("the test hook gives up");
            }
        }

        int Code(Action call)
        {
            try
            {
                call();
                return 0;
            }
            catch (LivestageException e)
            {
                return e.Code;
            }
        }

        /// <summary>Starts it all once joined as host.</summary>
        public void Start(Engine engine, string channel)
        {
            refused["pause_without_music"] = (long)Code(engine.PauseMusic);
            refused["missing_music"] = (long)Code(() => engine.StartMusic("/no/such/song.mp3"));
            refused["unloaded_effect"] = (long)Code(() => engine.PlayEffect(99));
            if (Hook != null)
            {
                engine.SetAudioHook(Point(Hook), Counting);
            }
            if (HookThrow != null)
            {
                engine.SetAudioHook(Point(HookThrow), Throwing);
            }
            if (Voice != null)
            {
                engine.SetVoicePreset((VoicePreset)Enum.Parse(typeof(VoicePreset), Voice, true));
            }
            if (VoiceHz > 0)
            {
                engine.PublishAudio(channel, Rate, 1);
                voiceClock.Start();
            }
            if (Music != null)
            {
                MusicOptions options = MusicOptions.Default;
                options.Loops = MusicLoops;
                engine.StartMusic(Music, options);
            }
            if (Effect != null)
            {
                engine.PreloadEffect(1, Effect);
                engine.PlayEffect(1);
            }
        }

        /// <summary>Each game frame: the voice due by now, and where the music is.</summary>
        public void Tick(Engine engine, string channel)
        {
            if (voiceClock.IsRunning)
            {
                long due = (long)(voiceClock.Elapsed.TotalSeconds * Rate);
                int count = (int)Math.Min(due - voicePushed, voiceBuffer.Length);
                if (count > 0)
                {
                    double step = 2 * Math.PI * VoiceHz / Rate;
                    for (int i = 0; i < count; i++)
                    {
                        voiceBuffer[i] = (float)(0.3 * Math.Sin(phase));
                        phase = (phase + step) % (2 * Math.PI);
                    }
                    engine.PushAudio(channel, voiceBuffer, count);
                    voicePushed += count;
                }
            }
            ulong position;
            ulong? duration;
            if (Music != null && engine.TryGetMusicPosition(out position, out duration))
            {
                positionMs = Math.Max(positionMs, position);
                durationMs = duration ?? durationMs;
            }
        }

        public void Observe(LivestageEvent ev)
        {
            switch (ev.Type)
            {
                case "music_state":
                    musicStates.Add(ev.GetString("state"));
                    if (ev.Error != null)
                    {
                        musicErrors.Add(ev.Error.Code);
                    }
                    break;
                case "effect_finished":
                    effectsFinished.Add((long)ev.GetULong("id"));
                    break;
                case "audio_hook_removed":
                    hooksRemoved.Add(ev.GetString("point") + ": " + ev.GetString("reason"));
                    break;
            }
        }

        public Dictionary<string, object> Report()
        {
            return new Dictionary<string, object>
            {
                { "music_states", musicStates },
                { "music_errors", musicErrors },
                { "music_position_ms", (long)positionMs },
                { "music_duration_ms", durationMs.HasValue ? (object)(long)durationMs.Value : null },
                { "effects_finished", effectsFinished },
                { "hooks_removed", hooksRemoved },
                { "refused", refused },
                { "voice_pushed", voicePushed },
                { "hook", new Dictionary<string, object>
                    {
                        { "calls", Interlocked.Read(ref hookCalls) },
                        { "sample_rate", (long)hookRate },
                        { "channels", (long)hookChannels },
                        { "length", (long)hookLength },
                    }
                },
            };
        }
    }

    static class Viewer
    {
        static string server, cert, token, reportPath;
        static Role role = Role.Audience;
        static double duration = 10, fps = 60;
        static int publishTrack = -1;
        static bool shareScreen;
        static string publishImage;
        static string relay;
        static float beauty;
        static readonly LocalAudio localAudio = new LocalAudio();
        static VideoTap videoTap;
        const int PublishWidth = 160, PublishHeight = 120;

        static int Main(string[] args)
        {
            try
            {
                ParseArgs(args);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine(e.Message);
                Console.Error.WriteLine("usage: mono Viewer.exe --server ADDR --cert PEM --token T " +
                    "[--role host|audience] [--duration S] [--report FILE] [--fps N] [--publish-track ID] " +
                    "[--share-screen display] [--publish-image FILE] [--beauty L] [--publish-voice HZ] [--music FILE] [--music-loops N] " +
                    "[--effect FILE] [--voice PRESET] [--hook POINT] [--hook-throw POINT] " +
                    "[--video-hooks rgba|i420] [--relay DEST[,DEST...]]");
                return 2;
            }
            var report = Run();
            string json = Json.Serialize(report);
            Console.WriteLine(json);
            if (reportPath != null)
            {
                File.WriteAllText(reportPath, json);
            }
            return (bool)report["joined"] && report["error"] == null ? 0 : 1;
        }

        static void ParseArgs(string[] args)
        {
            for (int i = 0; i < args.Length; i++)
            {
                string flag = args[i];
                if (i + 1 >= args.Length)
                {
                    throw new ArgumentException(flag + " needs a value");
                }
                string value = args[++i];
                switch (flag)
                {
                    case "--server": server = value; break;
                    case "--cert": cert = value; break;
                    case "--token": token = value; break;
                    case "--report": reportPath = value; break;
                    case "--duration": duration = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "--fps": fps = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "--publish-track": publishTrack = byte.Parse(value); break;
                    case "--publish-image": publishImage = value; break;
                    case "--beauty":
                        beauty = float.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "--publish-voice":
                        localAudio.VoiceHz = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "--music": localAudio.Music = value; break;
                    case "--music-loops": localAudio.MusicLoops = uint.Parse(value); break;
                    case "--effect": localAudio.Effect = value; break;
                    case "--voice": localAudio.Voice = value; break;
                    case "--hook": localAudio.Hook = value; break;
                    case "--hook-throw": localAudio.HookThrow = value; break;
                    case "--video-hooks": videoTap = new VideoTap(value); break;
                    case "--relay": relay = value; break;
                    case "--share-screen":
                        if (value != "display")
                        {
                            throw new ArgumentException("--share-screen takes display (the first one)");
                        }
                        shareScreen = true;
                        break;
                    case "--role":
                        if (value != "host" && value != "audience")
                        {
                            throw new ArgumentException("--role is host or audience");
                        }
                        role = value == "host" ? Role.Host : Role.Audience;
                        break;
                    default: throw new ArgumentException("unknown flag " + flag);
                }
            }
            if (server == null || cert == null || token == null)
            {
                throw new ArgumentException("--server, --cert and --token are required");
            }
            if (publishImage != null && publishTrack >= 0)
            {
                throw new ArgumentException("--publish-image and --publish-track both publish the camera; pick one");
            }
        }

        static Dictionary<string, object> Run()
        {
            var report = new Dictionary<string, object>
            {
                { "joined", false },
                { "error", null },
            };
            var peers = new SortedSet<string>();
            var dataFrom = new SortedDictionary<string, object>();
            var relays = new SortedDictionary<string, object>();
            long dataReceived = 0;
            var videos = new SortedDictionary<string, UserVideo>();
            // The last counters seen per user (kept after the user leaves).
            var voices = new SortedDictionary<string, Stats>();
            // Who this client sees now, with their tracks, and every track each user showed.
            var roster = new Dictionary<string, Participant>();
            var tracksSeen = new SortedDictionary<string, SortedSet<string>>();
            Publishing publishing = null;
            bool audioStarted = false;
            string me = null;
            string channel;

            using (var engine = new Engine(48000, 2))
            {
                string trust = cert.StartsWith("sha256:", StringComparison.Ordinal) ? cert : File.ReadAllText(cert);
                try
                {
                    channel = engine.Join(server, trust, token, null, role);
                }
                catch (LivestageException e)
                {
                    report["error"] = ErrorReport("invalid_input", e.Message);
                    return report;
                }
                report["channel"] = channel;
                var audio = new AudioThread(engine);
                var clock = Stopwatch.StartNew();
                var frameTime = TimeSpan.FromSeconds(1.0 / fps);
                bool ended = false;
                long tick = 0;
                while (!ended && clock.Elapsed.TotalSeconds < duration)
                {
                    LivestageEvent ev;
                    while (engine.TryPollEvent(out ev))
                    {
                        switch (ev.Type)
                        {
                            case "joined":
                                me = ev.GetParticipant("me").User;
                                report["user"] = me;
                                report["role"] = ev.GetParticipant("me").Role == Role.Host ? "host" : "audience";
                                if (!ev.GetBool("resumed"))
                                {
                                    report["joined"] = true;
                                    report["join_ms"] = (long)clock.Elapsed.TotalMilliseconds;
                                    if (videoTap != null)
                                    {
                                        videoTap.Start(engine);
                                    }
                                    Console.WriteLine("joined " + channel + " as " + me);
                                }
                                foreach (Participant p in ev.GetParticipants("peers"))
                                {
                                    peers.Add(p.User);
                                    See(roster, tracksSeen, p);
                                }
                                if (!ev.GetBool("resumed") && ev.GetParticipant("me").Role == Role.Host &&
                                    (publishTrack >= 0 || shareScreen || publishImage != null))
                                {
                                    publishing = Publish(engine, channel, report);
                                }
                                if (!ev.GetBool("resumed") && ev.GetParticipant("me").Role == Role.Host &&
                                    relay != null)
                                {
                                    engine.StartRelay(channel, relay);
                                }
                                if (!ev.GetBool("resumed") && ev.GetParticipant("me").Role == Role.Host &&
                                    localAudio.Wanted)
                                {
                                    localAudio.Start(engine, channel);
                                    audioStarted = true;
                                }
                                break;
                            case "music_state":
                            case "effect_finished":
                            case "audio_hook_removed":
                                localAudio.Observe(ev);
                                break;
                            case "peer_joined":
                                peers.Add(ev.GetParticipant("participant").User);
                                See(roster, tracksSeen, ev.GetParticipant("participant"));
                                break;
                            // The library's roster: who this client sees and what they publish.
                            case "participant":
                                Participant seen = ev.GetParticipant("participant");
                                if (seen.User != me)
                                {
                                    peers.Add(seen.User);
                                    See(roster, tracksSeen, seen);
                                }
                                break;
                            case "participant_gone":
                                roster.Remove(ev.GetString("user"));
                                break;
                            case "role_changed":
                                Participant changed = ev.GetParticipant("participant");
                                if (changed.User == me)
                                {
                                    report["role"] = changed.Role == Role.Host ? "host" : "audience";
                                }
                                else
                                {
                                    peers.Add(changed.User);
                                }
                                break;
                            case "roster":
                                roster.Clear();
                                foreach (Participant p in ev.GetParticipants("participants"))
                                {
                                    if (p.User != me)
                                    {
                                        peers.Add(p.User);
                                        See(roster, tracksSeen, p);
                                    }
                                }
                                break;
                            case "relay":
                                relays[ev.GetString("to")] = new Dictionary<string, object>
                                {
                                    { "state", ev.GetString("state") },
                                    { "code", ev.GetString("code") },
                                };
                                break;
                            case "data":
                                dataReceived++;
                                string from = ev.GetString("from");
                                dataFrom[from] = (dataFrom.ContainsKey(from) ? (long)dataFrom[from] : 0L) + 1;
                                break;
                            case "peer_links":
                                var paths = new Dictionary<string, object>();
                                foreach (PeerLink peer in ev.PeerLinks)
                                {
                                    paths[peer.User] = new Dictionary<string, object>
                                    {
                                        { "rtt_ms", (long)peer.RttMs },
                                        { "uplink_loss_percent", (long)peer.UplinkLossPercent },
                                        { "quality", peer.Quality },
                                    };
                                }
                                report["peer_links"] = paths;
                                break;
                            case "link":
                                var link = ev.Link;
                                report["link"] = new Dictionary<string, object>
                                {
                                    { "rtt_ms", (long)link.RttMs },
                                    { "uplink_loss_percent", (long)link.UplinkLossPercent },
                                    { "downlink_loss_percent", (long)link.DownlinkLossPercent },
                                    { "quality", link.Quality },
                                };
                                break;
                            case "refused":
                            case "error":
                                if (report["error"] == null)
                                {
                                    report["error"] = ErrorReport(ev.Error.Code, ev.Error.Message);
                                }
                                break;
                            case "state":
                                if (ev.GetString("state") == "disconnected")
                                {
                                    if (ev.Error != null)
                                    {
                                        report["error"] = ErrorReport(ev.Error.Code, ev.Error.Message);
                                    }
                                    ended = true;
                                }
                                break;
                        }
                    }
                    if (me != null && !ended)
                    {
                        foreach (Participant p in roster.Values)
                        {
                            foreach (Track track in p.Tracks)
                            {
                                if (track.IsVideo)
                                {
                                    FetchVideo(engine, channel, p, track, videos);
                                }
                                if (videoTap != null && track.IsVideo && track.Id == Track.Camera)
                                {
                                    videoTap.Fetch(engine, channel, p.User);
                                }
                            }
                        }
                        if (publishing != null)
                        {
                            publishing.Push(engine, channel, tick);
                        }
                        if (audioStarted)
                        {
                            localAudio.Tick(engine, channel);
                        }
                        if (tick % 10 == 0)
                        {
                            SampleStats(engine, channel, peers, voices);
                        }
                    }
                    tick++;
                    var due = TimeSpan.FromTicks(frameTime.Ticks * tick);
                    var wait = due - clock.Elapsed;
                    if (wait > TimeSpan.Zero)
                    {
                        Thread.Sleep(wait);
                    }
                }
                audio.Stop();
                if (!ended)
                {
                    SampleStats(engine, channel, peers, voices);
                }

                var videoReport = new SortedDictionary<string, object>();
                foreach (var entry in videos)
                {
                    UserVideo v = entry.Value;
                    var one = new Dictionary<string, object>
                    {
                        { "frames", v.Frames },
                        { "stamped", v.Stamped },
                        { "width", v.Frame.Width },
                        { "height", v.Frame.Height },
                        { "latency_ms", Percentiles(v.LatencyMs) },
                        { "fetch_ms", Percentiles(v.FetchMs) },
                    };
                    videoReport[entry.Key] = one;
                    // The camera also under the user's plain id, as before tracks existed.
                    if (entry.Key.EndsWith("/camera", StringComparison.Ordinal))
                    {
                        videoReport[entry.Key.Substring(0, entry.Key.Length - "/camera".Length)] = one;
                    }
                }
                var tracksReport = new SortedDictionary<string, object>();
                foreach (var entry in tracksSeen)
                {
                    tracksReport[entry.Key] = entry.Value.ToList();
                }
                var audioReport = new SortedDictionary<string, object>();
                foreach (var entry in voices)
                {
                    Stats stats = entry.Value;
                    if (stats.AudioPlayed == 0)
                    {
                        continue;
                    }
                    audioReport[entry.Key] = new Dictionary<string, object>
                    {
                        { "frames", (long)stats.AudioPlayed },
                        { "recovered", (long)stats.AudioRecovered },
                        { "concealed", (long)stats.AudioConcealed },
                    };
                }
                report["peers"] = peers.ToList();
                report["data"] = new Dictionary<string, object>
                {
                    { "received", dataReceived },
                    { "from", dataFrom },
                };
                report["video"] = videoReport;
                report["tracks"] = tracksReport;
                if (relay != null)
                {
                    report["relay"] = relays;
                }
                if (publishing != null)
                {
                    report["published"] = publishing.Report();
                }
                if (audioStarted)
                {
                    report["local_audio"] = localAudio.Report();
                }
                report["audio"] = audioReport;
                report["voice_out"] = audio.Report();
                if (videoTap != null)
                {
                    report["video_hooks"] = videoTap.Report(engine);
                }
                report["fps"] = fps;
            }
            return report;
        }

        /// <summary>Remembers what a participant publishes now, and every track it showed.</summary>
        static void See(Dictionary<string, Participant> roster, SortedDictionary<string, SortedSet<string>> tracksSeen,
            Participant p)
        {
            if (p == null)
            {
                return;
            }
            roster[p.User] = p;
            SortedSet<string> seen;
            if (!tracksSeen.TryGetValue(p.User, out seen))
            {
                seen = new SortedSet<string>();
                tracksSeen[p.User] = seen;
            }
            foreach (Track track in p.Tracks)
            {
                seen.Add(track.Id + ":" + Track.SourceName(track.Source));
            }
        }

        /// <summary>The bot's report key of a track: user/source, and user/source-ID for a second
        /// track of the same source.</summary>
        static string TrackKey(Participant p, Track track)
        {
            Track first = p.Tracks.Find(t => t.Source == track.Source);
            string key = p.User + "/" + Track.SourceName(track.Source);
            return first == null || first.Id == track.Id ? key : key + "-" + track.Id;
        }

        static void FetchVideo(Engine engine, string channel, Participant p, Track track,
            SortedDictionary<string, UserVideo> videos)
        {
            string user = p.User;
            string key = TrackKey(p, track);
            UserVideo v;
            if (!videos.TryGetValue(key, out v))
            {
                v = new UserVideo();
                videos[key] = v;
            }
            var watch = Stopwatch.StartNew();
            bool fresh;
            try
            {
                fresh = engine.TryGetFrame(channel, user, track.Id, v.Frame);
            }
            catch (LivestageException e)
            {
                if (e.Code == Interop.LIVESTAGE_ERR_NOT_FOUND)
                {
                    return; // Left since.
                }
                throw;
            }
            if (!fresh)
            {
                return;
            }
            double fetchMs = watch.Elapsed.TotalMilliseconds;
            ulong now = Engine.NowUs();
            v.Frames++;
            v.FetchMs.Add(fetchMs);
            Stamp stamp;
            if (Engine.TryReadStamp(v.Frame.Pixels, v.Frame.Width, v.Frame.Height, false, out stamp))
            {
                v.Stamped++;
                v.LatencyMs.Add((now - stamp.CaptureUs) / 1000.0);
            }
        }

        /// <summary>Keeps each peer's latest counters (a peer that left keeps its last ones).</summary>
        static void SampleStats(Engine engine, string channel, IEnumerable<string> peers,
            SortedDictionary<string, Stats> voices)
        {
            foreach (string user in peers)
            {
                Stats stats;
                try
                {
                    if (engine.TryGetStats(channel, user, out stats))
                    {
                        voices[user] = stats;
                    }
                }
                catch (LivestageException e)
                {
                    if (e.Code != Interop.LIVESTAGE_ERR_NOT_FOUND)
                    {
                        throw;
                    }
                }
            }
        }

        /// <summary>Starts what this host publishes: pushed frames as the camera and as a second,
        /// custom video track (--publish-track) or a picture as the camera (--publish-image, with
        /// --beauty), and the first display (--share-screen).</summary>
        static Publishing Publish(Engine engine, string channel, Dictionary<string, object> report)
        {
            var publishing = new Publishing();
            if (publishTrack >= 0)
            {
                engine.PublishVideo(channel, PublishWidth, PublishHeight, 15);
                engine.PublishVideoTrack(channel, (byte)publishTrack, TrackSource.Custom, PublishWidth, PublishHeight,
                    15);
                publishing.Track = (byte)publishTrack;
            }
            if (publishImage != null)
            {
                PublishImage(engine, channel, report);
            }
            if (shareScreen)
            {
                try
                {
                    Screens screens = Engine.Screens();
                    report["screens"] = new Dictionary<string, object>
                    {
                        { "displays", (long)screens.Displays.Count },
                        { "windows", (long)screens.Windows.Count },
                    };
                    engine.ShareScreen(channel, ScreenTarget.Display, uint.MaxValue, 0, 0, 0, 0, 10);
                    report["screen_share"] = "ok";
                }
                catch (LivestageException e)
                {
                    report["screen_share"] = e.Code == Interop.LIVESTAGE_ERR_UNAVAILABLE ? "unavailable" : e.Message;
                }
            }
            return publishing;
        }

        /// <summary>Publishes --publish-image as the camera with beauty (--beauty), after
        /// listing the cameras and trying a beauty value out of range.</summary>
        static void PublishImage(Engine engine, string channel, Dictionary<string, object> report)
        {
            try
            {
                report["cameras"] = (long)Engine.Cameras().Count;
            }
            catch (LivestageException e)
            {
                report["cameras"] = e.Code == Interop.LIVESTAGE_ERR_UNAVAILABLE ? "unavailable" : e.Message;
            }
            BeautyOptions options = BeautyOptions.Default;
            options.Smoothness = 2;
            try
            {
                engine.SetBeauty(options);
            }
            catch (LivestageException e)
            {
                report["beauty_refused"] = (long)e.Code;
            }
            options = BeautyOptions.Default;
            options.Lightening = beauty;
            engine.SetBeauty(beauty > 0 ? options : (BeautyOptions?)null);
            engine.PublishImage(channel, publishImage, 10);
            report["image"] = "ok";
        }

        static Dictionary<string, object> ErrorReport(string code, string message)
        {
            return new Dictionary<string, object> { { "code", code }, { "message", message } };
        }

        static Dictionary<string, object> Percentiles(List<double> samples)
        {
            var sorted = samples.OrderBy(x => x).ToList();
            Func<double, double> at = q => sorted.Count == 0
                ? 0.0
                : sorted[(int)Math.Round((sorted.Count - 1) * q)];
            return new Dictionary<string, object>
            {
                { "p50", at(0.5) },
                { "p95", at(0.95) },
                { "max", at(1.0) },
            };
        }
    }
}
