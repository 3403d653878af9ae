namespace Crac.Coordination;

/// <summary>
/// Where the runtime's own resources (fd handling, the hosting integration) record what they did
/// for the checkpoint running on this flow, so that nothing is done silently: every action is in
/// the checkpoint's report, in text and JSON. Outside a checkpoint it records nothing.
/// </summary>
internal static class CheckpointActions
{
    public static void Record(string source, string description)
    {
        if (CheckpointScope.Current is { } scope)
        {
            lock (scope.Actions)
            {
                scope.Actions.Add(new CheckpointAction(source, description));
            }
        }
    }
}
