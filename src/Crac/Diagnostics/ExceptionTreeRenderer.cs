using System.Text;

namespace Crac.Diagnostics;

/// <summary>
/// Prints an exception tree the way the JVM's <c>Throwable.printStackTrace</c> does: the caption,
/// <c>\tat</c> frames, then each suppressed exception as <c>Suppressed:</c> one tab deeper and the
/// cause as <c>Caused by:</c> at the same depth, with frames shared with the enclosing exception
/// folded into <c>... N more</c>.
/// </summary>
internal static class ExceptionTreeRenderer
{
    public static string Render(ExceptionNode root)
    {
        var output = new StringBuilder();
        AppendCaption(output, string.Empty, string.Empty, root);
        foreach (string frame in root.StackTrace)
        {
            output.Append("\tat ").Append(frame).Append('\n');
        }

        foreach (ExceptionNode suppressed in root.Suppressed)
        {
            AppendEnclosed(output, suppressed, root.StackTrace, "Suppressed: ", "\t");
        }

        if (root.Cause is not null)
        {
            AppendEnclosed(output, root.Cause, root.StackTrace, "Caused by: ", string.Empty);
        }

        return output.ToString();
    }

    private static void AppendEnclosed(
        StringBuilder output, ExceptionNode node, IReadOnlyList<string> enclosingTrace, string caption, string prefix)
    {
        IReadOnlyList<string> trace = node.StackTrace;
        int last = trace.Count - 1;
        int enclosingLast = enclosingTrace.Count - 1;
        while (last >= 0 && enclosingLast >= 0 && trace[last] == enclosingTrace[enclosingLast])
        {
            last--;
            enclosingLast--;
        }

        int framesInCommon = trace.Count - 1 - last;
        AppendCaption(output, prefix, caption, node);
        for (int i = 0; i <= last; i++)
        {
            output.Append(prefix).Append("\tat ").Append(trace[i]).Append('\n');
        }

        if (framesInCommon != 0)
        {
            output.Append(prefix).Append("\t... ").Append(framesInCommon).Append(" more\n");
        }

        foreach (ExceptionNode suppressed in node.Suppressed)
        {
            AppendEnclosed(output, suppressed, trace, "Suppressed: ", prefix + "\t");
        }

        if (node.Cause is not null)
        {
            AppendEnclosed(output, node.Cause, trace, "Caused by: ", prefix);
        }
    }

    // A multi-line message (CRIU's error lines, a policy file excerpt) keeps its indentation, so
    // the tree stays readable; the JVM would print the lines flush left.
    private static void AppendCaption(StringBuilder output, string prefix, string caption, ExceptionNode node)
    {
        string[] lines = node.Caption.Replace("\r\n", "\n").Split('\n');
        output.Append(prefix).Append(caption).Append(lines[0]).Append('\n');
        for (int i = 1; i < lines.Length; i++)
        {
            output.Append(prefix).Append("\t  ").Append(lines[i]).Append('\n');
        }
    }
}
