// What can be shared as a screen track: the displays and windows livestage_screens lists.

using System.Collections.Generic;

namespace Livestage.Native
{
    /// <summary>What a screen share captures (the LIVESTAGE_SCREEN_* values).</summary>
    public enum ScreenTarget
    {
        /// <summary>A whole display, by ScreenDisplay.Id (uint.MaxValue: the first one).</summary>
        Display = Interop.LIVESTAGE_SCREEN_DISPLAY,
        /// <summary>One window, by ScreenWindow.Id; the share ends when it closes.</summary>
        Window = Interop.LIVESTAGE_SCREEN_WINDOW,
        /// <summary>A region of the first display.</summary>
        Region = Interop.LIVESTAGE_SCREEN_REGION,
    }

    /// <summary>A display (a monitor) that can be shared.</summary>
    public sealed class ScreenDisplay
    {
        public uint Id;
        public string Name;
        public int X;
        public int Y;
        public int Width;
        public int Height;
    }

    /// <summary>A window shown now that can be shared.</summary>
    public sealed class ScreenWindow
    {
        public uint Id;
        public string Title;
        public int X;
        public int Y;
        public int Width;
        public int Height;
    }

    /// <summary>The displays and windows that can be shared (Engine.Screens).</summary>
    public sealed class Screens
    {
        public readonly List<ScreenDisplay> Displays = new List<ScreenDisplay>();
        public readonly List<ScreenWindow> Windows = new List<ScreenWindow>();

        /// <summary>Parses the JSON livestage_screens writes.</summary>
        public static Screens Parse(string json)
        {
            var result = new Screens();
            var fields = Json.Parse(json) as Dictionary<string, object>;
            if (fields == null)
            {
                return result;
            }
            object value;
            if (fields.TryGetValue("displays", out value) && value is List<object>)
            {
                foreach (object item in (List<object>)value)
                {
                    var d = item as Dictionary<string, object>;
                    if (d != null)
                    {
                        result.Displays.Add(new ScreenDisplay
                        {
                            Id = (uint)LivestageEvent.AsULong(d, "id"),
                            Name = LivestageEvent.AsString(d, "name"),
                            X = (int)LivestageEvent.AsLong(d, "x"),
                            Y = (int)LivestageEvent.AsLong(d, "y"),
                            Width = (int)LivestageEvent.AsULong(d, "width"),
                            Height = (int)LivestageEvent.AsULong(d, "height"),
                        });
                    }
                }
            }
            if (fields.TryGetValue("windows", out value) && value is List<object>)
            {
                foreach (object item in (List<object>)value)
                {
                    var w = item as Dictionary<string, object>;
                    if (w != null)
                    {
                        result.Windows.Add(new ScreenWindow
                        {
                            Id = (uint)LivestageEvent.AsULong(w, "id"),
                            Title = LivestageEvent.AsString(w, "title"),
                            X = (int)LivestageEvent.AsLong(w, "x"),
                            Y = (int)LivestageEvent.AsLong(w, "y"),
                            Width = (int)LivestageEvent.AsULong(w, "width"),
                            Height = (int)LivestageEvent.AsULong(w, "height"),
                        });
                    }
                }
            }
            return result;
        }
    }
}
