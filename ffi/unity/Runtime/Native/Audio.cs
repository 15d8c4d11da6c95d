// This engine's own audio: music and sound effects that the channel hears under the voice of
// every voice publisher and this player hears in ReadAudio, the voice changer, and raw audio
// hooks that read and rewrite the audio at four points of its path.
//
// Hooks run on the engine's audio threads: the C ABI calls one static method (marked
// [MonoPInvokeCallback], as IL2CPP requires) with a GCHandle to the installed hook as its
// user data; it copies the frame into a buffer allocated at install time, calls the app's
// delegate and copies the frame back, allocating nothing. A delegate that throws is not called
// again; TryPollEvent then removes it and reports an audio_hook_removed event.

using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Livestage.Native
{
    /// <summary>The voice changer's presets (LIVESTAGE_VOICE_*).</summary>
    public enum VoicePreset
    {
        /// <summary>The voice as it is.</summary>
        Off = Interop.LIVESTAGE_VOICE_OFF,
        /// <summary>Four semitones up.</summary>
        Higher = Interop.LIVESTAGE_VOICE_HIGHER,
        /// <summary>Four semitones down.</summary>
        Lower = Interop.LIVESTAGE_VOICE_LOWER,
        /// <summary>Nine semitones up, formants up.</summary>
        Chipmunk = Interop.LIVESTAGE_VOICE_CHIPMUNK,
        /// <summary>Seven semitones down, formants down.</summary>
        Giant = Interop.LIVESTAGE_VOICE_GIANT,
        /// <summary>Metallic: ring-modulated at 50 Hz.</summary>
        Robot = Interop.LIVESTAGE_VOICE_ROBOT,
        /// <summary>A small room with a slap-back echo.</summary>
        Room = Interop.LIVESTAGE_VOICE_ROOM,
        /// <summary>A free pitch shift in semitones (SetVoicePreset's semitones).</summary>
        Pitch = Interop.LIVESTAGE_VOICE_PITCH,
    }

    /// <summary>Where a raw audio hook sits (LIVESTAGE_HOOK_*).</summary>
    public enum HookPoint
    {
        /// <summary>The pushed microphone, before the voice changer, music and effects.</summary>
        Capture = Interop.LIVESTAGE_HOOK_CAPTURE,
        /// <summary>What is about to be encoded: the voice with music and effects.</summary>
        Encode = Interop.LIVESTAGE_HOOK_ENCODE,
        /// <summary>Each remote user's decoded voice (AudioHookInfo.MediaId says whose).</summary>
        RemoteVoice = Interop.LIVESTAGE_HOOK_REMOTE_VOICE,
        /// <summary>The mix as it goes to ReadAudio: remote voices and this player's music.</summary>
        Playback = Interop.LIVESTAGE_HOOK_PLAYBACK,
    }

    /// <summary>About the frame a hook gets.</summary>
    public struct AudioHookInfo
    {
        public HookPoint Point;
        public int SampleRate;
        public int Channels;
        /// <summary>The remote user's media id at RemoteVoice, else 0.</summary>
        public ulong MediaId;
    }

    /// <summary>A raw audio hook: reads and may rewrite samples (one interleaved frame in the
    /// format it was installed with) in place. Audio thread: no allocation, locks or waits; do
    /// not call the Engine from it.</summary>
    public delegate void AudioHook(float[] samples, AudioHookInfo info);

    public sealed partial class Engine
    {
        /// <summary>One installed hook: the app's delegate and the frame it is handed.</summary>
        sealed class InstalledHook
        {
            public AudioHook Callback;
            public HookPoint Point;
            public float[] Buffer;
            public GCHandle Handle;
            /// <summary>What the delegate threw; it is not called again.</summary>
            public volatile Exception Failure;
        }

        readonly Dictionary<HookPoint, InstalledHook> hooks = new Dictionary<HookPoint, InstalledHook>();
        readonly int mixChannels;

        // The one function pointer handed to the C ABI, alive as long as the process.
        static readonly Interop.AudioHookFn HookTrampoline = RunHook;

        [MonoPInvokeCallback(typeof(Interop.AudioHookFn))]
        static void RunHook(IntPtr samples, UIntPtr len, uint sampleRate, uint channels, int point, ulong mediaId,
            IntPtr userData)
        {
            var hook = GCHandle.FromIntPtr(userData).Target as InstalledHook;
            int count = (int)len.ToUInt64();
            if (hook == null || hook.Failure != null || count != hook.Buffer.Length)
            {
                return;
            }
            Marshal.Copy(samples, hook.Buffer, 0, count);
            try
            {
                hook.Callback(hook.Buffer, new AudioHookInfo
                {
                    Point = (HookPoint)point,
                    SampleRate = (int)sampleRate,
                    Channels = (int)channels,
                    MediaId = mediaId,
                });
            }
            catch (Exception e)
            {
                // An exception must not cross into native code: the frame stays as it was.
                hook.Failure = e;
                return;
            }
            Marshal.Copy(hook.Buffer, 0, samples, count);
        }

        /// <summary>Plays music from a path or an http(s) URL (MP3, AAC/M4A, FLAC, Ogg Vorbis,
        /// WAV), replacing what plays. The channel hears it under the voice this engine publishes
        /// (keep pushing the microphone: the music goes out with it); this player hears it in
        /// ReadAudio. music_state events tell playing, then completed (or failed). Throws with
        /// LIVESTAGE_ERR_NOT_FOUND for a missing file.</summary>
        public void StartMusic(string pathOrUrl, MusicOptions? options = null)
        {
            MusicOptions o = options ?? MusicOptions.Default;
            Check(Interop.livestage_music_start(Live(), Interop.Utf8(pathOrUrl), ref o));
        }

        /// <summary>Pauses the music; throws with LIVESTAGE_ERR_STATE when none was started.</summary>
        public void PauseMusic()
        {
            Check(Interop.livestage_music_pause(Live()));
        }

        /// <summary>Resumes paused music.</summary>
        public void ResumeMusic()
        {
            Check(Interop.livestage_music_resume(Live()));
        }

        /// <summary>Stops the music, if any.</summary>
        public void StopMusic()
        {
            Check(Interop.livestage_music_stop(Live()));
        }

        /// <summary>Moves the music to ms milliseconds from its start.</summary>
        public void SeekMusic(ulong ms)
        {
            Check(Interop.livestage_music_seek(Live(), ms));
        }

        /// <summary>Shifts the music's pitch (-12 to +12 semitones), the speed unchanged.</summary>
        public void SetMusicPitch(float semitones)
        {
            Check(Interop.livestage_music_set_pitch(Live(), semitones));
        }

        /// <summary>Changes the music's speed (0.5 to 4), the pitch unchanged.</summary>
        public void SetMusicSpeed(float speed)
        {
            Check(Interop.livestage_music_set_speed(Live(), speed));
        }

        /// <summary>How loud the channel and this player hear the music, 0 to 1 each.</summary>
        public void SetMusicVolumes(float publish, float local)
        {
            Check(Interop.livestage_music_set_volumes(Live(), publish, local));
        }

        /// <summary>Where the music is and how long it is (null while not known), in
        /// milliseconds; false when no music was started.</summary>
        public bool TryGetMusicPosition(out ulong positionMs, out ulong? durationMs)
        {
            ulong duration;
            int code = Interop.livestage_music_position(Live(), out positionMs, out duration);
            Check(code);
            durationMs = duration == Interop.LIVESTAGE_DURATION_UNKNOWN ? (ulong?)null : duration;
            return code == 1;
        }

        /// <summary>Decodes a clip (path or URL, at most 30 s) into memory as effect id; it
        /// decodes on the calling thread, so preload before it is needed.</summary>
        public void PreloadEffect(uint id, string pathOrUrl)
        {
            Check(Interop.livestage_effect_preload(Live(), id, Interop.Utf8(pathOrUrl)));
        }

        /// <summary>Plays a preloaded effect (over any copy still sounding); an effect_finished
        /// event tells when its last loop ends. Throws with LIVESTAGE_ERR_NOT_FOUND when it is not
        /// loaded.</summary>
        public void PlayEffect(uint id, EffectOptions? options = null)
        {
            EffectOptions o = options ?? EffectOptions.Default;
            Check(Interop.livestage_effect_play(Live(), id, ref o));
        }

        /// <summary>Stops every sounding copy of an effect; it stays loaded.</summary>
        public void StopEffect(uint id)
        {
            Check(Interop.livestage_effect_stop(Live(), id));
        }

        /// <summary>Stops every sounding effect.</summary>
        public void StopAllEffects()
        {
            Check(Interop.livestage_effect_stop_all(Live()));
        }

        /// <summary>Stops an effect and frees its clip.</summary>
        public void UnloadEffect(uint id)
        {
            Check(Interop.livestage_effect_unload(Live(), id));
        }

        /// <summary>Sets the voice changer of every voice this engine publishes (semitones for
        /// VoicePreset.Pitch, -12 to +12).</summary>
        public void SetVoicePreset(VoicePreset preset, float semitones = 0)
        {
            Check(Interop.livestage_voice_preset(Live(), (int)preset, semitones));
        }

        /// <summary>Switches echo cancellation (of what this engine plays), noise suppression
        /// and automatic gain on every voice this engine publishes; all off until called.
        /// </summary>
        public void SetVoiceProcessing(bool echoCancellation, bool noiseSuppression, bool autoGain)
        {
            uint stages = (echoCancellation ? Interop.LIVESTAGE_PROCESSING_ECHO : 0u)
                | (noiseSuppression ? Interop.LIVESTAGE_PROCESSING_NOISE : 0u)
                | (autoGain ? Interop.LIVESTAGE_PROCESSING_GAIN : 0u);
            Check(Interop.livestage_voice_processing(Live(), stages));
        }

        /// <summary>The format a hook at point gets when none is asked for: 48 kHz mono 20 ms at
        /// the voice points, the mix's channels at Playback.</summary>
        public HookFormat DefaultHookFormat(HookPoint point)
        {
            return new HookFormat(48000, point == HookPoint.Playback ? mixChannels : 1, 20);
        }

        /// <summary>Installs hook at point (replacing the one there), or removes it with null.
        /// Capture and Encode run on every voice this engine publishes, RemoteVoice on each
        /// remote user's voice, Playback on the mix. The delegate stays referenced until it is
        /// replaced, removed or reported removed, and after this returns the one it replaced is
        /// not called again. A hook slower than its frames, or one that throws, is removed and
        /// reported by an audio_hook_removed event.</summary>
        public void SetAudioHook(HookPoint point, AudioHook hook, HookFormat? format = null)
        {
            long h = Live();
            InstalledHook installed = null;
            int code;
            lock (hooks)
            {
                if (hook != null)
                {
                    HookFormat f = format ?? DefaultHookFormat(point);
                    installed = new InstalledHook
                    {
                        Callback = hook,
                        Point = point,
                        Buffer = new float[Math.Max(f.FrameLength, 1)],
                    };
                    installed.Handle = GCHandle.Alloc(installed);
                    code = Interop.livestage_audio_hook(h, (int)point, ref f, HookTrampoline,
                        GCHandle.ToIntPtr(installed.Handle));
                }
                else
                {
                    code = Interop.livestage_audio_hook_ptr(h, (int)point, IntPtr.Zero, null, IntPtr.Zero);
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
                    Forget(point);
                    if (installed != null)
                    {
                        hooks[point] = installed;
                    }
                }
            }
            Check(code);
        }

        /// <summary>Frees the hook at point: the engine no longer calls it.</summary>
        void Forget(HookPoint point)
        {
            InstalledHook old;
            if (hooks.TryGetValue(point, out old))
            {
                hooks.Remove(point);
                old.Handle.Free();
            }
        }

        /// <summary>A hook whose delegate threw, removed now and told as an audio_hook_removed
        /// event; null when none did.</summary>
        LivestageEvent TakeFailedHook()
        {
            InstalledHook failed = null;
            lock (hooks)
            {
                foreach (InstalledHook hook in hooks.Values)
                {
                    if (hook.Failure != null)
                    {
                        failed = hook;
                        break;
                    }
                }
            }
            if (failed == null)
            {
                return null;
            }
            SetAudioHook(failed.Point, null);
            var fields = new Dictionary<string, object>
            {
                { "type", "audio_hook_removed" },
                { "channel", null },
                { "point", PointName(failed.Point) },
                { "reason", "the C# audio hook threw: " + failed.Failure.GetType().Name + ": " +
                    failed.Failure.Message },
            };
            return new LivestageEvent(Json.Serialize(fields));
        }

        /// <summary>Keeps the installed hooks in step with the engine's events.</summary>
        void Observe(LivestageEvent ev)
        {
            if (ev.Type != "audio_hook_removed")
            {
                return;
            }
            string name = ev.GetString("point");
            foreach (HookPoint point in Enum.GetValues(typeof(HookPoint)))
            {
                if (PointName(point) == name)
                {
                    lock (hooks)
                    {
                        Forget(point);
                    }
                }
            }
        }

        /// <summary>After the engine is freed nothing calls the hooks: let them go.</summary>
        void ReleaseHooks()
        {
            lock (hooks)
            {
                foreach (InstalledHook hook in hooks.Values)
                {
                    hook.Handle.Free();
                }
                hooks.Clear();
            }
        }

        /// <summary>The name events give a hook point: capture, encode, remote_voice or playback.</summary>
        public static string PointName(HookPoint point)
        {
            switch (point)
            {
                case HookPoint.Capture: return "capture";
                case HookPoint.Encode: return "encode";
                case HookPoint.RemoteVoice: return "remote_voice";
                default: return "playback";
            }
        }
    }

    /// <summary>Marks a static method the native library calls back (IL2CPP compiles a
    /// reverse P/Invoke wrapper for it; it looks for an attribute of this name, which lets this
    /// assembly go without UnityEngine's AOT.MonoPInvokeCallbackAttribute).</summary>
    [AttributeUsage(AttributeTargets.Method)]
    sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type type)
        {
            Type = type;
        }

        public Type Type { get; private set; }
    }
}
