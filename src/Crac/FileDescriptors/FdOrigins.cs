namespace Crac.FileDescriptors;

/// <summary>Where and when a file descriptor was created.</summary>
internal sealed record FdOrigin(string ThreadName, DateTimeOffset Time, IReadOnlyList<string> ManagedStack, IReadOnlyList<string> NativeStack)
{
    /// <summary>An exception to hang under the fd's exception as its cause, as the JVM does.</summary>
    public Exception ToException() =>
        new FdOriginException(
            $"This file descriptor was created by {ThreadName} at epoch:{Time.ToUnixTimeMilliseconds()} here",
            ManagedStack.Concat(NativeStack.Select(frame => "[native] " + frame)).ToArray());
}

/// <summary>Carries a recorded stack, which the exception tree prints as its frames.</summary>
internal sealed class FdOriginException(string message, IReadOnlyList<string> frames) : Exception(message)
{
    public override string StackTrace => string.Concat(frames.Select(frame => $"   at {frame}\n"));
}

/// <summary>
/// Opt-in recording of where each descriptor was created (CRAC_COLLECT_FD_STACKTRACES=true).
/// </summary>
internal static partial class FdOrigins
{
    public const string EnvironmentVariable = "CRAC_COLLECT_FD_STACKTRACES";

    public static bool Enabled => string.Equals(Environment.GetEnvironmentVariable(EnvironmentVariable), "true", StringComparison.OrdinalIgnoreCase);

    public static FdOrigin? Find(FdEntry entry) => null;

    // WIP-ORIGINS
    public static void Start()
    {
    }

    // WIP-ORIGINS
    public static void ConfigurePreload(IDictionary<string, string?> environment, string directory)
    {
    }
}
