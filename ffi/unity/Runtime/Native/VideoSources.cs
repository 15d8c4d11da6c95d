// Video the engine makes itself, published as the camera track: a webcam, a picture or a video
// file; and the beauty effects on every picture the engine publishes. UnpublishVideo stops
// any of them; a camera unplugged or a file played to its end ends the track with a
// track_ended event.

using System.Collections.Generic;
using System.Text;

namespace Livestage.Native
{
    /// <summary>The contrast of the beauty lightening curve (LIVESTAGE_CONTRAST_*).</summary>
    public enum BeautyContrast
    {
        /// <summary>Flatter: lifts shadows more, highlights less.</summary>
        Low = Interop.LIVESTAGE_CONTRAST_LOW,
        /// <summary>A plain lift of the mid-tones.</summary>
        Normal = Interop.LIVESTAGE_CONTRAST_NORMAL,
        /// <summary>Steeper: bright skin gets brighter and shadows keep their depth.</summary>
        High = Interop.LIVESTAGE_CONTRAST_HIGH,
    }

    /// <summary>How a video file is published (LIVESTAGE_FILE_*).</summary>
    public enum VideoFileMode
    {
        /// <summary>Forward when the file allows it and nothing processes the pictures as it
        /// starts (beauty, a local video hook), else decode.</summary>
        Auto = Interop.LIVESTAGE_FILE_AUTO,
        /// <summary>The file's H.264 as it is: no encoder, no low layer.</summary>
        Forward = Interop.LIVESTAGE_FILE_FORWARD,
        /// <summary>Decoded and encoded again, so beauty and the local video hook apply.</summary>
        Decode = Interop.LIVESTAGE_FILE_DECODE,
    }

    /// <summary>One pixel format at one size a camera offers, with its frame rates.</summary>
    public sealed class CameraMode
    {
        /// <summary>"MJPEG", "YUYV", "NV12" or another FourCC.</summary>
        public string Format;
        public int Width;
        public int Height;
        public readonly List<float> Fps = new List<float>();
    }

    /// <summary>A webcam that can be published (Engine.Cameras).</summary>
    public sealed class CameraDevice
    {
        /// <summary>What PublishCamera takes.</summary>
        public int Index;
        public string Name;
        /// <summary>Where it is, e.g. "/dev/video0".</summary>
        public string Path;
        public readonly List<CameraMode> Modes = new List<CameraMode>();

        /// <summary>Parses the JSON livestage_cameras writes.</summary>
        public static List<CameraDevice> Parse(string json)
        {
            var result = new List<CameraDevice>();
            var fields = Json.Parse(json) as Dictionary<string, object>;
            object value;
            if (fields == null || !fields.TryGetValue("cameras", out value) || !(value is List<object>))
            {
                return result;
            }
            foreach (object item in (List<object>)value)
            {
                var c = item as Dictionary<string, object>;
                if (c == null)
                {
                    continue;
                }
                var camera = new CameraDevice
                {
                    Index = (int)LivestageEvent.AsULong(c, "index"),
                    Name = LivestageEvent.AsString(c, "name"),
                    Path = LivestageEvent.AsString(c, "path"),
                };
                object modes;
                if (c.TryGetValue("modes", out modes) && modes is List<object>)
                {
                    foreach (object m in (List<object>)modes)
                    {
                        var fieldsOfMode = m as Dictionary<string, object>;
                        if (fieldsOfMode != null)
                        {
                            camera.Modes.Add(ParseMode(fieldsOfMode));
                        }
                    }
                }
                result.Add(camera);
            }
            return result;
        }

        static CameraMode ParseMode(Dictionary<string, object> m)
        {
            var mode = new CameraMode
            {
                Format = LivestageEvent.AsString(m, "format"),
                Width = (int)LivestageEvent.AsULong(m, "width"),
                Height = (int)LivestageEvent.AsULong(m, "height"),
            };
            object rates;
            if (m.TryGetValue("fps", out rates) && rates is List<object>)
            {
                foreach (object rate in (List<object>)rates)
                {
                    if (rate is double)
                    {
                        mode.Fps.Add((float)(double)rate);
                    }
                    else if (rate is long)
                    {
                        mode.Fps.Add((long)rate);
                    }
                }
            }
            return mode;
        }
    }

    public sealed partial class Engine
    {
        /// <summary>The webcams that can be published. Throws LivestageException with
        /// LIVESTAGE_ERR_UNAVAILABLE (camera_unavailable) when none can be used here, with the
        /// reason.</summary>
        public static List<CameraDevice> Cameras()
        {
            byte[] buffer = new byte[16 * 1024];
            int size = Interop.livestage_cameras(buffer, (System.UIntPtr)buffer.Length);
            if (size > buffer.Length)
            {
                buffer = new byte[size];
                size = Interop.livestage_cameras(buffer, (System.UIntPtr)buffer.Length);
            }
            Check(size);
            return CameraDevice.Parse(Encoding.UTF8.GetString(buffer, 0, size - 1));
        }

        /// <summary>Publishes a webcam (an index from Cameras(), -1 for the first) as the camera
        /// track, at most width x height (0 x 0: the camera's own size, asking for 1280x720) at
        /// the rate it offers nearest fps (1 to 60). Throws with LIVESTAGE_ERR_UNAVAILABLE when
        /// no camera can be used here and LIVESTAGE_ERR_ARGUMENT for an index that does not
        /// exist; UnpublishVideo stops it.</summary>
        public void PublishCamera(string channel, int device = -1, int width = 0, int height = 0, float fps = 30)
        {
            Check(Interop.livestage_camera_publish(Live(), Name(channel), device, (uint)width, (uint)height, fps));
        }

        /// <summary>Publishes a PNG or JPEG picture as the camera track, sent fps times a second
        /// (1 to 60). Throws with LIVESTAGE_ERR_ARGUMENT when it cannot be read or decoded;
        /// UnpublishVideo stops it.</summary>
        public void PublishImage(string channel, string path, float fps = 2)
        {
            Check(Interop.livestage_image_publish(Live(), Name(channel), Interop.Utf8(path), fps));
        }

        /// <summary>Publishes a video file (MP4 or Matroska with H.264) as the camera track in
        /// real time, looped or once (then a track_ended event tells its end). Throws with
        /// LIVESTAGE_ERR_ARGUMENT when it cannot be played (or forwarded, for Forward);
        /// UnpublishVideo stops it.</summary>
        public void PublishFile(string channel, string path, bool looped = false,
            VideoFileMode mode = VideoFileMode.Auto)
        {
            Check(Interop.livestage_file_publish(Live(), Name(channel), Interop.Utf8(path), looped ? 1 : 0,
                (int)mode));
        }

        /// <summary>Sets the beauty effects on every picture this engine publishes, now and for
        /// publishers started later; null turns them off. Throws with LIVESTAGE_ERR_ARGUMENT,
        /// naming the field, for a strength outside 0 to 1; nothing changes then.</summary>
        public void SetBeauty(BeautyOptions? options)
        {
            if (!options.HasValue)
            {
                Check(Interop.livestage_beauty_ptr(Live(), System.IntPtr.Zero));
                return;
            }
            BeautyOptions o = options.Value;
            Check(Interop.livestage_beauty(Live(), ref o));
        }
    }
}
