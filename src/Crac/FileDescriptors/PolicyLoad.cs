namespace Crac.FileDescriptors;

/// <summary>
/// The resource policies a request works with, loaded once for it. A file that cannot be used is
/// never applied in part and never takes the application down: the error travels with the load,
/// and every consumer treats it the same way, as a problem that fails a checkpoint.
/// </summary>
internal sealed record PolicyLoad(ResourcePolicies? Policies, string? Source, string? Error)
{
    public static readonly PolicyLoad None = new(null, null, null);

    /// <summary>The file CRAC_RESOURCE_POLICIES names, if any.</summary>
    public static PolicyLoad FromEnvironment()
    {
        string? path = Environment.GetEnvironmentVariable(ResourcePolicies.EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(path))
        {
            return None;
        }

        try
        {
            return new PolicyLoad(ResourcePolicies.ReadFile(path, ResourcePolicies.EnvironmentVariable), path, null);
        }
        catch (PolicyFileException exception)
        {
            return new PolicyLoad(null, path, exception.Message);
        }
    }
}
