// P/Invoke declarations of the Livestage C ABI (ffi/include/livestage.h), one to one.
// Strings go in as NUL-terminated UTF-8 byte arrays (see Utf8), never as .NET strings, so the
// encoding is the same on every platform. Prefer the Engine wrapper; these are for callers
// that need the raw calls.

using System;
using System.Runtime.InteropServices;

namespace Livestage.Native
{
    /// <summary>The raw C ABI. Every function returns a negative error code on failure.</summary>
    public static class Interop
    {
        /// <summary>The native library: livestage_ffi.dll, liblivestage_ffi.so or .dylib.</summary>
        public const string Library = "livestage_ffi";

        public const int LIVESTAGE_OK = 0;
        public const int LIVESTAGE_ERR_NULL = -1;
        public const int LIVESTAGE_ERR_HANDLE = -2;
        public const int LIVESTAGE_ERR_ARGUMENT = -3;
        public const int LIVESTAGE_ERR_BUFFER_TOO_SMALL = -4;
        public const int LIVESTAGE_ERR_NOT_JOINED = -5;
        public const int LIVESTAGE_ERR_NOT_FOUND = -6;
        public const int LIVESTAGE_ERR_NOT_PUBLISHING = -7;
        public const int LIVESTAGE_ERR_STATE = -8;
        public const int LIVESTAGE_ERR_BUSY = -9;
        public const int LIVESTAGE_ERR_INTERNAL = -10;
        public const int LIVESTAGE_ERR_PANIC = -11;
        public const int LIVESTAGE_ERR_UNAVAILABLE = -12;

        public const int LIVESTAGE_ROLE_AUDIENCE = 0;
        public const int LIVESTAGE_ROLE_HOST = 1;
        public const int LIVESTAGE_LAYER_NONE = 0;
        public const int LIVESTAGE_LAYER_HIGH = 1;
        public const int LIVESTAGE_LAYER_LOW = 2;
        public const int LIVESTAGE_MUTE_KEEP = -1;
        public const uint LIVESTAGE_PLAY_ON_DEVICE = 1;
        public const uint LIVESTAGE_FLIP_Y = 1;
        public const int LIVESTAGE_SOURCE_CAMERA = 0;
        public const int LIVESTAGE_SOURCE_SCREEN = 1;
        public const int LIVESTAGE_SOURCE_MICROPHONE = 2;
        public const int LIVESTAGE_SOURCE_CUSTOM = 3;
        public const int LIVESTAGE_SOURCE_MUSIC = 4;
        public const int LIVESTAGE_SOURCE_INJECT = 5;
        public const int LIVESTAGE_SCREEN_DISPLAY = 0;
        public const int LIVESTAGE_SCREEN_WINDOW = 1;
        public const int LIVESTAGE_SCREEN_REGION = 2;

        /// <summary>NUL-terminated UTF-8 for a string argument; null stays null.</summary>
        public static byte[] Utf8(string text)
        {
            if (text == null)
            {
                return null;
            }
            int length = System.Text.Encoding.UTF8.GetByteCount(text);
            byte[] bytes = new byte[length + 1];
            System.Text.Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern long livestage_engine_new(uint sampleRate, uint channels, uint flags);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_engine_free(long engine);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_join(long engine, byte[] server, byte[] cert, byte[] token,
            byte[] channel, int role, byte[] serverName);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_leave(long engine, byte[] channel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_set_role(long engine, byte[] channel, int role);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_raise_hand(long engine, byte[] channel, int raised);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_send_data(long engine, byte[] channel, byte[] data, UIntPtr len,
            byte[] to);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_renew_token(long engine, byte[] channel, byte[] token);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_subscribe(long engine, byte[] channel, byte[] user, int audio, int video);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_promote(long engine, byte[] channel, byte[] user);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_demote(long engine, byte[] channel, byte[] user);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_kick(long engine, byte[] channel, byte[] user);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_mute(long engine, byte[] channel, byte[] user, int audio, int video);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_set_hearing(long engine, byte[] channel, byte[] listener, byte[] hears);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_set_volume(long engine, byte[] channel, byte[] user, float volume);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_stats(long engine, byte[] channel, byte[] user, out Stats stats);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_stats_track(long engine, byte[] channel, byte[] user, byte track,
            out Stats stats);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern ulong livestage_now_us();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_cert_fingerprint(byte[] pem, byte[] buf, UIntPtr capacity,
            out UIntPtr size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_last_error(byte[] buf, UIntPtr capacity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_poll_event(long engine, byte[] buf, UIntPtr capacity, out UIntPtr size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_frame(long engine, byte[] channel, byte[] user, ulong lastSeq,
            uint flags, byte[] buf, UIntPtr capacity, out FrameInfo info);

        /// <summary>The same call into native memory (a NativeArray, a texture's buffer).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "livestage_video_frame")]
        public static extern int livestage_video_frame_ptr(long engine, byte[] channel, byte[] user, ulong lastSeq,
            uint flags, IntPtr buf, UIntPtr capacity, out FrameInfo info);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_frame_track(long engine, byte[] channel, byte[] user, byte track,
            ulong lastSeq, uint flags, byte[] buf, UIntPtr capacity, out FrameInfo info);

        /// <summary>The same call into native memory (a NativeArray, a texture's buffer).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "livestage_video_frame_track")]
        public static extern int livestage_video_frame_track_ptr(long engine, byte[] channel, byte[] user, byte track,
            ulong lastSeq, uint flags, IntPtr buf, UIntPtr capacity, out FrameInfo info);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_publish(long engine, byte[] channel, uint width, uint height,
            float fps, uint bitrateBps);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_push(long engine, byte[] channel, byte[] rgba, UIntPtr len,
            uint width, uint height, uint flags);

        /// <summary>The same call from native memory (an AsyncGPUReadback's NativeArray).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "livestage_video_push")]
        public static extern int livestage_video_push_ptr(long engine, byte[] channel, IntPtr rgba, UIntPtr len,
            uint width, uint height, uint flags);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_unpublish(long engine, byte[] channel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_publish_track(long engine, byte[] channel, byte track, int source,
            uint width, uint height, float fps, uint bitrateBps);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_push_track(long engine, byte[] channel, byte track, byte[] rgba,
            UIntPtr len, uint width, uint height, uint flags);

        /// <summary>The same call from native memory (an AsyncGPUReadback's NativeArray).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "livestage_video_push_track")]
        public static extern int livestage_video_push_track_ptr(long engine, byte[] channel, byte track, IntPtr rgba,
            UIntPtr len, uint width, uint height, uint flags);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_unpublish_track(long engine, byte[] channel, byte track);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_screens(byte[] buf, UIntPtr capacity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_screen_share(long engine, byte[] channel, int target, uint id, int x, int y,
            uint width, uint height, float fps);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_screen_stop(long engine, byte[] channel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_read_stamp(byte[] rgba, UIntPtr len, uint width, uint height, uint flags,
            out Stamp stamp);

        /// <summary>The one call for the audio thread: no allocation, lock or wait.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_audio_read(long engine, [In, Out] float[] output, UIntPtr len,
            uint channels);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_audio_publish(long engine, byte[] channel, uint sampleRate, uint channels);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_audio_push(long engine, byte[] channel, float[] samples, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_audio_unpublish(long engine, byte[] channel);

        /// <summary>The message of the last failed call on this thread.</summary>
        public static string LastError()
        {
            byte[] buffer = new byte[1024];
            int size = livestage_last_error(buffer, (UIntPtr)buffer.Length);
            if (size > buffer.Length)
            {
                buffer = new byte[size];
                size = livestage_last_error(buffer, (UIntPtr)buffer.Length);
            }
            return size > 0 ? System.Text.Encoding.UTF8.GetString(buffer, 0, size - 1) : "";
        }
    }

    /// <summary>What livestage_video_frame reports about the newest picture (LivestageFrame).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FrameInfo
    {
        public uint Width;
        public uint Height;
        public ulong Size;
        public ulong Seq;
        public ulong Frame;
        public ulong CaptureUs;
    }

    /// <summary>The test pattern's burned-in stamp (LivestageStamp).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stamp
    {
        public ulong FrameNumber;
        public ulong CaptureUs;
    }

    /// <summary>What was received from one publisher (LivestageStats).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stats
    {
        public ulong VideoFrames;
        public ulong VideoErrors;
        public ulong AudioPlayed;
        public ulong AudioRecovered;
        public ulong AudioConcealed;
        public float LevelDbfs;
    }
}
