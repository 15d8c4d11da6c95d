// Raw video: hooks that read, rewrite or drop pictures (every video this engine publishes, or
// the remote pictures it decodes), custom renderers that get every decoded remote picture, and
// fetching the newest picture as I420 planes.
//
// Hooks and renderers run on the engine's media threads: the C ABI calls one static method per
// kind (marked [MonoPInvokeCallback], as IL2CPP requires) with a GCHandle to the installed
// delegate as its user data. The delegate gets a VideoPicture pointing at the engine's memory,
// nothing copied: read it with Marshal.Copy or Texture2D.LoadRawTextureData(IntPtr, size), or
// rewrite it in place from a hook. A delegate that throws is not called again; TryPollEvent
// then removes it and reports a video_hook_removed event.

using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Livestage.Native
{
    /// <summary>Where a video hook sits (LIVESTAGE_VIDEO_*).</summary>
    public enum VideoPoint
    {
        /// <summary>Every video this engine publishes, before it is encoded.</summary>
        Local = Interop.LIVESTAGE_VIDEO_LOCAL,
        /// <summary>Remote video as it is decoded, before renderers and TryGetFrame.</summary>
        Remote = Interop.LIVESTAGE_VIDEO_REMOTE,
    }

    /// <summary>The pixel format a hook or renderer gets (LIVESTAGE_PIXELS_*).</summary>
    public enum PixelFormat
    {
        /// <summary>Planar YUV 4:2:0 (BT.601, limited range): Y, then U and V at half size.
        /// Nothing is converted.</summary>
        I420 = Interop.LIVESTAGE_PIXELS_I420,
        /// <summary>RGBA, 4 bytes a pixel, rows top to bottom.</summary>
        Rgba = Interop.LIVESTAGE_PIXELS_RGBA,
    }

    /// <summary>A picture handed to a video hook or renderer. The pointers are the engine's
    /// memory, valid only until the delegate returns; a hook may rewrite the pixels in place
    /// (the size cannot change), a renderer must only read them.</summary>
    public struct VideoPicture
    {
        public VideoPoint Point;
        public PixelFormat Format;
        public int Width;
        public int Height;
        /// <summary>I420: the planes (Height rows of YStride bytes; Height / 2 rows of UStride
        /// and VStride bytes). IntPtr.Zero for RGBA.</summary>
        public IntPtr Y, U, V;
        public int YStride, UStride, VStride;
        /// <summary>RGBA: Height rows of RgbaStride bytes. IntPtr.Zero for I420.</summary>
        public IntPtr Rgba;
        public int RgbaStride;
        /// <summary>The publisher's frame number (its tick, for a local picture).</summary>
        public ulong FrameNumber;
        /// <summary>Capture time on the publisher's clock, microseconds since the Unix epoch.</summary>
        public ulong CaptureUs;
        /// <summary>A remote picture's channel; null for a local one.</summary>
        public string Channel;
        /// <summary>A remote picture's publisher (Participant.MediaId); 0 for a local one.</summary>
        public ulong MediaId;
        /// <summary>A remote picture's track id; 0 for a local one.</summary>
        public byte Track;
    }

    /// <summary>A raw video hook: reads and may rewrite the picture in place; returns false to
    /// drop it (a local picture is not sent, a remote one not shown). Media thread, within a
    /// budget (one frame interval locally, 33 ms remotely): no waits, and no Engine calls.</summary>
    public delegate bool VideoHook(VideoPicture picture);

    /// <summary>A custom renderer: reads one decoded remote picture (copy what it needs). Decoder
    /// thread: no waits, and no Engine calls.</summary>
    public delegate void VideoRenderer(VideoPicture picture);

    /// <summary>A remote user's newest picture as I420 planes (TryGetVideoFrameI420), tightly
    /// packed: Y is Height rows of Width bytes, U and V Height / 2 rows of Width / 2 bytes.</summary>
    public sealed class VideoFrameI420
    {
        /// <summary>The planes; reallocated when too small for the picture.</summary>
        public byte[] Y = new byte[0], U = new byte[0], V = new byte[0];
        public int Width;
        public int Height;
        /// <summary>Changes exactly when a newer picture is copied in (0: none yet).</summary>
        public ulong Seq;
        public ulong FrameNumber;
        public ulong CaptureUs;
    }

    /// <summary>What a video_hook_removed event says: which hook or renderer the engine removed
    /// (it overran its budget, or the C# delegate threw); it is not called again.</summary>
    public sealed class VideoHookRemoval
    {
        public VideoPoint Point;
        /// <summary>A renderer, not a hook.</summary>
        public bool Renderer;
        /// <summary>The track it was installed for; null Channel for the local hook and for
        /// every remote track.</summary>
        public string Channel;
        public string User;
        public byte Track;
        public string Reason;

        /// <summary>The removal a video_hook_removed event tells; null for other events.</summary>
        public static VideoHookRemoval From(LivestageEvent ev)
        {
            if (ev.Type != "video_hook_removed")
            {
                return null;
            }
            return new VideoHookRemoval
            {
                Point = ev.GetString("point") == "local" ? VideoPoint.Local : VideoPoint.Remote,
                Renderer = ev.GetBool("renderer"),
                Channel = ev.Channel,
                User = ev.GetString("user"),
                Track = (byte)ev.GetULong("track"),
                Reason = ev.GetString("reason"),
            };
        }
    }

    public sealed partial class Engine
    {
        /// <summary>One installed video hook or renderer: the app's delegate and where it is.</summary>
        sealed class InstalledVideo
        {
            public VideoHook Hook;
            public VideoRenderer Renderer;
            public VideoPoint Point;
            public string Channel;
            public string User;
            public byte Track;
            public GCHandle Handle;
            /// <summary>What the delegate threw; it is not called again.</summary>
            public volatile Exception Failure;
            /// <summary>Channel names by the engine's pointer (stable while installed); used
            /// only by the calls, which never overlap.</summary>
            readonly Dictionary<IntPtr, string> channels = new Dictionary<IntPtr, string>();

            public VideoPicture Picture(ref NativeVideoFrame frame)
            {
                string channel = null;
                if (frame.Channel != IntPtr.Zero && !channels.TryGetValue(frame.Channel, out channel))
                {
                    channel = Interop.FromUtf8(frame.Channel);
                    channels[frame.Channel] = channel;
                }
                return new VideoPicture
                {
                    Point = (VideoPoint)frame.Point,
                    Format = (PixelFormat)frame.Format,
                    Width = (int)frame.Width,
                    Height = (int)frame.Height,
                    Y = frame.Y,
                    U = frame.U,
                    V = frame.V,
                    YStride = (int)frame.YStride,
                    UStride = (int)frame.UStride,
                    VStride = (int)frame.VStride,
                    Rgba = frame.Rgba,
                    RgbaStride = (int)frame.RgbaStride,
                    FrameNumber = frame.Frame,
                    CaptureUs = frame.CaptureUs,
                    Channel = channel,
                    MediaId = frame.MediaId,
                    Track = frame.Track,
                };
            }
        }

        readonly Dictionary<string, InstalledVideo> videoHooks = new Dictionary<string, InstalledVideo>();

        // The function pointers handed to the C ABI, alive as long as the process.
        static readonly Interop.VideoHookFn VideoHookTrampoline = RunVideoHook;
        static readonly Interop.VideoRendererFn VideoRendererTrampoline = RunVideoRenderer;

        [MonoPInvokeCallback(typeof(Interop.VideoHookFn))]
        static int RunVideoHook(ref NativeVideoFrame frame, IntPtr userData)
        {
            var hook = GCHandle.FromIntPtr(userData).Target as InstalledVideo;
            if (hook == null || hook.Failure != null)
            {
                return 1;
            }
            try
            {
                return hook.Hook(hook.Picture(ref frame)) ? 1 : 0;
            }
            catch (Exception e)
            {
                // An exception must not cross into native code: the picture goes on as it is.
                hook.Failure = e;
                return 1;
            }
        }

        [MonoPInvokeCallback(typeof(Interop.VideoRendererFn))]
        static void RunVideoRenderer(ref NativeVideoFrame frame, IntPtr userData)
        {
            var renderer = GCHandle.FromIntPtr(userData).Target as InstalledVideo;
            if (renderer == null || renderer.Failure != null)
            {
                return;
            }
            try
            {
                renderer.Renderer(renderer.Picture(ref frame));
            }
            catch (Exception e)
            {
                renderer.Failure = e;
            }
        }

        /// <summary>Where a hook or renderer is installed, as a key: the event that reports it
        /// removed names the same.</summary>
        static string VideoSlot(VideoPoint point, bool renderer, string channel, string user, byte track)
        {
            string kind = renderer ? "renderer" : point == VideoPoint.Local ? "local" : "remote";
            return channel == null ? kind : kind + "\n" + channel + "\n" + user + "\n" + track;
        }

        /// <summary>Installs hook on every video this engine publishes (Local; channel null) or on
        /// the remote pictures of one user's track (Remote; channel null: every track without a
        /// hook of its own), replacing the one there, or removes it with null. The delegate
        /// stays referenced until it is replaced, removed or reported removed, and after this
        /// returns the one it replaced is not called again. A hook slower than its budget 5
        /// pictures in a row, or one that throws, is removed and reported by a
        /// video_hook_removed event.</summary>
        public void SetVideoHook(VideoPoint point, string channel, string user, byte track, PixelFormat format,
            VideoHook hook)
        {
            SetVideo(point, false, channel, user, track, format, hook, null);
        }

        /// <summary>SetVideoHook for the local hook (Local) or for every remote track (Remote).</summary>
        public void SetVideoHook(VideoPoint point, PixelFormat format, VideoHook hook)
        {
            SetVideo(point, false, null, null, 0, format, hook, null);
        }

        /// <summary>Installs renderer on every decoded picture of one user's track (channel null:
        /// every track without a renderer of its own), replacing the one there, or removes it
        /// with null; as SetVideoHook. It runs beside TryGetFrame, which still works.</summary>
        public void SetVideoRenderer(string channel, string user, byte track, PixelFormat format,
            VideoRenderer renderer)
        {
            SetVideo(VideoPoint.Remote, true, channel, user, track, format, null, renderer);
        }

        /// <summary>SetVideoRenderer for every remote track.</summary>
        public void SetVideoRenderer(PixelFormat format, VideoRenderer renderer)
        {
            SetVideo(VideoPoint.Remote, true, null, null, 0, format, null, renderer);
        }

        void SetVideo(VideoPoint point, bool isRenderer, string channel, string user, byte track, PixelFormat format,
            VideoHook hook, VideoRenderer renderer)
        {
            long h = Live();
            byte[] c = channel == null ? null : Name(channel);
            byte[] u = user == null ? null : Name(user);
            string slot = VideoSlot(point, isRenderer, channel, user, track);
            InstalledVideo installed = null;
            if (hook != null || renderer != null)
            {
                installed = new InstalledVideo
                {
                    Hook = hook,
                    Renderer = renderer,
                    Point = point,
                    Channel = channel,
                    User = user,
                    Track = track,
                };
                installed.Handle = GCHandle.Alloc(installed);
            }
            IntPtr data = installed == null ? IntPtr.Zero : GCHandle.ToIntPtr(installed.Handle);
            int code;
            lock (videoHooks)
            {
                if (isRenderer)
                {
                    code = Interop.livestage_video_renderer(h, c, u, track, (int)format,
                        installed == null ? null : VideoRendererTrampoline, data);
                }
                else
                {
                    code = Interop.livestage_video_hook(h, (int)point, c, u, track, (int)format,
                        installed == null ? null : VideoHookTrampoline, data);
                }
                if (code < 0)
                {
                    if (installed != null)
                    {
                        installed.Handle.Free();
                    }
                }
                else
                {
                    ForgetVideo(slot);
                    if (installed != null)
                    {
                        videoHooks[slot] = installed;
                    }
                }
            }
            Check(code);
        }

        /// <summary>Frees the hook or renderer at slot: the engine no longer calls it.</summary>
        void ForgetVideo(string slot)
        {
            InstalledVideo old;
            if (videoHooks.TryGetValue(slot, out old))
            {
                videoHooks.Remove(slot);
                old.Handle.Free();
            }
        }

        /// <summary>A hook or renderer whose delegate threw, removed now and told as a
        /// video_hook_removed event; null when none did.</summary>
        LivestageEvent TakeFailedVideoHook()
        {
            InstalledVideo failed = null;
            lock (videoHooks)
            {
                foreach (InstalledVideo video in videoHooks.Values)
                {
                    if (video.Failure != null)
                    {
                        failed = video;
                        break;
                    }
                }
            }
            if (failed == null)
            {
                return null;
            }
            bool isRenderer = failed.Renderer != null;
            SetVideo(failed.Point, isRenderer, failed.Channel, failed.User, failed.Track, PixelFormat.I420, null, null);
            bool all = failed.Channel == null;
            var fields = new Dictionary<string, object>
            {
                { "type", "video_hook_removed" },
                { "channel", failed.Channel },
                { "point", failed.Point == VideoPoint.Local ? "local" : "remote" },
                { "renderer", isRenderer },
                { "user", failed.User },
                { "media_id", null },
                { "track", all ? null : (object)(long)failed.Track },
                { "reason", "the C# video " + (isRenderer ? "renderer" : "hook") + " threw: " +
                    failed.Failure.GetType().Name + ": " + failed.Failure.Message },
            };
            return new LivestageEvent(Json.Serialize(fields));
        }

        /// <summary>Keeps the installed video hooks in step with a video_hook_removed event.</summary>
        void ObserveVideo(LivestageEvent ev)
        {
            VideoHookRemoval removed = VideoHookRemoval.From(ev);
            if (removed == null)
            {
                return;
            }
            string slot = VideoSlot(removed.Point, removed.Renderer, removed.Channel, removed.User, removed.Track);
            lock (videoHooks)
            {
                ForgetVideo(slot);
            }
        }

        /// <summary>After the engine is freed nothing calls the video hooks: let them go.</summary>
        void ReleaseVideoHooks()
        {
            lock (videoHooks)
            {
                foreach (InstalledVideo video in videoHooks.Values)
                {
                    video.Handle.Free();
                }
                videoHooks.Clear();
            }
        }

        /// <summary>Copies the newest picture of one of a user's video tracks into frame's planes
        /// as I420 (the decoder's own format: nothing converted) when it is newer than frame.Seq;
        /// true when it did. Planes too small for the picture are reallocated. Use one
        /// VideoFrameI420 per track; its Seq counts the same pictures as TryGetFrame's. flipY
        /// gives rows bottom to top. Throws for a user not in the channel.</summary>
        public bool TryGetVideoFrameI420(string channel, string user, byte track, VideoFrameI420 frame,
            bool flipY = false)
        {
            uint flags = flipY ? Interop.LIVESTAGE_FLIP_Y : 0;
            FrameInfo info;
            int code = FetchI420(channel, user, track, frame, flags, out info);
            if (code == Interop.LIVESTAGE_ERR_BUFFER_TOO_SMALL)
            {
                int width = (int)info.Width, height = (int)info.Height;
                frame.Y = new byte[width * height];
                frame.U = new byte[width / 2 * (height / 2)];
                frame.V = new byte[width / 2 * (height / 2)];
                code = FetchI420(channel, user, track, frame, flags, out info);
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

        int FetchI420(string channel, string user, byte track, VideoFrameI420 frame, uint flags, out FrameInfo info)
        {
            GCHandle y = GCHandle.Alloc(frame.Y, GCHandleType.Pinned);
            GCHandle u = GCHandle.Alloc(frame.U, GCHandleType.Pinned);
            GCHandle v = GCHandle.Alloc(frame.V, GCHandleType.Pinned);
            try
            {
                var planes = new Planes
                {
                    Y = y.AddrOfPinnedObject(),
                    U = u.AddrOfPinnedObject(),
                    V = v.AddrOfPinnedObject(),
                    YCapacity = (UIntPtr)frame.Y.Length,
                    UCapacity = (UIntPtr)frame.U.Length,
                    VCapacity = (UIntPtr)frame.V.Length,
                };
                return Interop.livestage_video_frame_i420(Live(), Name(channel), Name(user), track, frame.Seq, flags,
                    ref planes, out info);
            }
            finally
            {
                y.Free();
                u.Free();
                v.Free();
            }
        }
    }
}
