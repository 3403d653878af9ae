namespace Crac.FileDescriptors;

/// <summary>Carries a recorded stack, which the exception tree prints as its frames.</summary>
internal sealed class FdOriginException(string message, IReadOnlyList<string> frames) : Exception(message)
{
    public override string StackTrace => string.Concat(frames.Select(frame => $"   at {frame}\n"));
}
