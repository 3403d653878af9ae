using System.Text;
using System.Text.RegularExpressions;

namespace Crac.FileDescriptors;

/// <summary>
/// Glob patterns as java.nio's "glob:" matcher reads them, which CRaC's policies use:
/// <c>*</c> within one path segment, <c>**</c> across segments, <c>?</c>, <c>[abc]</c>, <c>{a,b}</c>.
/// </summary>
internal static class Glob
{
    /// <exception cref="FormatException">The pattern is malformed (an unclosed [ or {).</exception>
    public static Regex ToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        int braces = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            switch (c)
            {
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                    regex.Append(".*");
                    i++;
                    break;
                case '*':
                    regex.Append("[^/]*");
                    break;
                case '?':
                    regex.Append("[^/]");
                    break;
                case '[':
                    int close = pattern.IndexOf(']', i + 1);
                    if (close < 0)
                    {
                        throw new FormatException($"'{pattern}' has a '[' without a closing ']'.");
                    }

                    string set = pattern[(i + 1)..close];
                    regex.Append('[').Append(set.StartsWith('!') ? "^" + Regex.Escape(set[1..]) : Regex.Escape(set)).Append(']');
                    i = close;
                    break;
                case '{':
                    braces++;
                    regex.Append("(?:");
                    break;
                case '}' when braces > 0:
                    braces--;
                    regex.Append(')');
                    break;
                case ',' when braces > 0:
                    regex.Append('|');
                    break;
                case '\\' when i + 1 < pattern.Length:
                    regex.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                default:
                    regex.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        if (braces > 0)
        {
            throw new FormatException($"'{pattern}' has a '{{' without a closing '}}'.");
        }

        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
