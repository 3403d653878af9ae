using System.Text.Json.Serialization;

namespace Crac.Diagnostics;

/// <summary>
/// One exception of a failure tree, detached from the process that threw it: the agent sends
/// these to the tool, which prints them in the operator's terminal.
/// </summary>
internal sealed record ExceptionNode
{
    // A tree deeper than this is cut: a cycle of inner exceptions must not hang the printer.
    internal const int MaxDepth = 64;

    public required string Type { get; init; }

    public string? Message { get; init; }

    public IReadOnlyList<string> StackTrace { get; init; } = [];

    public IReadOnlyList<ExceptionNode> Suppressed { get; init; } = [];

    public ExceptionNode? Cause { get; init; }

    [JsonIgnore]
    public string Caption => string.IsNullOrEmpty(Message) ? Type : $"{Type}: {Message}";

    public static ExceptionNode FromException(Exception exception) => FromException(exception, 0);

    private static ExceptionNode FromException(Exception exception, int depth)
    {
        var suppressed = new List<ExceptionNode>();
        Exception? cause = exception.InnerException;
        if (depth < MaxDepth)
        {
            switch (exception)
            {
                case CracException crac:
                    suppressed.AddRange(crac.Suppressed.Select(e => FromException(e, depth + 1)));
                    break;
                case AggregateException aggregate:
                    // An AggregateException's InnerException is only its first inner exception.
                    suppressed.AddRange(aggregate.InnerExceptions.Select(e => FromException(e, depth + 1)));
                    cause = null;
                    break;
            }
        }

        return new ExceptionNode
        {
            Type = exception.GetType().FullName ?? exception.GetType().Name,
            Message = exception is CracException ? exception.Message : DefaultMessageOrNull(exception),
            StackTrace = ParseStackTrace(exception.StackTrace),
            Suppressed = suppressed,
            Cause = cause is not null && depth < MaxDepth ? FromException(cause, depth + 1) : null,
        };
    }

    // Exception.Message invents "Exception of type 'X' was thrown." when none was given; the JVM
    // prints just the type then, and so do we.
    private static string? DefaultMessageOrNull(Exception exception)
    {
        string message = exception.Message;
        return message == $"Exception of type '{exception.GetType().FullName}' was thrown." ? null : message;
    }

    internal static IReadOnlyList<string> ParseStackTrace(string? stackTrace)
    {
        if (string.IsNullOrEmpty(stackTrace))
        {
            return [];
        }

        var frames = new List<string>();
        foreach (string line in stackTrace.Split('\n'))
        {
            string trimmed = line.Trim();
            if (trimmed.StartsWith("at ", StringComparison.Ordinal))
            {
                frames.Add(trimmed[3..]);
            }
        }

        return frames;
    }

    public bool Equals(ExceptionNode? other) =>
        other is not null
        && Type == other.Type
        && Message == other.Message
        && StackTrace.SequenceEqual(other.StackTrace)
        && Suppressed.SequenceEqual(other.Suppressed)
        && Equals(Cause, other.Cause);

    public override int GetHashCode() => HashCode.Combine(Type, Message, StackTrace.Count, Suppressed.Count);

    /// <summary>Every node of the tree, depth first.</summary>
    public IEnumerable<ExceptionNode> Descendants()
    {
        yield return this;
        foreach (ExceptionNode child in Suppressed.Append(Cause).OfType<ExceptionNode>())
        {
            foreach (ExceptionNode node in child.Descendants())
            {
                yield return node;
            }
        }
    }
}
