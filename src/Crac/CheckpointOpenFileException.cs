namespace Crac;

/// <summary>A file was left open at checkpoint.</summary>
public class CheckpointOpenFileException : CheckpointOpenResourceException
{
    /// <summary>Creates the exception; <paramref name="innerException"/> says where it was opened.</summary>
    public CheckpointOpenFileException(string details, Exception? innerException = null)
        : base(details, innerException)
    {
    }
}
