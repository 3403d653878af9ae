namespace Crac.Tool;

/// <summary>The tool's exit codes, one per kind of failure, as dotnet-trace has.</summary>
internal enum ReturnCode
{
    Ok = 0,

    /// <summary>The command line is wrong (System.CommandLine's own parse errors exit with 1 too).</summary>
    ArgumentError = 1,

    /// <summary>The checkpoint (or dry run) failed; the exception tree says why.</summary>
    CheckpointFailed = 2,

    /// <summary>The restore failed, or a restore notification failed.</summary>
    RestoreFailed = 3,

    ProcessNotFound = 4,

    NotDotNetProcess = 5,

    AgentNotLoaded = 6,

    PermissionDenied = 7,

    Timeout = 8,

    TargetExited = 9,

    ProtocolMismatch = 10,

    /// <summary>The agent refused the request (busy, unknown command, malformed argument).</summary>
    AgentError = 11,

    CriuUnavailable = 12,

    /// <summary>The image cannot be used: unsafe ownership, changed or truncated files (the manifest), CPU, runtime.</summary>
    ImageUnusable = 13,

    PidConflict = 14,

    UnknownError = 15,

    /// <summary>`inspect --secrets` found likely secrets in the image.</summary>
    SecretsFound = 16,

    /// <summary>`restore --or-start`: the image could not be used, so the command was started cold (detached); the report says why.</summary>
    StartedCold = 17,

    /// <summary>`restore --require-label`: the image lacks a required label.</summary>
    LabelMissing = 18,
}
