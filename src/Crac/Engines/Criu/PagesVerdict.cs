using System.Globalization;

namespace Crac.Engines.Criu;

/// <summary>
/// Keeps CRIU from resuming a restored process until its image's memory pages are known to match
/// the manifest (<see cref="ImageManifest.PagesCheck"/>, hashing while CRIU restores). A fixed
/// script, written into the restore's private directory, is CRIU's <c>--action-script</c>; it gets
/// what it needs from CRIU's environment (<see cref="Environment"/>), never from its text. CRIU 4.2
/// execs it at every stage (criu/action-scripts.c). At <c>post-restore</c> every task's memory is
/// in place and none has run an instruction of the application (they wait in CRIU's restorer for
/// the next stage), and a non-zero exit makes CRIU kill the restored tree and fail, before the
/// pidfile is written. At <c>pre-resume</c> a non-zero exit is only logged and the tasks resume,
/// so that stage cannot refuse.
/// </summary>
internal sealed class PagesVerdict
{
    public const string ScriptName = "await-pages-verdict";
    public const string VerdictName = "pages-verdict";
    public const string VerdictVariable = "CRAC_PAGES_VERDICT";
    public const string WaitVariable = "CRAC_PAGES_WAIT_SECONDS";

    /// <summary>
    /// From this much memory on, `auto` checks a plain restore's pages while CRIU restores; below
    /// it, before CRIU starts. Measured on 2 cores (AMD EPYC, 2026-12-02, a 24 MB image, 8
    /// alternating pairs): checked first on every core 309.7 ms to the tool's end, checked alongside
    /// 338.2 ms, since the hashing thread then competes with CRIU and the restorer for the cores
    /// (CRIU's own time 192 against 248 ms). Below this size, hashing on every core takes about
    /// 20 ms or less; above it, the check overlaps a restore that takes long anyway.
    /// </summary>
    public const long AlongsideFrom = 64L << 20;

    /// <summary>
    /// Whether the memory pages are checked while CRIU restores (and its action script holds the
    /// process until they are found intact), rather than before CRIU starts: <paramref name="mode"/>
    /// is first, during or auto; a lazy restore has no pages for CRIU to copy and is checked alongside.
    /// </summary>
    public static bool CheckAlongside(string mode, long pageBytes, bool lazy) =>
        mode == "during" || (mode == "auto" && (lazy || pageBytes >= AlongsideFrom));

    // Its output goes to CRIU's log (restore.log), where a failed restore is explained from.
    internal const string Script = """
        #!/bin/sh
        # dotnet-crac: CRIU's action script for one restore. At post-restore the process's memory is
        # restored and it has not run: it is resumed only if the tool found its memory pages intact.
        [ "$CRTOOLS_SCRIPT_ACTION" = post-restore ] || exit 0
        verdict=$CRAC_PAGES_VERDICT
        seconds=$CRAC_PAGES_WAIT_SECONDS
        if [ -z "$verdict" ] || [ -z "$seconds" ]; then
          echo "dotnet-crac: CRAC_PAGES_VERDICT and CRAC_PAGES_WAIT_SECONDS are not set: the restored process is not resumed" >&2
          exit 1
        fi
        if [ ! -e "$verdict" ]; then
          echo "dotnet-crac: waiting at most $seconds s for the SHA-256 check of the image's memory pages ($verdict) before the process may resume" >&2
          polls=$((seconds * 200))
          while [ ! -e "$verdict" ]; do
            if [ "$polls" -le 0 ]; then
              echo "dotnet-crac: no verdict on the memory pages after $seconds s: the restored process is not resumed" >&2
              exit 1
            fi
            polls=$((polls - 1))
            sleep 0.005
          done
        fi
        read -r result <"$verdict"
        [ "$result" = ok ] && exit 0
        echo "dotnet-crac: the image's memory pages do not match its manifest: the restored process is not resumed" >&2
        exit 1

        """;

    private readonly string _verdict;

    private PagesVerdict(string directory, TimeSpan wait)
    {
        ScriptPath = Path.Combine(directory, ScriptName);
        _verdict = Path.Combine(directory, VerdictName);
        Environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [VerdictVariable] = _verdict,
            [WaitVariable] = ((long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture),
        };
    }

    /// <summary>The script, for <c>criu restore --action-script</c>.</summary>
    public string ScriptPath { get; }

    /// <summary>What CRIU's environment must hold for the script: where the verdict appears, and how long to wait for it.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>
    /// Writes the script into <paramref name="privateDirectory"/> (the restore's own, 0700) and has
    /// the verdict written there once <paramref name="pages"/> finishes. Null when that directory's
    /// file system does not let CRIU run it (mounted noexec): the caller then checks the pages before CRIU.
    /// </summary>
    public static PagesVerdict? Arm(string privateDirectory, ImageManifest.PagesCheck pages, TimeSpan wait)
    {
        var verdict = new PagesVerdict(privateDirectory, wait);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute };
        using (var writer = new StreamWriter(verdict.ScriptPath, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false), options))
        {
            writer.Write(Script);
        }

        if (Interop.Libc.access(verdict.ScriptPath, Interop.Libc.X_OK) != 0)
        {
            return null;
        }

        pages.Result.ContinueWith(check => verdict.Write(check.IsCompletedSuccessfully && check.Result.Status == ManifestStatus.Verified), TaskScheduler.Default);
        return verdict;
    }

    // Written whole and renamed into place: the script never reads half a verdict.
    private void Write(bool intact)
    {
        try
        {
            string next = _verdict + ".next";
            File.WriteAllText(next, intact ? "ok\n" : "changed\n");
            File.Move(next, _verdict);
        }
        catch (IOException)
        {
            // The restore is over and its directory gone: the script waits for nothing any more.
        }
    }
}
