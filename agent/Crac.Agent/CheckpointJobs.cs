using System.Collections.Concurrent;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>The checkpoints the agent started: the current one, and the last few, for their outcomes.</summary>
internal static class CheckpointJobs
{
    public const int Capacity = 16;
    private static readonly ConcurrentQueue<CheckpointJob> Recent = new();

    public static CheckpointJob? Current { get; private set; }

    public static CheckpointJob Start(string id, CheckpointRequest request, AgentEventSource events)
    {
        CheckpointJob job = CheckpointJob.Create(id, request, events);
        Current = job;
        Recent.Enqueue(job);
        while (Recent.Count > Capacity && Recent.TryDequeue(out _))
        {
        }

        if (!job.IsFinished)
        {
            // A dedicated thread: it is the one frozen in the image, and it resumes at restore.
            new Thread(job.Run) { IsBackground = true, Name = "crac-checkpoint" }.Start();
        }

        return job;
    }

    public static CheckpointJob? Find(string id) => Recent.FirstOrDefault(job => job.Id == id);
}
