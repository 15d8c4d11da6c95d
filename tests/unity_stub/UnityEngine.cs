// The few UnityEngine types ffi/unity/Runtime/Unity uses, with Unity's signatures and no
// behaviour, so tests/unity_mono.rs can compile the MonoBehaviours with Mono's mcs and catch
// type errors without Unity. Keep the signatures as Unity documents them; add members only
// when the components start using them.

using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static void Destroy(Object obj) { }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { throw new NotImplementedException(); } }
        public T GetComponent<T>() { throw new NotImplementedException(); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
    }

    public class MonoBehaviour : Behaviour { }

    public sealed class GameObject : Object
    {
        public T AddComponent<T>() where T : Component { throw new NotImplementedException(); }
    }

    public class TextAsset : Object
    {
        public string text { get { throw new NotImplementedException(); } }
    }

    public enum TextureFormat { RGBA32 = 4 }

    public enum FilterMode { Point, Bilinear, Trilinear }

    public class Texture : Object
    {
        public virtual int width { get { throw new NotImplementedException(); } }
        public virtual int height { get { throw new NotImplementedException(); } }
        public FilterMode filterMode { get; set; }
    }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain) { }
        public bool Reinitialize(int width, int height) { throw new NotImplementedException(); }
        public void LoadRawTextureData(byte[] data) { }
        public void LoadRawTextureData(IntPtr data, int size) { }
        public void Apply(bool updateMipmaps) { }
    }

    public enum RenderTextureFormat { ARGB32 = 0 }

    public class RenderTexture : Texture
    {
        public RenderTexture(int width, int height, int depth, RenderTextureFormat format) { }
        public bool Create() { throw new NotImplementedException(); }
        public void Release() { }
    }

    public sealed class Camera : Behaviour
    {
        public RenderTexture targetTexture { get; set; }
    }

    public sealed class AudioClip : Object
    {
        public int samples { get { throw new NotImplementedException(); } }
        public int channels { get { throw new NotImplementedException(); } }
        public int frequency { get { throw new NotImplementedException(); } }
        public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream)
        {
            throw new NotImplementedException();
        }
        public bool GetData(float[] data, int offsetSamples) { throw new NotImplementedException(); }
    }

    public sealed class AudioSource : Behaviour
    {
        public AudioClip clip { get; set; }
        public bool loop { get; set; }
        public void Play() { }
        public void Stop() { }
    }

    public enum AudioSpeakerMode { Mono = 1, Stereo = 2, Quad = 3, Surround = 4, Mode5point1 = 5, Mode7point1 = 6, Prologic = 7 }

    public sealed class AudioSettings
    {
        public static int outputSampleRate { get { throw new NotImplementedException(); } }
        public static AudioSpeakerMode speakerMode { get { throw new NotImplementedException(); } }
    }

    public sealed class Microphone
    {
        public static string[] devices { get { throw new NotImplementedException(); } }
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency)
        {
            throw new NotImplementedException();
        }
        public static void End(string deviceName) { }
        public static int GetPosition(string deviceName) { throw new NotImplementedException(); }
    }

    public static class Time
    {
        public static float unscaledTime { get { throw new NotImplementedException(); } }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogError(object message) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class SerializeField : Attribute { }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class TooltipAttribute : Attribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class TextAreaAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute
    {
        public RequireComponent(Type requiredComponent) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class DisallowMultipleComponent : Attribute { }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }
}

namespace UnityEngine.Rendering
{
    public struct AsyncGPUReadbackRequest
    {
        public bool hasError { get { throw new NotImplementedException(); } }
        public bool done { get { throw new NotImplementedException(); } }
        public Unity.Collections.NativeArray<T> GetData<T>(int layer = 0) where T : struct
        {
            throw new NotImplementedException();
        }
    }

    public static class AsyncGPUReadback
    {
        public static AsyncGPUReadbackRequest Request(Texture src, int mipIndex, TextureFormat dstFormat,
            Action<AsyncGPUReadbackRequest> callback)
        {
            throw new NotImplementedException();
        }
    }
}

namespace Unity.Collections
{
    public struct NativeArray<T> where T : struct
    {
        public int Length { get { throw new NotImplementedException(); } }
        public void CopyTo(T[] array) { }
    }
}
