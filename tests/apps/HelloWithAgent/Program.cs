// The smallest app: the start-up benchmark times it with and without the agent.
Console.WriteLine("hello");
