using System.CommandLine;
using Crac.Configuration;
using Crac.FileDescriptors;
using Crac.Tool.Agent;

namespace Crac.Tool.CommandLine;

/// <summary>The options every process command shares, as in dotnet-trace and dotnet-counters.</summary>
internal static class CommonOptions
{
    public static Argument<int?> ProcessIdArgument() => new("pid")
    {
        Description = "The id of the process (or use -p / -n).",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public static Option<int?> ProcessIdOption() => new("--process-id", "-p")
    {
        Description = "The id of the process.",
    };

    public static Option<string?> NameOption() => new("--name", "-n")
    {
        Description = "The name of the process: its application assembly or executable name.",
    };

    public static Option<OutputFormat> FormatOption() => new("--format")
    {
        Description = "The output format: text or json.",
        DefaultValueFactory = _ => OutputFormat.Text,
    };

    public static Option<string?> PoliciesOption() => new("--policies")
    {
        Description = "A resource-policies file (CRAC_RESOURCE_POLICIES's format) whose rules go ahead of the process's own, for this command only.",
    };

    /// <summary>Reads and checks an operator's policies file before anything is sent: a malformed one is refused here, with its line.</summary>
    public static PolicyText? ReadPolicies(string? path)
    {
        if (path is null)
        {
            return null;
        }

        string fullPath = Path.GetFullPath(path);
        try
        {
            string text = File.ReadAllText(fullPath);
            _ = ResourcePolicies.Parse(text, fullPath);
            return new PolicyText(fullPath, text);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ToolException(ReturnCode.ArgumentError, $"Cannot read the policies file {fullPath}: {exception.Message}");
        }
        catch (PolicyFileException exception)
        {
            throw new ToolException(ReturnCode.ArgumentError, $"{exception.Message} Nothing was sent to the process; fix the file and run the command again.");
        }
    }

    /// <summary>The pid argument and the -p, -n and --format options, added to a command.</summary>
    public sealed class ProcessSelection
    {
        private readonly Argument<int?> _pid = ProcessIdArgument();
        private readonly Option<int?> _processId = ProcessIdOption();
        private readonly Option<string?> _name = NameOption();
        private readonly Option<OutputFormat> _format = FormatOption();

        public ProcessSelection(Command command)
        {
            command.Arguments.Add(_pid);
            command.Options.Add(_processId);
            command.Options.Add(_name);
            command.Options.Add(_format);
        }

        public OutputFormat Format(ParseResult result) => result.GetValue(_format);

        public TargetProcess Resolve(ParseResult result)
        {
            int? fromArgument = result.GetValue(_pid);
            int? fromOption = result.GetValue(_processId);
            if (fromArgument is not null && fromOption is not null && fromArgument != fromOption)
            {
                throw new ToolException(ReturnCode.ArgumentError, $"Two different process ids were given ({fromArgument} and -p {fromOption}); give one.");
            }

            return TargetProcess.Resolve(fromArgument ?? fromOption, result.GetValue(_name));
        }

        /// <summary>Resolves the process and checks that its agent is loaded: a client for its commands.</summary>
        public AgentClient Connect(ParseResult result)
        {
            TargetProcess target = Resolve(result);
            target.RequireAgent();
            return new AgentClient(target);
        }
    }
}
