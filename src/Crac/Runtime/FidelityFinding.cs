using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Runtime;

/// <summary>What a restored process found about one thing a restore can get wrong, and what became of it.</summary>
/// <param name="Area">What it is about: "Random", "time zone", "memory limit"...</param>
/// <param name="State">Whether it was fixed, is as it should be, or was only detected.</param>
/// <param name="Detail">What was found or done, with its consequence and the fix when it was not fixed.</param>
internal sealed record FidelityFinding(
    string Area,
    [property: JsonConverter(typeof(KebabCaseEnumConverter<FidelityState>))] FidelityState State,
    string Detail);

/// <summary>How a restore left one thing.</summary>
internal enum FidelityState
{
    /// <summary>dotnet-crac changed it after the restore (reseeded, refreshed, reloaded).</summary>
    Fixed,

    /// <summary>It was checked and needed nothing (the same limit, the same zone).</summary>
    Unchanged,

    /// <summary>It differs from the checkpoint and cannot be fixed from outside the application: the detail says what follows and what to do.</summary>
    Detected,

    /// <summary>Fixed in the image: every process restored from it shares it (hash seeds).</summary>
    PerImage,

    /// <summary>The fix could not run here (the detail says why).</summary>
    Unavailable,
}
