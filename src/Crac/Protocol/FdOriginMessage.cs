using Crac.FileDescriptors;

namespace Crac.Protocol;

/// <summary>Where a descriptor was opened, when the process records it.</summary>
internal sealed record FdOriginMessage(string Thread, DateTimeOffset Time, IReadOnlyList<string> ManagedStack, IReadOnlyList<string> NativeStack)
{
    /// <summary>The frames as every report prints them (see <see cref="FdOrigin.Frames"/>).</summary>
    public IReadOnlyList<string> Frames() => FdOrigin.Frames(NativeStack, ManagedStack);
}
