using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using Crac.Coordination;

namespace Crac.Runtime;

/// <summary>
/// Every process restored from one image starts with the same memory, so the same state in every
/// pseudo-random generator. This reseeds what the application did not seed itself, after every
/// restore: each <c>System.Random+XoshiroImpl</c> on the heap (Random.Shared's per-thread
/// generators and every <c>new Random()</c>) through a heap walk (<see cref="HeapWalk"/>), and
/// OpenSSL's DRBG behind RandomNumberGenerator (<see cref="OpenSslRandom"/>). It leaves alone, and
/// counts, what the application seeded (<c>new Random(seed)</c>) and classes derived from Random:
/// their sequences are the application's to choose. Guid.NewGuid reads the OS each time, and
/// string hashing's and HashCode's seeds are fixed for the process (every table built with them
/// depends on them): both are reported, not changed.
/// </summary>
internal sealed class RandomGenerators : IResource
{
    private const int XoshiroStateBytes = 4 * sizeof(ulong);

    private static readonly Type? Xoshiro = typeof(Random).GetNestedType("XoshiroImpl", BindingFlags.NonPublic);
    private static readonly Type? Seeded = typeof(Random).GetNestedType("CompatSeedImpl", BindingFlags.NonPublic);
    private static readonly Type? Derived = typeof(Random).GetNestedType("CompatDerivedImpl", BindingFlags.NonPublic);

    private string? _layoutProblem;
    private bool _layoutChecked;

    public static RandomGenerators Instance { get; } = new();

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        if (CheckpointScope.Current is { DryRun: false, Failing: false })
        {
            // Attached and checked before the image is taken (reflection is slow the first time),
            // so the restore only walks the heap.
            LayoutProblem();
            if (HeapWalk.EnsureAttached() is null && !_attachReported)
            {
                _attachReported = true;
                CheckpointActions.Record(RestoreFidelity.ReportSource, $"attached {HeapWalk.LibraryName} (a notification-only profiler) to reseed Random after the restore");
            }
        }

        return Task.CompletedTask;
    }

    private bool _attachReported;

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        if (CheckpointScope.Current is not { Restored: true })
        {
            return Task.CompletedTask;
        }

        ReseedRandom();
        (bool reseeded, string detail) = OpenSslRandom.Reseed();
        RestoreFidelity.Record(new FidelityFinding("RandomNumberGenerator", reseeded ? FidelityState.Fixed : (OpenSslRandom.LoadedLibcrypto() is null ? FidelityState.Unchanged : FidelityState.Unavailable), detail));
        foreach (FidelityFinding finding in StaticFindings())
        {
            RestoreFidelity.Record(finding);
        }

        return Task.CompletedTask;
    }

    /// <summary>What holds for every restore, whatever was done.</summary>
    private static IEnumerable<FidelityFinding> StaticFindings() =>
    [
        new FidelityFinding("Guid.NewGuid", FidelityState.Unchanged, "reads the OS's generator on every call: unique across restores with no help"),
        new FidelityFinding("string hashing", FidelityState.PerImage,
            "string.GetHashCode's randomised seed was drawn at start-up and every restore of this image shares it (tables built with it depend on it): hash-flooding resistance holds per image, not per instance; take images per deployment"),
        new FidelityFinding("HashCode", FidelityState.PerImage,
            "HashCode's seed was drawn at start-up and every restore of this image shares it; hash codes of equal values agree across instances restored from it, as they would within one process"),
    ];

    private void ReseedRandom()
    {
        if (LayoutProblem() is { } problem)
        {
            RestoreFidelity.Record(new FidelityFinding("Random", FidelityState.Unavailable, $"not reseeded: {problem}; Random.Shared and new Random() repeat the sequences of every other restore of this image"));
            return;
        }

        if (HeapWalk.Unavailable is { } unavailable)
        {
            RestoreFidelity.Record(new FidelityFinding("Random", FidelityState.Unavailable,
                $"not reseeded: {unavailable}; Random.Shared and new Random() repeat the sequences of every other restore of this image. Create generators after the restore (Core.Restored), or use RandomNumberGenerator"));
            return;
        }

        WalkResult walk;
        try
        {
            walk = HeapWalk.Run(Xoshiro, XoshiroStateBytes, [Seeded!, Derived!]);
        }
        catch (InvalidOperationException exception)
        {
            RestoreFidelity.Record(new FidelityFinding("Random", FidelityState.Unavailable, $"not reseeded: {exception.Message}"));
            return;
        }

        string walked = string.Create(CultureInfo.InvariantCulture, $"{walk.Objects:N0} objects walked in {walk.Elapsed.TotalMilliseconds:0.#} ms");
        RestoreFidelity.Record(walk.Failures == 0
            ? new FidelityFinding("Random", FidelityState.Fixed, string.Create(CultureInfo.InvariantCulture,
                $"reseeded {walk.Reseeded} generator states from the OS (Random.Shared's per-thread generators and every unseeded new Random()); {walked}"))
            : new FidelityFinding("Random", FidelityState.Unavailable, string.Create(CultureInfo.InvariantCulture,
                $"reseeded {walk.Reseeded} generator states, but getrandom failed for {walk.Failures}: those repeat the sequences of other restores; {walked}")));
        long seeded = walk.Counts[0];
        long derived = walk.Counts[1];
        if (seeded > 0 || derived > 0)
        {
            RestoreFidelity.Record(new FidelityFinding("seeded Random", FidelityState.Detected, string.Create(CultureInfo.InvariantCulture,
                $"{seeded} new Random(seed) and {derived} instances of classes derived from Random keep their state: each repeats the same sequence in every restore of this image. If they must differ per instance, seed them after the restore (an IResource, or Core.Restored)")));
        }
    }

    /// <summary>
    /// Checks, once, that XoshiroImpl's state is what the walk overwrites: four ulongs right after
    /// the method table pointer and nothing else. A runtime that changed it is left alone.
    /// </summary>
    private string? LayoutProblem()
    {
        if (Volatile.Read(ref _layoutChecked))
        {
            return _layoutProblem;
        }

        // Published in this order: a thread that sees it checked sees its result (the warm-up may race a checkpoint).
        _layoutProblem = CheckLayout();
        Volatile.Write(ref _layoutChecked, true);
        return _layoutProblem;
    }

    /// <summary>
    /// Ahead of the first checkpoint, with no effect: the layout check's reflection (before-checkpoint's
    /// first run) and the after-restore's look for OpenSSL and its findings' text (see AgentHost.WarmUp).
    /// </summary>
    public void WarmUp()
    {
        LayoutProblem();
        _ = OpenSslRandom.LoadedLibcrypto();
        foreach (FidelityFinding finding in StaticFindings())
        {
            _ = RestoreFidelity.Describe(finding);
        }
    }

    [UnconditionalSuppressMessage("Trimming", "IL2077", Justification = "Random's private nested types live in CoreLib, which is never trimmed under the JIT this runs on; a missing one is reported, not used.")]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "As above.")]
    internal static string? CheckLayout()
    {
        if (Xoshiro is null || Seeded is null || Derived is null)
        {
            return "this runtime's Random has no XoshiroImpl, CompatSeedImpl or CompatDerivedImpl";
        }

        FieldInfo[] fields = [.. HierarchyFields(Xoshiro)];
        if (fields.Length != 4 || fields.Any(f => f.FieldType != typeof(ulong)))
        {
            return $"this runtime's XoshiroImpl holds {string.Join(", ", fields.Select(f => $"{f.FieldType.Name} {f.Name}"))}, not four ulongs";
        }

        object instance = Activator.CreateInstance(Xoshiro, nonPublic: true)!;
        ulong[] reflected = [.. fields.Select(f => (ulong)f.GetValue(instance)!).Order()];
        ulong[] raw = new ulong[4];
        ref byte data = ref Unsafe.As<RawObject>(instance).FirstByte;
        for (int i = 0; i < 4; i++)
        {
            raw[i] = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref data, i * sizeof(ulong)));
        }

        GC.KeepAlive(instance);
        return reflected.SequenceEqual(raw.Order()) ? null : "XoshiroImpl's fields are not laid out right after its method table";
    }

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "CoreLib's Random internals, read under the JIT only.")]
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "As above.")]
    private static IEnumerable<FieldInfo> HierarchyFields(Type type)
    {
        for (Type? current = type; current is not null && current != typeof(object); current = current.BaseType)
        {
            foreach (FieldInfo field in current.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                yield return field;
            }
        }
    }

    public override string ToString() => "the runtime's random generators";

    /// <summary>Reads an object's first field's bytes: the data right after its method table pointer.</summary>
    private sealed class RawObject
    {
        public byte FirstByte;
    }
}
