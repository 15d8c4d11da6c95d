// The Viewer's raw video taps (--video-hooks FORMAT): a remote hook on every track that checks
// the frame numbers come in order, a renderer on every track in FORMAT (rgba or i420) that
// copies the newest picture, and I420 fetches of each camera. The report's video_hooks has what
// each saw; a copied RGBA picture's stamp shows the pixels arrived intact.

using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Livestage.Native;

namespace Livestage.Samples
{
    sealed class VideoTap
    {
        readonly PixelFormat format;
        // Written by the hook and the renderer on decoder threads.
        long hookCalls, outOfOrder, renderCalls;
        readonly Dictionary<ulong, ulong> lastFrame = new Dictionary<ulong, ulong>();
        string hookChannel;
        readonly object copyLock = new object();
        byte[] copy = new byte[0];
        int width, height, stride;
        // The main thread's I420 fetches, per camera.
        readonly Dictionary<string, VideoFrameI420> cameras = new Dictionary<string, VideoFrameI420>();
        long i420Frames;
        int i420Width, i420Height, i420Luma;

        public VideoTap(string format)
        {
            if (format != "rgba" && format != "i420")
            {
                throw new ArgumentException("--video-hooks takes rgba or i420");
            }
            this.format = format == "rgba" ? PixelFormat.Rgba : PixelFormat.I420;
        }

        bool Hook(VideoPicture picture)
        {
            Interlocked.Increment(ref hookCalls);
            hookChannel = picture.Channel;
            // One track per media id here (the cameras); its numbers go up one by one.
            ulong last;
            if (lastFrame.TryGetValue(picture.MediaId, out last) && picture.FrameNumber <= last)
            {
                Interlocked.Increment(ref outOfOrder);
            }
            lastFrame[picture.MediaId] = picture.FrameNumber;
            return true;
        }

        void Render(VideoPicture picture)
        {
            Interlocked.Increment(ref renderCalls);
            IntPtr pixels = picture.Format == PixelFormat.Rgba ? picture.Rgba : picture.Y;
            int rowStride = picture.Format == PixelFormat.Rgba ? picture.RgbaStride : picture.YStride;
            lock (copyLock)
            {
                if (copy.Length != rowStride * picture.Height)
                {
                    copy = new byte[rowStride * picture.Height];
                }
                Marshal.Copy(pixels, copy, 0, copy.Length);
                width = picture.Width;
                height = picture.Height;
                stride = rowStride;
            }
        }

        public void Start(Engine engine)
        {
            engine.SetVideoHook(VideoPoint.Remote, PixelFormat.I420, Hook);
            engine.SetVideoRenderer(format, Render);
        }

        /// <summary>Each game frame: the newest picture of a user's camera as I420.</summary>
        public void Fetch(Engine engine, string channel, string user)
        {
            VideoFrameI420 frame;
            if (!cameras.TryGetValue(user, out frame))
            {
                frame = new VideoFrameI420();
                cameras[user] = frame;
            }
            bool fresh;
            try
            {
                fresh = engine.TryGetVideoFrameI420(channel, user, Track.Camera, frame);
            }
            catch (LivestageException e)
            {
                if (e.Code == Interop.LIVESTAGE_ERR_NOT_FOUND)
                {
                    return; // Left since.
                }
                throw;
            }
            if (fresh)
            {
                i420Frames++;
                i420Width = frame.Width;
                i420Height = frame.Height;
                i420Luma = frame.Y[frame.Width * (frame.Height / 2) + frame.Width / 2];
            }
        }

        public Dictionary<string, object> Report(Engine engine)
        {
            // Removed: not called again, so the copy is final.
            engine.SetVideoHook(VideoPoint.Remote, PixelFormat.I420, null);
            engine.SetVideoRenderer(format, null);
            bool stamped = false;
            lock (copyLock)
            {
                Stamp stamp;
                stamped = format == PixelFormat.Rgba && copy.Length > 0 && stride == width * 4 &&
                    Engine.TryReadStamp(copy, width, height, false, out stamp);
            }
            return new Dictionary<string, object>
            {
                { "hook", new Dictionary<string, object>
                    {
                        { "calls", Interlocked.Read(ref hookCalls) },
                        { "out_of_order", Interlocked.Read(ref outOfOrder) },
                        { "channel", hookChannel },
                    }
                },
                { "renderer", new Dictionary<string, object>
                    {
                        { "calls", Interlocked.Read(ref renderCalls) },
                        { "format", format == PixelFormat.Rgba ? "rgba" : "i420" },
                        { "width", (long)width },
                        { "height", (long)height },
                        { "stride", (long)stride },
                        { "stamped", stamped },
                    }
                },
                { "i420", new Dictionary<string, object>
                    {
                        { "frames", i420Frames },
                        { "width", (long)i420Width },
                        { "height", (long)i420Height },
                        { "centre_luma", (long)i420Luma },
                    }
                },
            };
        }
    }
}
