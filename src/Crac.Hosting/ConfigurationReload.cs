using System.Runtime.CompilerServices;
using Crac.Coordination;
using Crac.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace Crac.Hosting;

/// <summary>
/// Configuration is read at start-up, and the restored process has the restorer's environment
/// (and maybe new files and a new secret store): after a restore, every host's configuration whose
/// sources changed is reloaded (IConfigurationRoot.Reload), so the environment-variable provider
/// reads the variables again, the others read their sources again, and IOptionsMonitor and change
/// tokens fire. What the providers read is kept each time they read it (<see cref="ConfigurationSources"/>):
/// a configuration whose environment and files are the same after the restore would reload to the
/// same values, and is left alone. It runs in the runtime's tier, so it is done before the host's
/// pools reopen and before the application's resources are told. Hosts are tracked weakly: one
/// that is gone is skipped.
/// </summary>
internal sealed class ConfigurationReload : IResource
{
    private static readonly ConfigurationReload Instance = new();
    private static int _registered;

    private readonly Lock _gate = new();
    private readonly List<WeakReference<IConfigurationRoot>> _roots = [];

    /// <summary>What each tracked configuration read when it last read its sources.</summary>
    private readonly ConditionalWeakTable<IConfigurationRoot, ConfigurationSources> _sources = [];

    /// <summary>Reloads this configuration after every restore.</summary>
    public static void Track(IConfiguration configuration)
    {
        if (configuration is not IConfigurationRoot root)
        {
            return;
        }

        lock (Instance._gate)
        {
            Instance._roots.RemoveAll(r => !r.TryGetTarget(out IConfigurationRoot? live) || ReferenceEquals(live, root));
            Instance._roots.Add(new WeakReference<IConfigurationRoot>(root));

            // Read now, on the host's thread (the host has built it: a read later could see a file
            // changed after the providers loaded it), and again whenever it reloads: its providers
            // fire the root's token after they read, on the thread that read.
            if (!Instance._sources.TryGetValue(root, out _))
            {
                Instance.ReadSources(root);
                ChangeToken.OnChange(root.GetReloadToken, () => Instance.ReadSources(root));
                // The comparison's first run compiles it (10-15 ms measured in a restored process):
                // run it once now, in the background, so the restore does not.
                Task.Run(() => Instance.RehearseComparison(root));
            }
        }

        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            Coordinator.Global.Agent.Register(Instance, keepAlive: true);
        }
    }

    /// <summary>Keeps what the configuration's providers read; if that cannot be read, the configuration is reloaded after every restore.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "Runs in the host's start-up and its reloads, which must go on whatever happens here.")]
    private void ReadSources(IConfigurationRoot root)
    {
        try
        {
            _sources.AddOrUpdate(root, ConfigurationSources.Read(root));
        }
        catch (Exception)
        {
            _sources.Remove(root);
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "A rehearsal that fails changes nothing; the restore compares again.")]
    private void RehearseComparison(IConfigurationRoot root)
    {
        try
        {
            if (_sources.TryGetValue(root, out ConfigurationSources? sources))
            {
                _ = sources.Difference(root, out _);
                _ = sources.Compared;
            }
        }
        catch (Exception)
        {
            // Nothing is kept from a rehearsal: the restore compares again, and reloads if it cannot.
        }
    }

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        if (CheckpointScope.Current is not { Restored: true })
        {
            return Task.CompletedTask;
        }

        List<IConfigurationRoot> roots;
        lock (_gate)
        {
            _roots.RemoveAll(r => !r.TryGetTarget(out _));
            roots = [.. _roots.Select(r => r.TryGetTarget(out IConfigurationRoot? root) ? root : null).OfType<IConfigurationRoot>()];
        }

        int providers = 0;
        var reloaded = new List<string>();
        var compared = new List<string>();
        var shellOnly = new SortedSet<string>(StringComparer.Ordinal);
        foreach (IConfigurationRoot root in roots)
        {
            try
            {
                IReadOnlyList<string> shellVariables = [];
                string? changed = _sources.TryGetValue(root, out ConfigurationSources? sources) ? sources.Difference(root, out shellVariables) : "it was not read before the checkpoint";
                providers += root.Providers.Count();
                if (changed is null)
                {
                    compared.Add(sources!.Compared);
                    if (shellVariables.Count > 0)
                    {
                        // Their values are read (IConfiguration["_"] is right); nothing binds them, so nobody is told.
                        foreach (IConfigurationProvider provider in ConfigurationSources.EnvironmentProviders(root))
                        {
                            provider.Load();
                        }

                        shellOnly.UnionWith(shellVariables);
                        ReadSources(root);
                    }

                    continue;
                }

                root.Reload();
                reloaded.Add(changed);
            }
            catch (ObjectDisposedException)
            {
                // A host that was stopped and disposed: nothing to reload.
            }
        }

        if (roots.Count > 0)
        {
            string hosts = $"{roots.Count} host{(roots.Count == 1 ? string.Empty : "s")}";
            string unchanged = $"{string.Join("; ", compared)} compared" + (shellOnly.Count == 0 ? string.Empty :
                $"; only the shell's own variables differ ({string.Join(", ", shellOnly)}): the environment providers read them again, and no change token fired");
            RestoreFidelity.Record(reloaded.Count > 0
                ? new FidelityFinding("configuration", FidelityState.Fixed,
                    $"reloaded the configuration of {reloaded.Count} of {hosts} ({string.Join("; ", reloaded)}): environment variables, files, secret stores read again; IOptionsMonitor and change tokens fired" +
                    (compared.Count > 0 ? $"; {compared.Count} not reloaded, unchanged ({unchanged})" : string.Empty))
                : new FidelityFinding("configuration", FidelityState.Unchanged,
                    $"not reloaded: the {providers} configuration providers of {hosts} would read what they read before the checkpoint ({unchanged})"));
        }

        return Task.CompletedTask;
    }

    public override string ToString() => "the hosts' configuration";
}
