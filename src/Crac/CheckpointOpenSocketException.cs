namespace Crac;

/// <summary>A socket was left open at checkpoint.</summary>
public class CheckpointOpenSocketException : CheckpointOpenResourceException
{
    /// <summary>Creates the exception; <paramref name="innerException"/> says where it was opened.</summary>
    public CheckpointOpenSocketException(string details, Exception? innerException = null)
        : base(details, innerException)
    {
    }
}
