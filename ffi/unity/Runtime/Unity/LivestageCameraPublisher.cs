// Publishes what a Camera sees: the camera renders into a RenderTexture, which is read back
// asynchronously (no stall of the render thread) at up to fps and pushed to the channel as
// RGBA video. Put it on a dedicated camera: that camera no longer draws to the screen.

using Livestage.Native;
using UnityEngine;
using UnityEngine.Rendering;

namespace Livestage.Unity
{
    [RequireComponent(typeof(Camera))]
    [AddComponentMenu("Livestage/Livestage Camera Publisher")]
    public sealed class LivestageCameraPublisher : MonoBehaviour
    {
        [Tooltip("The channel to publish in; it must be joined as host.")]
        public LivestageChannel channel;

        [Tooltip("Published width in pixels (even, 16 to 3840).")]
        public int width = 1280;

        [Tooltip("Published height in pixels (even, 16 to 2160).")]
        public int height = 720;

        [Tooltip("Frames per second, 1 to 60.")]
        public float fps = 30;

        [Tooltip("H.264 bitrate in bits per second; 0 picks one for the size.")]
        public int bitrateBps;

        Camera source;
        RenderTexture target;
        byte[] pixels;
        float nextFrame;
        bool inFlight;
        string publishedIn;

        void Start()
        {
            source = GetComponent<Camera>();
            target = new RenderTexture(width, height, 24, RenderTextureFormat.ARGB32);
            target.Create();
            source.targetTexture = target;
            pixels = new byte[width * height * 4];
        }

        void LateUpdate()
        {
            if (channel == null || channel.Engine == null)
            {
                return;
            }
            if (!channel.IsJoined)
            {
                publishedIn = null; // Publish again once joined again.
                return;
            }
            if (publishedIn == null)
            {
                channel.Engine.PublishVideo(channel.Channel, width, height, fps, bitrateBps);
                publishedIn = channel.Channel;
            }
            if (inFlight || Time.unscaledTime < nextFrame)
            {
                return;
            }
            nextFrame = Time.unscaledTime + 1f / fps;
            inFlight = true;
            AsyncGPUReadback.Request(target, 0, TextureFormat.RGBA32, OnReadback);
        }

        void OnReadback(AsyncGPUReadbackRequest request)
        {
            inFlight = false;
            if (request.hasError || publishedIn == null || channel == null || channel.Engine == null)
            {
                return;
            }
            request.GetData<byte>().CopyTo(pixels);
            try
            {
                // Unity reads textures back bottom row first.
                channel.Engine.PushVideo(publishedIn, pixels, width, height, true);
            }
            catch (LivestageException e)
            {
                Debug.LogWarning("Livestage: cannot publish the camera: " + e.Message);
            }
        }

        void OnDestroy()
        {
            if (publishedIn != null && channel != null && channel.Engine != null)
            {
                try
                {
                    channel.Engine.UnpublishVideo(publishedIn);
                }
                catch (LivestageException)
                {
                    // The channel was left already.
                }
            }
            if (source != null)
            {
                source.targetTexture = null;
            }
            if (target != null)
            {
                target.Release();
                Destroy(target);
            }
        }
    }
}
