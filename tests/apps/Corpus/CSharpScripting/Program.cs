using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

// CSharpScripting: compiles and evaluates a new C# expression every 500 ms (a fresh compilation each time).
ScriptOptions options = ScriptOptions.Default.AddReferences(typeof(Enumerable).Assembly).AddImports("System", "System.Linq");
Console.WriteLine($"first={await CSharpScript.EvaluateAsync<int>("Enumerable.Range(1, 10).Sum()", options)}");
Console.WriteLine($"ready pid={Environment.ProcessId}");
for (int n = 1; ; n++)
{
    int value = await CSharpScript.EvaluateAsync<int>($"Enumerable.Range(1, {n}).Select(x => x * x).Sum()", options);
    Console.WriteLine($"evaluated n={n} value={value}");
    await Task.Delay(500);
}
