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
        public const int LIVESTAGE_ERR_UNSUPPORTED = -13;
        public const int LIVESTAGE_ERR_IO = -14;

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
        public const ulong LIVESTAGE_DURATION_UNKNOWN = ulong.MaxValue;
        public const int LIVESTAGE_VOICE_OFF = 0;
        public const int LIVESTAGE_VOICE_HIGHER = 1;
        public const int LIVESTAGE_VOICE_LOWER = 2;
        public const int LIVESTAGE_VOICE_CHIPMUNK = 3;
        public const int LIVESTAGE_VOICE_GIANT = 4;
        public const int LIVESTAGE_VOICE_ROBOT = 5;
        public const int LIVESTAGE_VOICE_ROOM = 6;
        public const int LIVESTAGE_VOICE_PITCH = 7;
        public const int LIVESTAGE_HOOK_CAPTURE = 0;
        public const int LIVESTAGE_HOOK_ENCODE = 1;
        public const int LIVESTAGE_HOOK_REMOTE_VOICE = 2;
        public const int LIVESTAGE_HOOK_PLAYBACK = 3;
        public const int LIVESTAGE_VIDEO_LOCAL = 0;
        public const int LIVESTAGE_VIDEO_REMOTE = 1;
        public const int LIVESTAGE_PIXELS_I420 = 0;
        public const int LIVESTAGE_PIXELS_RGBA = 1;
        public const uint LIVESTAGE_VIDEO_REMOTE_BUDGET_MS = 33;
        public const int LIVESTAGE_CONTRAST_LOW = 0;
        public const int LIVESTAGE_CONTRAST_NORMAL = 1;
        public const int LIVESTAGE_CONTRAST_HIGH = 2;
        public const int LIVESTAGE_FILE_AUTO = 0;
        public const int LIVESTAGE_FILE_FORWARD = 1;
        public const int LIVESTAGE_FILE_DECODE = 2;

        /// <summary>LivestageAudioHookFn: called on an audio thread with a frame to read and
        /// rewrite in place. Pass a static method marked [MonoPInvokeCallback] (IL2CPP needs
        /// both), kept in a static field so the GC never collects it.</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void AudioHookFn(IntPtr samples, UIntPtr len, uint sampleRate, uint channels, int point,
            ulong mediaId, IntPtr userData);

        /// <summary>LivestageVideoHookFn: called on a media thread with a picture to read and
        /// rewrite in place; returns 1 to keep it, 0 to drop it. A static [MonoPInvokeCallback]
        /// method kept in a static field, as for AudioHookFn.</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate int VideoHookFn(ref NativeVideoFrame frame, IntPtr userData);

        /// <summary>LivestageVideoRendererFn: called on a decoder thread with a picture to read.</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void VideoRendererFn(ref NativeVideoFrame frame, IntPtr userData);

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

        /// <summary>A NUL-terminated UTF-8 string the library passed in; null for IntPtr.Zero.</summary>
        public static string FromUtf8(IntPtr text)
        {
            if (text == IntPtr.Zero)
            {
                return null;
            }
            int length = 0;
            while (Marshal.ReadByte(text, length) != 0)
            {
                length++;
            }
            byte[] bytes = new byte[length];
            Marshal.Copy(text, bytes, 0, length);
            return System.Text.Encoding.UTF8.GetString(bytes);
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
        public static extern int livestage_relay_start(long engine, byte[] channel, byte[] destinations);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_relay_update(long engine, byte[] channel, byte[] add, byte[] remove);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_relay_pause(long engine, byte[] channel, int paused);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_relay_stop(long engine, byte[] channel);

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
        public static extern int livestage_cameras(byte[] buf, UIntPtr capacity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_camera_publish(long engine, byte[] channel, int device, uint width,
            uint height, float fps);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_image_publish(long engine, byte[] channel, byte[] path, float fps);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_file_publish(long engine, byte[] channel, byte[] path, int looped,
            int mode);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern BeautyOptions livestage_beauty_options_default();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_beauty(long engine, ref BeautyOptions options);

        /// <summary>The same call with options a pointer: IntPtr.Zero turns beauty off.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "livestage_beauty")]
        public static extern int livestage_beauty_ptr(long engine, IntPtr options);

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

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern MusicOptions livestage_music_options_default();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_start(long engine, byte[] pathOrUrl, ref MusicOptions options);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_pause(long engine);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_resume(long engine);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_stop(long engine);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_seek(long engine, ulong ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_set_pitch(long engine, float semitones);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_set_speed(long engine, float speed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_set_volumes(long engine, float publish, float local);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_music_position(long engine, out ulong positionMs, out ulong durationMs);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern EffectOptions livestage_effect_options_default();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_effect_preload(long engine, uint id, byte[] pathOrUrl);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_effect_play(long engine, uint id, ref EffectOptions options);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_effect_stop(long engine, uint id);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_effect_stop_all(long engine);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_effect_unload(long engine, uint id);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_voice_preset(long engine, int preset, float semitones);

        public const uint LIVESTAGE_PROCESSING_ECHO = 1;
        public const uint LIVESTAGE_PROCESSING_NOISE = 2;
        public const uint LIVESTAGE_PROCESSING_GAIN = 4;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_voice_processing(long engine, uint stages);

        /// <summary>Installs a hook (callback and userData valid until it is replaced or
        /// removed), or removes it with a null callback.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_audio_hook(long engine, int point, ref HookFormat format,
            AudioHookFn callback, IntPtr userData);

        /// <summary>The same call with format a pointer: IntPtr.Zero for the path's own format.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "livestage_audio_hook")]
        public static extern int livestage_audio_hook_ptr(long engine, int point, IntPtr format,
            AudioHookFn callback, IntPtr userData);

        /// <summary>Installs a video hook (callback and userData valid until it is replaced or
        /// removed), or removes it with a null callback; channel null: local, or every remote track.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_hook(long engine, int point, byte[] channel, byte[] user, byte track,
            int format, VideoHookFn callback, IntPtr userData);

        /// <summary>Installs a custom renderer, or removes it with a null callback.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_renderer(long engine, byte[] channel, byte[] user, byte track,
            int format, VideoRendererFn callback, IntPtr userData);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int livestage_video_frame_i420(long engine, byte[] channel, byte[] user, byte track,
            ulong lastSeq, uint flags, ref Planes planes, out FrameInfo info);

        /// <summary>The same call with planes a pointer: IntPtr.Zero asks for the size.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "livestage_video_frame_i420")]
        public static extern int livestage_video_frame_i420_ptr(long engine, byte[] channel, byte[] user, byte track,
            ulong lastSeq, uint flags, IntPtr planes, out FrameInfo info);

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

    /// <summary>A picture handed to a video hook or renderer (LivestageVideoFrame): the engine's
    /// memory, valid only during the call.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct NativeVideoFrame
    {
        public IntPtr Y;
        public IntPtr U;
        public IntPtr V;
        public IntPtr Rgba;
        /// <summary>NUL-terminated UTF-8; the same pointer for the same channel while installed.</summary>
        public IntPtr Channel;
        public ulong Frame;
        public ulong CaptureUs;
        public ulong MediaId;
        public uint Width;
        public uint Height;
        public uint YStride;
        public uint UStride;
        public uint VStride;
        public uint RgbaStride;
        public int Format;
        public int Point;
        public byte Track;
    }

    /// <summary>The caller's buffers for an I420 picture's planes (LivestagePlanes); a stride
    /// of 0 is the plane's width.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Planes
    {
        public IntPtr Y;
        public IntPtr U;
        public IntPtr V;
        public UIntPtr YCapacity;
        public UIntPtr UCapacity;
        public UIntPtr VCapacity;
        public uint YStride;
        public uint UStride;
        public uint VStride;
    }

    /// <summary>The test pattern's burned-in stamp (LivestageStamp).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stamp
    {
        public ulong FrameNumber;
        public ulong CaptureUs;
    }

    /// <summary>How to play music (LivestageMusicOptions). Start from MusicOptions.Default.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MusicOptions
    {
        /// <summary>Where the first play starts, in milliseconds (later loops start at 0).</summary>
        public ulong StartMs;
        /// <summary>How many times to play it; 0 plays it until stopped.</summary>
        public uint Loops;
        /// <summary>Pitch shift in semitones, -12 to +12, the speed unchanged.</summary>
        public float Pitch;
        /// <summary>Playback speed, 0.5 to 4.0, the pitch unchanged.</summary>
        public float Speed;
        /// <summary>How loud the channel hears it, 0 to 1.</summary>
        public float PublishVolume;
        /// <summary>How loud this player hears it (in ReadAudio), 0 to 1.</summary>
        public float LocalVolume;
        /// <summary>1: only this player hears it, nothing is sent; 0: the channel hears it too.</summary>
        public int LocalOnly;

        /// <summary>Once from the start, no pitch shift, normal speed, full volume for both.</summary>
        public static MusicOptions Default
        {
            get { return Interop.livestage_music_options_default(); }
        }
    }

    /// <summary>How to play a sound effect (LivestageEffectOptions). Start from EffectOptions.Default.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct EffectOptions
    {
        /// <summary>Loudness, 0 to 1.</summary>
        public float Volume;
        /// <summary>How many times to play it; 0 plays it until stopped.</summary>
        public uint Loops;
        /// <summary>Playback rate, 0.5 to 2.0: 2.0 is an octave up and twice as fast.</summary>
        public float Pitch;
        /// <summary>-1 hard left to 1 hard right.</summary>
        public float Pan;
        /// <summary>1: the channel hears it too; 0: only this player.</summary>
        public int Publish;

        /// <summary>Once, full volume, normal pitch, centred, heard by the channel.</summary>
        public static EffectOptions Default
        {
            get { return Interop.livestage_effect_options_default(); }
        }
    }

    /// <summary>The beauty effects (LivestageBeautyOptions): each strength 0 (off) to 1
    /// (strongest). Start from BeautyOptions.Default.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BeautyOptions
    {
        /// <summary>How much skin is smoothed (edges, eyes, hair and the background are kept).</summary>
        public float Smoothness;
        /// <summary>How much skin is brightened.</summary>
        public float Lightening;
        /// <summary>The shape of the lightening curve; no effect while Lightening is 0.</summary>
        public BeautyContrast Contrast;
        /// <summary>How much redder skin gets.</summary>
        public float Redness;
        /// <summary>How much the whole picture is sharpened.</summary>
        public float Sharpness;

        /// <summary>Every effect off, normal contrast.</summary>
        public static BeautyOptions Default
        {
            get { return Interop.livestage_beauty_options_default(); }
        }
    }

    /// <summary>The format a raw audio hook gets its frames in (LivestageHookFormat).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct HookFormat
    {
        /// <summary>8000, 16000, 24000, 32000, 44100 or 48000.</summary>
        public uint SampleRate;
        /// <summary>1 or 2 (interleaved).</summary>
        public uint Channels;
        /// <summary>10 or 20 milliseconds a frame.</summary>
        public uint FrameMs;

        public HookFormat(int sampleRate, int channels, int frameMs)
        {
            SampleRate = (uint)sampleRate;
            Channels = (uint)channels;
            FrameMs = (uint)frameMs;
        }

        /// <summary>Interleaved samples in one frame.</summary>
        public int FrameLength
        {
            get { return (int)(SampleRate * FrameMs / 1000 * Channels); }
        }
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
