using Crac.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.FileProviders;

namespace Crac.Hosting;

/// <summary>
/// What a configuration's providers read from outside the process (the environment and their
/// files' bytes), as it was when they last read it. After a restore, a configuration whose sources
/// read the same is not reloaded: the reload would produce the same values and only fire every
/// change token and IOptionsMonitor callback again (18-21 ms of a restored ASP.NET app's 40-50 ms
/// of after-restore, measured). A provider whose source is not known here (a secret store, a database,
/// a custom provider) cannot be compared, and its configuration is always reloaded.
/// </summary>
internal sealed class ConfigurationSources
{
    /// <summary>
    /// Variables a shell sets for itself (bash: the last command's path, the nesting depth, the
    /// previous directory): they differ between the shell that started the process and the one
    /// that restores it, and no application reads its configuration from them.
    /// </summary>
    public static readonly IReadOnlySet<string> ShellVariables = new HashSet<string>(StringComparer.Ordinal) { "_", "SHLVL", "OLDPWD" };

    /// <summary>Files larger than this are not kept: their configuration is always reloaded.</summary>
    private const long LargestComparedFile = 1 << 20;

    private readonly Dictionary<IConfigurationProvider, FileContent> _files;
    private readonly IReadOnlyDictionary<string, string>? _environment;
    private readonly HashSet<IConfigurationProvider> _inProcess;
    private readonly string? _notComparable;

    private ConfigurationSources(Dictionary<IConfigurationProvider, FileContent> files, HashSet<IConfigurationProvider> inProcess,
        IReadOnlyDictionary<string, string>? environment, string? notComparable)
    {
        _files = files;
        _inProcess = inProcess;
        _environment = environment;
        _notComparable = notComparable;
    }

    /// <summary>Reads what <paramref name="root"/>'s providers read, now.</summary>
    public static ConfigurationSources Read(IConfigurationRoot root)
    {
        var files = new Dictionary<IConfigurationProvider, FileContent>(ReferenceEqualityComparer.Instance);
        var inProcess = new HashSet<IConfigurationProvider>(ReferenceEqualityComparer.Instance);
        bool readsEnvironment = false;
        string? notComparable = null;
        foreach (IConfigurationProvider provider in Flatten(root))
        {
            switch (provider)
            {
                case MemoryConfigurationProvider or CommandLineConfigurationProvider:
                    inProcess.Add(provider);
                    break;
                case EnvironmentVariablesConfigurationProvider:
                    inProcess.Add(provider);
                    readsEnvironment = true;
                    break;
                case FileConfigurationProvider file when FileContent.Read(file.Source) is { } content:
                    files[provider] = content;
                    break;
                default:
                    notComparable ??= Describe(provider);
                    break;
            }
        }

        return new ConfigurationSources(files, inProcess, readsEnvironment ? MachineSnapshot.CaptureEnvironment() : null, notComparable);
    }

    /// <summary>
    /// Null when every provider of <paramref name="root"/> would read now what it read then; else
    /// what differs. <paramref name="shellVariables"/> names the variables that differ when only
    /// <see cref="ShellVariables"/> do (the result is then null).
    /// </summary>
    public string? Difference(IConfigurationRoot root, out IReadOnlyList<string> shellVariables)
    {
        shellVariables = [];
        if (_notComparable is not null)
        {
            return $"{_notComparable} cannot be compared";
        }

        foreach (IConfigurationProvider provider in Flatten(root))
        {
            if (_files.TryGetValue(provider, out FileContent? before))
            {
                var file = (FileConfigurationProvider)provider;
                if (FileContent.Read(file.Source) is not { } now || !now.SameAs(before))
                {
                    return $"{file.Source.Path} changed";
                }
            }
            else if (!_inProcess.Contains(provider))
            {
                return $"{Describe(provider)} was added since it was read";
            }
        }

        if (_environment is not null && Differences(_environment, MachineSnapshot.CaptureEnvironment()) is { Count: > 0 } variables)
        {
            if (variables.FirstOrDefault(name => !ShellVariables.Contains(name)) is { } variable)
            {
                return $"the environment variable {variable} changed";
            }

            shellVariables = variables;
        }

        return null;
    }

    /// <summary>What <see cref="Difference"/> compares, for the report.</summary>
    public string Compared =>
        (_environment is null ? string.Empty : "the environment and ") + (_files.Count == 1 ? "1 file" : $"{_files.Count} files");

    private static IEnumerable<IConfigurationProvider> Flatten(IConfigurationRoot root)
    {
        foreach (IConfigurationProvider provider in root.Providers)
        {
            if (provider is ChainedConfigurationProvider { Configuration: IConfigurationRoot chained })
            {
                foreach (IConfigurationProvider inner in Flatten(chained))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return provider;
            }
        }
    }

    private static List<string> Differences(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> now) =>
    [
        .. now.Where(variable => !before.TryGetValue(variable.Key, out string? old) || old != variable.Value).Select(variable => variable.Key),
        .. before.Keys.Where(name => !now.ContainsKey(name)),
    ];

    /// <summary>The providers that read the environment.</summary>
    public static IEnumerable<IConfigurationProvider> EnvironmentProviders(IConfigurationRoot root) =>
        Flatten(root).Where(provider => provider is EnvironmentVariablesConfigurationProvider);

    private static string Describe(IConfigurationProvider provider) => provider.GetType().Name;

    /// <summary>A configuration file's bytes, or its absence (an optional file).</summary>
    private sealed class FileContent
    {
        private readonly byte[]? _bytes;

        private FileContent(byte[]? bytes) => _bytes = bytes;

        /// <summary>Null when the file cannot be compared (no file provider, too large, unreadable).</summary>
        public static FileContent? Read(FileConfigurationSource source)
        {
            if (source.FileProvider is not { } files || source.Path is not { } path)
            {
                return null;
            }

            IFileInfo info = files.GetFileInfo(path);
            if (!info.Exists)
            {
                return new FileContent(null);
            }

            if (info.IsDirectory || info.Length > LargestComparedFile)
            {
                return null;
            }

            try
            {
                using Stream stream = info.CreateReadStream();
                using var bytes = new MemoryStream(checked((int)Math.Max(info.Length, 0)));
                stream.CopyTo(bytes);
                return bytes.Length > LargestComparedFile ? null : new FileContent(bytes.ToArray());
            }
            catch (IOException)
            {
                return null;
            }
            catch (UnauthorizedAccessException)
            {
                return null;
            }
        }

        public bool SameAs(FileContent other) =>
            _bytes is null ? other._bytes is null : other._bytes is not null && _bytes.AsSpan().SequenceEqual(other._bytes);
    }
}
