using Crac.Configuration;

namespace Crac.FileDescriptors;

/// <summary>
/// The resource policies one request works with, in precedence order: the operator's (given with
/// --policies, for that request only) ahead of the application's own (CRAC_RESOURCE_POLICIES).
/// The first rule that matches wins. A file that cannot be used is never applied in part: its
/// error travels with the set, and every consumer treats it as a problem that fails a checkpoint.
/// </summary>
internal sealed record PolicySet(IReadOnlyList<ResourcePolicies> Files, IReadOnlyList<string> Errors)
{
    public static readonly PolicySet None = new([], []);

    /// <summary>The first error, if any file cannot be used.</summary>
    public string? Error => Errors.Count > 0 ? Errors[0] : null;

    public IReadOnlyList<string> Sources => [.. Files.Select(file => file.Source)];

    public PolicyRule? Match(FdEntry entry)
    {
        foreach (ResourcePolicies file in Files)
        {
            if (file.Match(entry) is { } rule)
            {
                return rule;
            }
        }

        return null;
    }

    /// <summary>The operator's rules (already parsed, or their text), then the application's file.</summary>
    public static PolicySet Load(PolicyText? operatorPolicies)
    {
        var files = new List<ResourcePolicies>();
        var errors = new List<string>();
        if (operatorPolicies is not null)
        {
            try
            {
                files.Add(ResourcePolicies.Parse(operatorPolicies.Text, operatorPolicies.Source));
            }
            catch (PolicyFileException exception)
            {
                errors.Add(exception.Message);
            }
        }

        string? path = Environment.GetEnvironmentVariable(ResourcePolicies.EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(path))
        {
            try
            {
                files.Add(ResourcePolicies.ReadFile(path, ResourcePolicies.EnvironmentVariable));
            }
            catch (PolicyFileException exception)
            {
                errors.Add(exception.Message);
            }
        }

        return new PolicySet(files, errors);
    }
}
