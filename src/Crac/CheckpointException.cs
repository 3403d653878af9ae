namespace Crac;

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
