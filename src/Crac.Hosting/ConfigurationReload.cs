using Crac.Coordination;
using Crac.Runtime;
using Microsoft.Extensions.Configuration;

namespace Crac.Hosting;

/// <summary>
/// Configuration is read at start-up, and the restored process has the restorer's environment
/// (and maybe new files and a new secret store): after a restore, every host's configuration is
/// reloaded (IConfigurationRoot.Reload), so the environment-variable provider reads the variables
/// again, the others read their sources again, and IOptionsMonitor and change tokens fire. It runs
/// in the runtime's tier, so it is done before the host's pools reopen and before the
/// application's resources are told. Hosts are tracked weakly: one that is gone is skipped.
/// </summary>
internal sealed class ConfigurationReload : IResource
{
    private static readonly ConfigurationReload Instance = new();
    private static int _registered;

    private readonly Lock _gate = new();
    private readonly List<WeakReference<IConfigurationRoot>> _roots = [];

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
        }

        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            Coordinator.Global.Agent.Register(Instance, keepAlive: true);
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
        foreach (IConfigurationRoot root in roots)
        {
            try
            {
                root.Reload();
                providers += root.Providers.Count();
            }
            catch (ObjectDisposedException)
            {
                // A host that was stopped and disposed: nothing to reload.
            }
        }

        if (roots.Count > 0)
        {
            RestoreFidelity.Record(new FidelityFinding("configuration", FidelityState.Fixed,
                $"reloaded {providers} configuration providers of {roots.Count} host{(roots.Count == 1 ? string.Empty : "s")} (environment variables, files, secret stores read again; IOptionsMonitor and change tokens fired)"));
        }

        return Task.CompletedTask;
    }

    public override string ToString() => "the hosts' configuration";
}
