// A small JSON reader and writer for the engine's events and the Viewer's report, so the
// package needs no JSON library (Unity's JsonUtility lives in UnityEngine and wants fixed
// classes). Objects are Dictionary<string, object>, arrays List<object>, numbers long,
// ulong (for integers beyond long) or double, and the rest string, bool or null.

using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Livestage.Native
{
    /// <summary>Parses and writes JSON.</summary>
    public static class Json
    {
        /// <summary>Parses one JSON value; throws FormatException on bad input.</summary>
        public static object Parse(string text)
        {
            var reader = new Reader(text);
            object value = reader.Value();
            reader.SkipSpace();
            if (reader.Position != text.Length)
            {
                throw new FormatException("JSON: unexpected text at " + reader.Position);
            }
            return value;
        }

        /// <summary>Writes a value built of dictionaries, lists, strings, numbers, bools and null.</summary>
        public static string Serialize(object value)
        {
            var output = new StringBuilder();
            Write(output, value);
            return output.ToString();
        }

        static void Write(StringBuilder output, object value)
        {
            if (value == null)
            {
                output.Append("null");
            }
            else if (value is string)
            {
                WriteString(output, (string)value);
            }
            else if (value is bool)
            {
                output.Append((bool)value ? "true" : "false");
            }
            else if (value is double || value is float)
            {
                double d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                output.Append(double.IsNaN(d) || double.IsInfinity(d)
                    ? "null"
                    : d.ToString("R", CultureInfo.InvariantCulture));
            }
            else if (value is IDictionary)
            {
                output.Append('{');
                bool first = true;
                foreach (DictionaryEntry entry in (IDictionary)value)
                {
                    if (!first)
                    {
                        output.Append(',');
                    }
                    first = false;
                    WriteString(output, Convert.ToString(entry.Key, CultureInfo.InvariantCulture));
                    output.Append(':');
                    Write(output, entry.Value);
                }
                output.Append('}');
            }
            else if (value is IEnumerable)
            {
                output.Append('[');
                bool first = true;
                foreach (object item in (IEnumerable)value)
                {
                    if (!first)
                    {
                        output.Append(',');
                    }
                    first = false;
                    Write(output, item);
                }
                output.Append(']');
            }
            else
            {
                output.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
            }
        }

        static void WriteString(StringBuilder output, string text)
        {
            output.Append('"');
            foreach (char c in text)
            {
                switch (c)
                {
                    case '"': output.Append("\\\""); break;
                    case '\\': output.Append("\\\\"); break;
                    case '\n': output.Append("\\n"); break;
                    case '\r': output.Append("\\r"); break;
                    case '\t': output.Append("\\t"); break;
                    default:
                        if (c < 0x20)
                        {
                            output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            output.Append(c);
                        }
                        break;
                }
            }
            output.Append('"');
        }

        sealed class Reader
        {
            readonly string text;
            public int Position;

            public Reader(string text)
            {
                this.text = text;
            }

            public void SkipSpace()
            {
                while (Position < text.Length && char.IsWhiteSpace(text[Position]))
                {
                    Position++;
                }
            }

            char Peek()
            {
                SkipSpace();
                if (Position >= text.Length)
                {
                    throw new FormatException("JSON: unexpected end");
                }
                return text[Position];
            }

            void Expect(char c)
            {
                if (Peek() != c)
                {
                    throw new FormatException("JSON: expected '" + c + "' at " + Position);
                }
                Position++;
            }

            public object Value()
            {
                char c = Peek();
                if (c == '{')
                {
                    return Object();
                }
                if (c == '[')
                {
                    return Array();
                }
                if (c == '"')
                {
                    return String();
                }
                if (Literal("true"))
                {
                    return true;
                }
                if (Literal("false"))
                {
                    return false;
                }
                if (Literal("null"))
                {
                    return null;
                }
                return Number();
            }

            bool Literal(string word)
            {
                if (string.CompareOrdinal(text, Position, word, 0, word.Length) != 0)
                {
                    return false;
                }
                Position += word.Length;
                return true;
            }

            Dictionary<string, object> Object()
            {
                var result = new Dictionary<string, object>();
                Expect('{');
                if (Peek() == '}')
                {
                    Position++;
                    return result;
                }
                while (true)
                {
                    if (Peek() != '"')
                    {
                        throw new FormatException("JSON: expected a key at " + Position);
                    }
                    string key = String();
                    Expect(':');
                    result[key] = Value();
                    if (Peek() == ',')
                    {
                        Position++;
                        continue;
                    }
                    Expect('}');
                    return result;
                }
            }

            List<object> Array()
            {
                var result = new List<object>();
                Expect('[');
                if (Peek() == ']')
                {
                    Position++;
                    return result;
                }
                while (true)
                {
                    result.Add(Value());
                    if (Peek() == ',')
                    {
                        Position++;
                        continue;
                    }
                    Expect(']');
                    return result;
                }
            }

            string String()
            {
                Expect('"');
                var result = new StringBuilder();
                while (true)
                {
                    if (Position >= text.Length)
                    {
                        throw new FormatException("JSON: unterminated string");
                    }
                    char c = text[Position++];
                    if (c == '"')
                    {
                        return result.ToString();
                    }
                    if (c != '\\')
                    {
                        result.Append(c);
                        continue;
                    }
                    if (Position >= text.Length)
                    {
                        throw new FormatException("JSON: unterminated escape");
                    }
                    char e = text[Position++];
                    switch (e)
                    {
                        case '"': result.Append('"'); break;
                        case '\\': result.Append('\\'); break;
                        case '/': result.Append('/'); break;
                        case 'b': result.Append('\b'); break;
                        case 'f': result.Append('\f'); break;
                        case 'n': result.Append('\n'); break;
                        case 'r': result.Append('\r'); break;
                        case 't': result.Append('\t'); break;
                        case 'u':
                            if (Position + 4 > text.Length)
                            {
                                throw new FormatException("JSON: short \\u escape");
                            }
                            result.Append((char)int.Parse(text.Substring(Position, 4), NumberStyles.HexNumber,
                                CultureInfo.InvariantCulture));
                            Position += 4;
                            break;
                        default:
                            throw new FormatException("JSON: bad escape \\" + e);
                    }
                }
            }

            object Number()
            {
                int start = Position;
                while (Position < text.Length && "+-0123456789.eE".IndexOf(text[Position]) >= 0)
                {
                    Position++;
                }
                string token = text.Substring(start, Position - start);
                if (token.Length == 0)
                {
                    throw new FormatException("JSON: unexpected '" + text[start] + "' at " + start);
                }
                long integer;
                if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out integer))
                {
                    return integer;
                }
                ulong big;
                if (ulong.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out big))
                {
                    return big;
                }
                return double.Parse(token, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }
    }
}
