using System.CommandLine;

namespace Crac.Tool.CommandLine;

/// <summary>Runs a command body and turns its failures into a message on stderr and a return code.</summary>
internal static class CommandRunner
{
    public static void SetAction(Command command, Func<ParseResult, CancellationToken, Task<ReturnCode>> body) =>
        command.SetAction(async (result, cancellationToken) =>
        {
            try
            {
                return (int)await body(result, cancellationToken).ConfigureAwait(false);
            }
            catch (ToolException exception)
            {
                Console.Error.WriteLine($"Error: {exception.Message}");
                return (int)exception.Code;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Console.Error.WriteLine("Cancelled.");
                return 130;
            }
            catch (Exception exception)
            {
                // A bug, not an operator error: say so, and keep the stack for the report.
                Console.Error.WriteLine($"Error: dotnet-crac failed unexpectedly ({exception.GetType().Name}: {exception.Message}). Please report it with this trace:");
                Console.Error.WriteLine(exception.StackTrace);
                return (int)ReturnCode.UnknownError;
            }
        });
}
