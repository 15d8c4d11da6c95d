// Remote voice through Unity's audio: the mixed voice of the channel's engine is written into
// this AudioSource's output from OnAudioFilterRead, on Unity's audio thread. Put it on a
// GameObject with an AudioSource (2D, or 3D to place the voices in the scene).

using Livestage.Native;
using UnityEngine;

namespace Livestage.Unity
{
    [RequireComponent(typeof(AudioSource))]
    [AddComponentMenu("Livestage/Livestage Voice")]
    public sealed class LivestageVoice : MonoBehaviour
    {
        [Tooltip("The channel whose voice plays here.")]
        public LivestageChannel channel;

        // Read by the audio thread; written on the main thread only.
        volatile Engine engine;

        void Start()
        {
            engine = channel.Engine;
            var source = GetComponent<AudioSource>();
            // A silent looping clip keeps the source playing, so Unity calls OnAudioFilterRead.
            int rate = AudioSettings.outputSampleRate;
            source.clip = AudioClip.Create("Livestage voice", rate, 1, rate, false);
            source.loop = true;
            source.Play();
        }

        // Audio thread: Engine.ReadAudio never allocates, locks, waits or throws.
        void OnAudioFilterRead(float[] data, int channels)
        {
            Engine e = engine;
            if (e == null || e.ReadAudio(data, channels) < 0)
            {
                System.Array.Clear(data, 0, data.Length);
            }
        }

        void OnDestroy()
        {
            engine = null;
        }
    }
}
