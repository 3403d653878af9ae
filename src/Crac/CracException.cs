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
