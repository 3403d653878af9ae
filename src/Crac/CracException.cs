using Crac.Diagnostics;

namespace Crac;

/// <summary>
/// The base of <see cref="CheckpointException"/> and <see cref="RestoreException"/>: an exception
/// that aggregates its causes as <em>suppressed</em> exceptions, as <c>Throwable.addSuppressed</c>
/// does in Java. Suppressed exceptions may carry their own suppressed exceptions and inner
/// causes, so a failure forms a tree; <see cref="ToString"/> prints it as the JVM does.
/// </summary>
public abstract class CracException : Exception
{
    private readonly List<Exception> _suppressed = [];

    /// <summary>Creates the exception.</summary>
    protected CracException(string? message = null, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>The exceptions aggregated into this one, in the order they happened.</summary>
    public IReadOnlyList<Exception> Suppressed
    {
        get
        {
            lock (_suppressed)
            {
                return _suppressed.ToArray();
            }
        }
    }

    /// <summary>Appends an exception to <see cref="Suppressed"/>.</summary>
    public void AddSuppressed(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (ReferenceEquals(exception, this))
        {
            throw new ArgumentException("An exception cannot suppress itself.", nameof(exception));
        }

        lock (_suppressed)
        {
            _suppressed.Add(exception);
        }
    }

    /// <summary>
    /// True for the exception a context or the coordinator builds only to carry the failures it
    /// collected. Such an exception is flattened when it meets another of its kind, so nesting
    /// contexts does not nest the report; one that a resource throws stays a node of the tree.
    /// </summary>
    internal bool IsAggregate { get; init; }

    /// <summary>The exception tree, printed as the JVM's <c>printStackTrace</c> prints it.</summary>
    public override string ToString() => ExceptionTreeRenderer.Render(ExceptionNode.FromException(this));
}

/// <summary>
/// Thrown when a checkpoint fails, like <c>jdk.crac.CheckpointException</c>. The causes are in
/// <see cref="CracException.Suppressed"/>. The process keeps running, and every resource that was
/// notified of the checkpoint has also been notified of the restore.
/// </summary>
public class CheckpointException : CracException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(string? message = null, Exception? innerException = null)
        : base(message ?? "The checkpoint failed.", innerException)
    {
    }
}

/// <summary>
/// Thrown when a restore notification fails, like <c>jdk.crac.RestoreException</c>. The process
/// was restored; the causes are in <see cref="CracException.Suppressed"/>.
/// </summary>
public class RestoreException : CracException
{
    /// <summary>Creates the exception.</summary>
    public RestoreException(string? message = null, Exception? innerException = null)
        : base(message ?? "The restore notification failed.", innerException)
    {
    }
}

/// <summary>A resource other than a file or a socket was left open at checkpoint.</summary>
public class CheckpointOpenResourceException : CheckpointException
{
    /// <summary>Creates the exception; <paramref name="innerException"/> says where it was opened.</summary>
    public CheckpointOpenResourceException(string details, Exception? innerException = null)
        : base(details, innerException)
    {
    }
}

/// <summary>A file was left open at checkpoint.</summary>
public class CheckpointOpenFileException : CheckpointOpenResourceException
{
    /// <summary>Creates the exception; <paramref name="innerException"/> says where it was opened.</summary>
    public CheckpointOpenFileException(string details, Exception? innerException = null)
        : base(details, innerException)
    {
    }
}

/// <summary>A socket was left open at checkpoint.</summary>
public class CheckpointOpenSocketException : CheckpointOpenResourceException
{
    /// <summary>Creates the exception; <paramref name="innerException"/> says where it was opened.</summary>
    public CheckpointOpenSocketException(string details, Exception? innerException = null)
        : base(details, innerException)
    {
    }
}
