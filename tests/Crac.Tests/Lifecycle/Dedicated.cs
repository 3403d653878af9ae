namespace Crac.Tests.Lifecycle;

/// <summary>
/// Runs test code that blocks on a thread of its own. Blocking pool threads on a two-core
/// machine starves the pool the checkpoint's own notifications run on, and a notification that
/// starts after its deadline fails the checkpoint for a reason the test did not mean.
/// </summary>
internal static class Dedicated
{
    public static Task Run(Action body) =>
        Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static Task<T> Run<T>(Func<T> body) =>
        Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
