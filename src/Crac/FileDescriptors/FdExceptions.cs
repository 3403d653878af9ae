namespace Crac.FileDescriptors;

/// <summary>Turns a blocking descriptor's verdict into the exception CRaC reports for it: what it is, why it blocks, and the fix.</summary>
internal static class FdExceptions
{
    public static Exception For(FdAssessment assessment)
    {
        FdEntry entry = assessment.Entry;
        Exception? cause = assessment.Origin?.ToException();
        string hint = cause is not null || FdOrigins.Tracking ? string.Empty
            : FdOrigins.Enabled ? $" Its origin was not recorded: {FdOrigins.NotPreloadedMessage}"
            : $" Set {FdOrigins.EnvironmentVariable}=true to record where it was opened.";
        string why = $"{assessment.Reason}. Fix: {assessment.Fix ?? "close it in a resource's BeforeCheckpointAsync"}.{hint}";
        return entry.Kind switch
        {
            FdKind.File or FdKind.Directory => new CheckpointOpenFileException(
                $"FileDescriptor {entry.Fd} left open: {entry.Path} ({entry.KindName}, mode {entry.Mode}, position {entry.Position}): {why}", cause),
            FdKind.TcpSocket or FdKind.UdpSocket or FdKind.UnixSocket or FdKind.Socket => new CheckpointOpenSocketException(
                $"Socket fd={entry.Fd} left open: {entry.Socket?.Describe() ?? entry.Target}: {why}", cause),
            _ => new CheckpointOpenResourceException(
                $"FD fd={entry.Fd} type={entry.KindName.Replace(' ', '-')} path={entry.Target} left open: {why}", cause),
        };
    }
}
