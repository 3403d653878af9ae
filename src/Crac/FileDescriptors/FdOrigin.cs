namespace Crac.FileDescriptors;

/// <summary>Where and when a file descriptor was created.</summary>
internal sealed record FdOrigin(string ThreadName, DateTimeOffset Time, IReadOnlyList<string> ManagedStack, IReadOnlyList<string> NativeStack)
{
    /// <summary>An exception to hang under the fd's exception as its cause, as the JVM does.</summary>
    public Exception ToException() =>
        new FdOriginException(
            $"This file descriptor was created by {ThreadName} at epoch:{Time.ToUnixTimeMilliseconds()} here",
            Frames(NativeStack, ManagedStack));

    /// <summary>The frames of an origin, native first and marked so, as every report prints them.</summary>
    public static IReadOnlyList<string> Frames(IReadOnlyList<string> nativeStack, IReadOnlyList<string> managedStack) =>
        [.. nativeStack.Select(frame => "[native] " + frame), .. managedStack];
}
