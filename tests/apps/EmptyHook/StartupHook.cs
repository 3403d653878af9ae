/// <summary>A startup hook that does nothing: the start-up benchmark's measure of what the runtime's hook machinery costs by itself.</summary>
public static class StartupHook
{
    public static void Initialize()
    {
    }
}
