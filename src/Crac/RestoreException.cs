namespace Crac;

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
