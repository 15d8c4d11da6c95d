// The safe wrapper over the C ABI: one Engine per process is usual, joining any number of
// channels. It does not reference UnityEngine, so it runs in any .NET or Mono host.
//
// Threads: every method may be called from the main thread. ReadAudio is the one method for
// the audio thread (OnAudioFilterRead): it never throws, allocates, locks or waits. Dispose
// blocks up to about two seconds while the engine leaves its channels.
//
// Music, sound effects, the voice changer and raw audio hooks are in Audio.cs; raw video
// hooks, custom renderers and I420 pictures in VideoHooks.cs.

using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;

namespace Livestage.Native
{
    /// <summary>On stage or watching.</summary>
    public enum Role
    {
        Audience = Interop.LIVESTAGE_ROLE_AUDIENCE,
        Host = Interop.LIVESTAGE_ROLE_HOST,
    }

    /// <summary>Which video of a publisher to receive.</summary>
    public enum Layer
    {
        None = Interop.LIVESTAGE_LAYER_NONE,
        High = Interop.LIVESTAGE_LAYER_HIGH,
        Low = Interop.LIVESTAGE_LAYER_LOW,
    }

    /// <summary>A call the engine refused; Code is one of the LIVESTAGE_ERR_* values.</summary>
    public sealed class LivestageException : Exception
    {
        public readonly int Code;

        public LivestageException(int code, string message) : base(message + " (code " + code + ")")
        {
            Code = code;
        }
    }

    /// <summary>A remote user's newest picture: RGBA, 4 bytes a pixel, tightly packed.</summary>
    public sealed class VideoFrame
    {
        /// <summary>The pixels; reallocated when the size changes.</summary>
        public byte[] Pixels = new byte[0];
        public int Width;
        public int Height;
        /// <summary>Changes exactly when a newer picture is copied in (0: none yet).</summary>
        public ulong Seq;
        /// <summary>The publisher's frame number.</summary>
        public ulong FrameNumber;
        /// <summary>Capture time on the publisher's clock, microseconds since the Unix epoch.</summary>
        public ulong CaptureUs;
    }

    /// <summary>The Livestage client engine.</summary>
    public sealed partial class Engine : IDisposable
    {
        long handle;
        readonly Dictionary<string, byte[]> names = new Dictionary<string, byte[]>();
        byte[] eventBuffer = new byte[16 * 1024];

        /// <summary>Starts an engine. Remote voice is mixed for ReadAudio at sampleRate with
        /// channels interleaved channels (Unity: AudioSettings.outputSampleRate, 2), or played on
        /// the system's output device when playOnDevice.</summary>
        public Engine(int sampleRate = 48000, int channels = 2, bool playOnDevice = false)
        {
            long h = Interop.livestage_engine_new((uint)sampleRate, (uint)channels,
                playOnDevice ? Interop.LIVESTAGE_PLAY_ON_DEVICE : 0);
            if (h <= 0)
            {
                throw new LivestageException((int)h, Interop.LastError());
            }
            handle = h;
            mixChannels = playOnDevice ? 1 : channels == 0 ? 2 : channels;
        }

        ~Engine()
        {
            Free();
        }

        /// <summary>The native handle (0 once disposed).</summary>
        public long Handle
        {
            get { return Interlocked.Read(ref handle); }
        }

        /// <summary>Leaves every channel and stops the engine.</summary>
        public void Dispose()
        {
            Free();
            GC.SuppressFinalize(this);
        }

        void Free()
        {
            long h = Interlocked.Exchange(ref handle, 0);
            if (h > 0)
            {
                Interop.livestage_engine_free(h);
                ReleaseHooks();
                ReleaseVideoHooks();
            }
        }

        static void Check(int code)
        {
            if (code < 0)
            {
                throw new LivestageException(code, Interop.LastError());
            }
        }

        long Live()
        {
            long h = Handle;
            if (h <= 0)
            {
                throw new ObjectDisposedException("Livestage.Native.Engine");
            }
            return h;
        }

        /// <summary>A cached UTF-8 name, for calls made every frame.</summary>
        byte[] Name(string name)
        {
            if (name == null)
            {
                throw new ArgumentNullException("name");
            }
            byte[] bytes;
            lock (names)
            {
                if (!names.TryGetValue(name, out bytes))
                {
                    bytes = Interop.Utf8(name);
                    names[name] = bytes;
                }
            }
            return bytes;
        }

        /// <summary>The channel a token is bound to (its "ch" claim), read without checking the
        /// signature, which only the server can do.</summary>
        public static string TokenChannel(string token)
        {
            string[] parts = token.Split('.');
            if (parts.Length != 3)
            {
                throw new ArgumentException("not a Livestage token: expected three dot-separated parts");
            }
            string body = parts[1].Replace('-', '+').Replace('_', '/');
            body = body.PadRight(body.Length + (4 - body.Length % 4) % 4, '=');
            var claims = Json.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(body)))
                as Dictionary<string, object>;
            object channel;
            if (claims == null || !claims.TryGetValue("ch", out channel) || !(channel is string))
            {
                throw new ArgumentException("the token names no channel");
            }
            return (string)channel;
        }

        /// <summary>Joins a channel and returns its name (the token's when channel is null).
        /// cert is the server certificate's PEM text, or its fingerprint "sha256:...". Progress
        /// arrives as events: state, then joined (or a disconnected state with the error).</summary>
        public string Join(string server, string cert, string token, string channel = null, Role role = Role.Audience,
            string serverName = null)
        {
            string name = channel ?? TokenChannel(token);
            Check(Interop.livestage_join(Live(), Interop.Utf8(server), Interop.Utf8(cert), Interop.Utf8(token),
                Name(name), (int)role, Interop.Utf8(serverName)));
            return name;
        }

        /// <summary>Leaves a channel; calls on it then fail until it is joined again.</summary>
        public void Leave(string channel)
        {
            Check(Interop.livestage_leave(Live(), Name(channel)));
        }

        /// <summary>Asks to become host or audience (answered by role_changed or refused).</summary>
        public void SetRole(string channel, Role role)
        {
            Check(Interop.livestage_set_role(Live(), Name(channel), (int)role));
        }

        /// <summary>Raises (true) or lowers (false) this client's hand, asking the moderators to
        /// invite it on stage; audience only (answered by hand_changed or refused).</summary>
        public void RaiseHand(string channel, bool raised)
        {
            Check(Interop.livestage_raise_hand(Live(), Name(channel), raised ? 1 : 0));
        }

        /// <summary>Sends up to 4096 bytes to everyone who hears this client, or to some users.</summary>
        public void SendData(string channel, byte[] payload, params string[] to)
        {
            byte[] recipients = to == null || to.Length == 0 ? null : Interop.Utf8(string.Join(",", to));
            Check(Interop.livestage_send_data(Live(), Name(channel), payload, (UIntPtr)payload.Length, recipients));
        }

        /// <summary>Replaces the token of a live membership.</summary>
        public void RenewToken(string channel, string token)
        {
            Check(Interop.livestage_renew_token(Live(), Name(channel), Interop.Utf8(token)));
        }

        /// <summary>
        /// Relays this host's tracks into other channels (PK; the token must grant relay). Each
        /// destination is "CHANNEL:TOKEN" on this server or "CHANNEL@ADDR#CERT:TOKEN" on another
        /// (CERT a PEM file or "sha256:HEX"); each reports "relay" events (to, state, code).
        /// </summary>
        public void StartRelay(string channel, params string[] destinations)
        {
            Check(Interop.livestage_relay_start(Live(), Name(channel), Interop.Utf8(string.Join(",", destinations))));
        }

        /// <summary>Starts the destinations in add and stops those in remove ("CHANNEL" or "CHANNEL@ADDR#CERT").</summary>
        public void UpdateRelay(string channel, string[] add, string[] remove)
        {
            byte[] adding = add == null || add.Length == 0 ? null : Interop.Utf8(string.Join(",", add));
            byte[] removing = remove == null || remove.Length == 0 ? null : Interop.Utf8(string.Join(",", remove));
            Check(Interop.livestage_relay_update(Live(), Name(channel), adding, removing));
        }

        /// <summary>Pauses or resumes every destination of the relay.</summary>
        public void PauseRelay(string channel, bool paused)
        {
            Check(Interop.livestage_relay_pause(Live(), Name(channel), paused ? 1 : 0));
        }

        /// <summary>Stops the relay; every destination reports "stopped".</summary>
        public void StopRelay(string channel)
        {
            Check(Interop.livestage_relay_stop(Live(), Name(channel)));
        }

        /// <summary>Chooses what to receive from a user.</summary>
        public void Subscribe(string channel, string user, bool audio, Layer video)
        {
            Check(Interop.livestage_subscribe(Live(), Name(channel), Name(user), audio ? 1 : 0, (int)video));
        }

        /// <summary>Moderator: makes a user a host.</summary>
        public void Promote(string channel, string user)
        {
            Check(Interop.livestage_promote(Live(), Name(channel), Name(user)));
        }

        /// <summary>Moderator: moves a host to the audience.</summary>
        public void Demote(string channel, string user)
        {
            Check(Interop.livestage_demote(Live(), Name(channel), Name(user)));
        }

        /// <summary>Moderator: removes a user from the channel.</summary>
        public void Kick(string channel, string user)
        {
            Check(Interop.livestage_kick(Live(), Name(channel), Name(user)));
        }

        /// <summary>Moderator: mutes or unmutes a user's audio and video (null leaves it).</summary>
        public void Mute(string channel, string user, bool? audio, bool? video)
        {
            Check(Interop.livestage_mute(Live(), Name(channel), Name(user), MuteValue(audio), MuteValue(video)));
        }

        static int MuteValue(bool? muted)
        {
            return muted.HasValue ? (muted.Value ? 1 : 0) : Interop.LIVESTAGE_MUTE_KEEP;
        }

        /// <summary>Moderator: whom a listener hears; null for everyone.</summary>
        public void SetHearing(string channel, string listener, string[] hears)
        {
            byte[] list = hears == null ? null : Interop.Utf8(string.Join(",", hears));
            Check(Interop.livestage_set_hearing(Live(), Name(channel), Name(listener), list));
        }

        /// <summary>How loud a user's voice plays here, 0 to 2.</summary>
        public void SetVolume(string channel, string user, float volume)
        {
            Check(Interop.livestage_set_volume(Live(), Name(channel), Name(user), volume));
        }

        /// <summary>What arrived from a user so far, all its tracks together; false when nothing
        /// did yet.</summary>
        public bool TryGetStats(string channel, string user, out Stats stats)
        {
            int code = Interop.livestage_stats(Live(), Name(channel), Name(user), out stats);
            Check(code);
            return code == 1;
        }

        /// <summary>What arrived on one of a user's tracks so far; false when nothing did yet.</summary>
        public bool TryGetStats(string channel, string user, byte track, out Stats stats)
        {
            int code = Interop.livestage_stats_track(Live(), Name(channel), Name(user), track, out stats);
            Check(code);
            return code == 1;
        }

        /// <summary>Takes the next event; false when there is none. Call every frame.</summary>
        public bool TryPollEvent(out LivestageEvent ev)
        {
            ev = TakeFailedHook() ?? TakeFailedVideoHook();
            if (ev != null)
            {
                return true;
            }
            UIntPtr size;
            int code = Interop.livestage_poll_event(Live(), eventBuffer, (UIntPtr)eventBuffer.Length, out size);
            if (code == Interop.LIVESTAGE_ERR_BUFFER_TOO_SMALL)
            {
                eventBuffer = new byte[(int)size.ToUInt64()];
                code = Interop.livestage_poll_event(Live(), eventBuffer, (UIntPtr)eventBuffer.Length, out size);
            }
            Check(code);
            if (code == 0)
            {
                return false;
            }
            ev = new LivestageEvent(Encoding.UTF8.GetString(eventBuffer, 0, (int)size.ToUInt64() - 1));
            Observe(ev);
            ObserveVideo(ev);
            return true;
        }

        /// <summary>Copies a user's newest camera picture into frame when it is newer than
        /// frame.Seq; true when it did. flipY gives rows bottom to top, as
        /// Texture2D.LoadRawTextureData wants them. Throws for a user not in the channel.</summary>
        public bool TryGetFrame(string channel, string user, VideoFrame frame, bool flipY = false)
        {
            return TryGetFrame(channel, user, Track.Camera, frame, flipY);
        }

        /// <summary>Copies the newest picture of one of a user's video tracks (an id from
        /// Participant.Tracks) into frame when it is newer than frame.Seq; true when it did. Use
        /// one VideoFrame per track. Throws for a user not in the channel.</summary>
        public bool TryGetFrame(string channel, string user, byte track, VideoFrame frame, bool flipY = false)
        {
            uint flags = flipY ? Interop.LIVESTAGE_FLIP_Y : 0;
            FrameInfo info;
            int code = Interop.livestage_video_frame_track(Live(), Name(channel), Name(user), track, frame.Seq, flags,
                frame.Pixels, (UIntPtr)frame.Pixels.Length, out info);
            if (code == Interop.LIVESTAGE_ERR_BUFFER_TOO_SMALL)
            {
                frame.Pixels = new byte[(int)info.Size];
                code = Interop.livestage_video_frame_track(Live(), Name(channel), Name(user), track, frame.Seq, flags,
                    frame.Pixels, (UIntPtr)frame.Pixels.Length, out info);
            }
            Check(code);
            if (code == 0)
            {
                return false;
            }
            frame.Width = (int)info.Width;
            frame.Height = (int)info.Height;
            frame.Seq = info.Seq;
            frame.FrameNumber = info.Frame;
            frame.CaptureUs = info.CaptureUs;
            return true;
        }

        /// <summary>Starts publishing pushed frames of width x height at up to fps as the camera
        /// track.</summary>
        public void PublishVideo(string channel, int width, int height, float fps, int bitrateBps = 0)
        {
            Check(Interop.livestage_video_publish(Live(), Name(channel), (uint)width, (uint)height, fps,
                (uint)bitrateBps));
        }

        /// <summary>Pushes one RGBA frame (flipY: rows bottom to top, as Unity reads textures back).</summary>
        public void PushVideo(string channel, byte[] rgba, int width, int height, bool flipY = false)
        {
            Check(Interop.livestage_video_push(Live(), Name(channel), rgba, (UIntPtr)rgba.Length, (uint)width,
                (uint)height, flipY ? Interop.LIVESTAGE_FLIP_Y : 0));
        }

        /// <summary>Pushes one RGBA frame from native memory of length bytes.</summary>
        public void PushVideo(string channel, IntPtr rgba, int length, int width, int height, bool flipY = false)
        {
            Check(Interop.livestage_video_push_ptr(Live(), Name(channel), rgba, (UIntPtr)length, (uint)width,
                (uint)height, flipY ? Interop.LIVESTAGE_FLIP_Y : 0));
        }

        /// <summary>Stops publishing the camera track.</summary>
        public void UnpublishVideo(string channel)
        {
            Check(Interop.livestage_video_unpublish(Live(), Name(channel)));
        }

        /// <summary>Starts publishing pushed frames as another video track (id 0 to 15, not the
        /// microphone's 1; up to 4 video tracks), labelled Camera, Screen or Custom so viewers can
        /// tell them apart. Replaces an earlier publisher of the same track.</summary>
        public void PublishVideoTrack(string channel, byte track, TrackSource source, int width, int height, float fps,
            int bitrateBps = 0)
        {
            Check(Interop.livestage_video_publish_track(Live(), Name(channel), track, (int)source, (uint)width,
                (uint)height, fps, (uint)bitrateBps));
        }

        /// <summary>Pushes one RGBA frame to a video track published with PublishVideoTrack.</summary>
        public void PushVideo(string channel, byte track, byte[] rgba, int width, int height, bool flipY = false)
        {
            Check(Interop.livestage_video_push_track(Live(), Name(channel), track, rgba, (UIntPtr)rgba.Length,
                (uint)width, (uint)height, flipY ? Interop.LIVESTAGE_FLIP_Y : 0));
        }

        /// <summary>Pushes one RGBA frame of length bytes from native memory to a video track.</summary>
        public void PushVideo(string channel, byte track, IntPtr rgba, int length, int width, int height,
            bool flipY = false)
        {
            Check(Interop.livestage_video_push_track_ptr(Live(), Name(channel), track, rgba, (UIntPtr)length,
                (uint)width, (uint)height, flipY ? Interop.LIVESTAGE_FLIP_Y : 0));
        }

        /// <summary>Stops publishing a video track (a pushed one or the screen share).</summary>
        public void UnpublishVideoTrack(string channel, byte track)
        {
            Check(Interop.livestage_video_unpublish_track(Live(), Name(channel), track));
        }

        /// <summary>What can be shared. Throws LivestageException with LIVESTAGE_ERR_UNAVAILABLE
        /// when screen capture is not possible here (no X server).</summary>
        public static Screens Screens()
        {
            byte[] buffer = new byte[16 * 1024];
            int size = Interop.livestage_screens(buffer, (UIntPtr)buffer.Length);
            if (size > buffer.Length)
            {
                buffer = new byte[size];
                size = Interop.livestage_screens(buffer, (UIntPtr)buffer.Length);
            }
            Check(size);
            return Native.Screens.Parse(Encoding.UTF8.GetString(buffer, 0, size - 1));
        }

        /// <summary>Shares a display (id from Screens(), uint.MaxValue for the first), a window,
        /// or a region as the screen track (Track.Screen, with a low layer) at fps (1 to 60). For a
        /// display or window, a width and height above 0 share only that part (x, y from its
        /// corner); for Region they are the region of the first display. Throws with
        /// LIVESTAGE_ERR_ARGUMENT for a target that does not exist and LIVESTAGE_ERR_UNAVAILABLE
        /// when capture is not possible here; a window that closes later ends the share with a
        /// track_ended event.</summary>
        public void ShareScreen(string channel, ScreenTarget target, uint id = uint.MaxValue, int x = 0, int y = 0,
            int width = 0, int height = 0, float fps = 15)
        {
            Check(Interop.livestage_screen_share(Live(), Name(channel), (int)target, id, x, y, (uint)width,
                (uint)height, fps));
        }

        /// <summary>Stops sharing the screen.</summary>
        public void StopScreenShare(string channel)
        {
            Check(Interop.livestage_screen_stop(Live(), Name(channel)));
        }

        /// <summary>Starts publishing a microphone pushed at sampleRate with channels (resampled
        /// to 48 kHz when it is another rate). It carries this engine's music and effects, voice
        /// changer and capture and encode hooks.</summary>
        public void PublishAudio(string channel, int sampleRate, int channels)
        {
            Check(Interop.livestage_audio_publish(Live(), Name(channel), (uint)sampleRate, (uint)channels));
        }

        /// <summary>Pushes interleaved microphone samples (the first count of samples).</summary>
        public void PushAudio(string channel, float[] samples, int count)
        {
            if (count < 0 || count > samples.Length)
            {
                throw new ArgumentOutOfRangeException("count");
            }
            Check(Interop.livestage_audio_push(Live(), Name(channel), samples, (UIntPtr)count));
        }

        /// <summary>Stops publishing the microphone.</summary>
        public void UnpublishAudio(string channel)
        {
            Check(Interop.livestage_audio_unpublish(Live(), Name(channel)));
        }

        /// <summary>Audio thread: fills data with the mixed remote voice (channels interleaved)
        /// and returns how many samples carried voice, or a negative code (data is then
        /// untouched or silent). Never throws, allocates, locks or waits.</summary>
        public int ReadAudio(float[] data, int channels)
        {
            long h = Interlocked.Read(ref handle);
            if (h <= 0 || data == null || channels <= 0)
            {
                return Interop.LIVESTAGE_ERR_HANDLE;
            }
            return Interop.livestage_audio_read(h, data, (UIntPtr)data.Length, (uint)channels);
        }

        /// <summary>Microseconds since the Unix epoch on the clock capture stamps use.</summary>
        public static ulong NowUs()
        {
            return Interop.livestage_now_us();
        }

        /// <summary>Reads the test pattern's burned-in stamp from an RGBA picture.</summary>
        public static bool TryReadStamp(byte[] rgba, int width, int height, bool flipY, out Stamp stamp)
        {
            int code = Interop.livestage_read_stamp(rgba, (UIntPtr)rgba.Length, (uint)width, (uint)height,
                flipY ? Interop.LIVESTAGE_FLIP_Y : 0, out stamp);
            Check(code);
            return code == 1;
        }

        /// <summary>The SHA-256 fingerprint ("sha256:...") of the first certificate in a PEM text.</summary>
        public static string CertFingerprint(string pem)
        {
            byte[] buffer = new byte[80];
            UIntPtr size;
            Check(Interop.livestage_cert_fingerprint(Interop.Utf8(pem), buffer, (UIntPtr)buffer.Length, out size));
            return Encoding.ASCII.GetString(buffer, 0, (int)size.ToUInt64() - 1);
        }
    }
}
