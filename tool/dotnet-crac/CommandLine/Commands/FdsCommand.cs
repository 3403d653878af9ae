using System.CommandLine;
using System.Globalization;
using Crac.Diagnostics;
using Crac.FileDescriptors;
using Crac.Protocol;
using Crac.Tool.Agent;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

internal static class FdsCommand
{
    public static Command Create()
    {
        var command = new Command("fds",
            "Lists every file descriptor of a process with its kind, target, verdict and reason: what would block a checkpoint, and where it was opened when CRAC_COLLECT_FD_STACKTRACES=true.");
        var selection = new CommonOptions.ProcessSelection(command);
        var blockingOnly = new Option<bool>("--blocking") { Description = "Only the descriptors that would fail a checkpoint." };
        Option<string?> policies = CommonOptions.PoliciesOption();
        command.Options.Add(blockingOnly);
        command.Options.Add(policies);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            var request = new FdsRequest(CommonOptions.ReadPolicies(result.GetValue(policies)));
            AgentClient client = selection.Connect(result);
            FdsReply fds = await client.FdsAsync(request, cancellationToken).ConfigureAwait(false);
            TargetProcess target = client.Target;
            if (result.GetValue(blockingOnly))
            {
                fds = fds with { Fds = fds.Fds.Where(fd => fd.Blocking).ToArray() };
            }

            if (selection.Format(result) == OutputFormat.Json)
            {
                ToolJsonContext.Write(fds, ToolJsonContext.Default.FdsReply);
            }
            else
            {
                Console.Out.Write(Render(target, fds));
            }

            return ReturnCode.Ok;
        });
        return command;
    }

    private static string Render(TargetProcess target, FdsReply fds)
    {
        var table = new TextTable("FD", "KIND", "MODE", "VERDICT", "TARGET", "REASON");
        foreach (FdMessage fd in fds.Fds)
        {
            table.Add(fd.Fd.ToString(CultureInfo.InvariantCulture), WireNames.Of(fd.Kind), fd.Mode, fd.Blocking ? "BAD" : "OK", fd.Socket ?? fd.Target, fd.Reason);
        }

        var text = new System.Text.StringBuilder();
        int blocking = fds.Fds.Count(fd => fd.Blocking);
        int handled = fds.Fds.Count(fd => fd.Action != FdAutomaticAction.None);
        text.Append(CultureInfo.InvariantCulture, $"Process {target.Display}: {fds.Fds.Count} file descriptors, {blocking} would block a checkpoint, {handled} handled by the checkpoint itself.\n");
        if (fds.PolicyError is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"Warning: the resource policies are not applied, and a checkpoint would fail on them: {fds.PolicyError}\n");
        }
        else if (fds.PolicyFiles.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"Resource policies: {string.Join(", then ", fds.PolicyFiles)}\n");
        }

        text.Append(table);
        foreach (FdMessage fd in fds.Fds.Where(fd => fd.Fix is not null))
        {
            text.Append(CultureInfo.InvariantCulture, $"\nfd {fd.Fd}: fix: {fd.Fix}.");
        }

        if (blocking > 0)
        {
            text.Append('\n');
        }
        foreach (FdMessage fd in fds.Fds.Where(fd => fd.Origin is not null))
        {
            FdOriginMessage origin = fd.Origin!;
            text.Append(CultureInfo.InvariantCulture, $"\nfd {fd.Fd} was opened by {origin.Thread} at {Formatting.Time(origin.Time)}:\n");
            foreach (string frame in origin.Frames())
            {
                text.Append("\tat ").Append(frame).Append('\n');
            }
        }

        if (!fds.OriginsCollected && blocking > 0)
        {
            text.Append("\nTo see where each descriptor was opened, start the process with CRAC_COLLECT_FD_STACKTRACES=true (dotnet crac run --collect-fd-stacktraces -- ...).\n");
        }

        return text.ToString();
    }
}
