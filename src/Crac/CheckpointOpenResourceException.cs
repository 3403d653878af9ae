namespace Crac;

/// <summary>A resource other than a file or a socket was left open at checkpoint.</summary>
public class CheckpointOpenResourceException : CheckpointException
{
    /// <summary>Creates the exception; <paramref name="innerException"/> says where it was opened.</summary>
    public CheckpointOpenResourceException(string details, Exception? innerException = null)
        : base(details, innerException)
    {
    }
}
