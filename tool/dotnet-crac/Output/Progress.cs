namespace Crac.Tool.Output;

/// <summary>
/// Shows what a long operation is doing on one self-rewriting line of stderr when stderr is a
/// terminal; in a pipe or a log it stays silent, so scripts see only the result.
/// </summary>
internal sealed class Progress : IDisposable
{
    private static readonly char[] Spinner = ['|', '/', '-', '\\'];
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private readonly bool _quiet;
    private bool _shown;
    private int _tick;

    public Progress(bool quiet) => _quiet = quiet;

    public void Report(string message)
    {
        if (_quiet || !_interactive)
        {
            return;
        }

        int width = Math.Max(Console.WindowWidth - 1, 20);
        string line = $"{Spinner[_tick++ % Spinner.Length]} {message}";
        Console.Error.Write("\r" + (line.Length > width ? line[..width] : line.PadRight(width)));
        _shown = true;
    }

    public void Dispose()
    {
        if (_shown)
        {
            Console.Error.Write("\r" + new string(' ', Math.Max(Console.WindowWidth - 1, 20)) + "\r");
            _shown = false;
        }
    }
}
