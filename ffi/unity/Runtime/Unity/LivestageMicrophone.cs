// Publishes a microphone: Unity records into a looping AudioClip; every frame the new samples
// are pushed to the channel, which encodes them as 20 ms Opus frames as they arrive.

using Livestage.Native;
using UnityEngine;

namespace Livestage.Unity
{
    [AddComponentMenu("Livestage/Livestage Microphone")]
    public sealed class LivestageMicrophone : MonoBehaviour
    {
        [Tooltip("The channel to publish in; it must be joined as host.")]
        public LivestageChannel channel;

        [Tooltip("The microphone's name from Microphone.devices; empty for the default one.")]
        public string device;

        [Tooltip("Recording rate in Hz.")]
        public int frequency = 48000;

        AudioClip clip;
        int position;
        float[] buffer = new float[0];
        string publishedIn;

        string Device
        {
            get { return string.IsNullOrEmpty(device) ? null : device; }
        }

        void Start()
        {
            clip = Microphone.Start(Device, true, 1, frequency);
        }

        void Update()
        {
            if (clip == null || channel == null || channel.Engine == null)
            {
                return;
            }
            if (!channel.IsJoined)
            {
                publishedIn = null;
                return;
            }
            if (publishedIn == null)
            {
                channel.Engine.PublishAudio(channel.Channel, clip.frequency, clip.channels);
                publishedIn = channel.Channel;
                position = Microphone.GetPosition(Device);
                return;
            }
            int now = Microphone.GetPosition(Device);
            if (now < 0)
            {
                return;
            }
            int frames = (now - position + clip.samples) % clip.samples;
            if (frames == 0)
            {
                return;
            }
            int count = frames * clip.channels;
            if (buffer.Length != count)
            {
                buffer = new float[count]; // GetData fills the whole array.
            }
            clip.GetData(buffer, position);
            position = now;
            channel.Engine.PushAudio(publishedIn, buffer, count);
        }

        void OnDestroy()
        {
            Microphone.End(Device);
            if (publishedIn != null && channel != null && channel.Engine != null)
            {
                try
                {
                    channel.Engine.UnpublishAudio(publishedIn);
                }
                catch (LivestageException)
                {
                    // The channel was left already.
                }
            }
        }
    }
}
