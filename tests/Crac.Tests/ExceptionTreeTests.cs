using System.Text.Json;
using Crac.Diagnostics;
using Crac.Protocol;

namespace Crac.Tests;

[TestClass]
public sealed class ExceptionTreeTests
{
    private static readonly ExceptionNode Tree = new()
    {
        Type = "Crac.CheckpointException",
        Message = "The checkpoint failed.",
        StackTrace = ["Crac.Core.CheckpointRestoreAsync()", "App.Main()"],
        Suppressed =
        [
            new ExceptionNode
            {
                Type = "System.IO.IOException",
                Message = "disk gone",
                StackTrace = ["App.Db.BeforeCheckpointAsync()", "Crac.Core.CheckpointRestoreAsync()", "App.Main()"],
                Cause = new ExceptionNode
                {
                    Type = "System.ComponentModel.Win32Exception",
                    Message = "EIO",
                    StackTrace = ["Native.Write()", "App.Main()"],
                },
            },
            new ExceptionNode
            {
                Type = "Crac.CheckpointOpenFileException",
                Message = "FileDescriptor 7 left open: /tmp/x (regular)\nsecond line",
                Suppressed = [new ExceptionNode { Type = "System.Exception" }],
            },
        ],
    };

    [TestMethod]
    public void TheRendererPrintsSuppressedAndCausedByAsTheJvmDoes()
    {
        string expected =
            "Crac.CheckpointException: The checkpoint failed.\n" +
            "\tat Crac.Core.CheckpointRestoreAsync()\n" +
            "\tat App.Main()\n" +
            "\tSuppressed: System.IO.IOException: disk gone\n" +
            "\t\tat App.Db.BeforeCheckpointAsync()\n" +
            "\t\t... 2 more\n" +
            "\tCaused by: System.ComponentModel.Win32Exception: EIO\n" +
            "\t\tat Native.Write()\n" +
            "\t\t... 1 more\n" +
            "\tSuppressed: Crac.CheckpointOpenFileException: FileDescriptor 7 left open: /tmp/x (regular)\n" +
            "\t\t  second line\n" +
            "\t\tSuppressed: System.Exception\n";

        Assert.AreEqual(expected, ExceptionTreeRenderer.Render(Tree));
    }

    [TestMethod]
    public void JsonRoundTripKeepsEveryNode()
    {
        string json = JsonSerializer.Serialize(Tree, CracJsonContext.Default.ExceptionNode);
        ExceptionNode back = JsonSerializer.Deserialize(json, CracJsonContext.Default.ExceptionNode)!;

        Assert.AreEqual(Tree, back);
        Assert.AreEqual(Tree.Descendants().Count(), back.Descendants().Count());
        Assert.AreEqual(ExceptionTreeRenderer.Render(Tree), ExceptionTreeRenderer.Render(back));
    }

    [TestMethod]
    public void ARealExceptionBecomesATreeWithItsStackSuppressedChildrenAndCauses()
    {
        var failure = (CheckpointException)Throw(() =>
        {
            var checkpoint = new CheckpointException();
            checkpoint.AddSuppressed(Throw(() => throw new InvalidOperationException("outer", Throw(() => throw new FormatException("inner")))));
            checkpoint.AddSuppressed(new AggregateException(new TimeoutException("a"), new TimeoutException("b")));
            throw checkpoint;
        });

        ExceptionNode tree = ExceptionNode.FromException(failure);

        Assert.AreEqual("Crac.CheckpointException", tree.Type);
        Assert.HasCount(2, tree.Suppressed);
        Assert.AreEqual("outer", tree.Suppressed[0].Message);
        Assert.AreEqual("inner", tree.Suppressed[0].Cause!.Message);
        Assert.IsTrue(tree.Suppressed[0].StackTrace.Any(frame => frame.Contains(nameof(ARealExceptionBecomesATreeWithItsStackSuppressedChildrenAndCauses))));
        CollectionAssert.AreEqual(new[] { "a", "b" }, tree.Suppressed[1].Suppressed.Select(n => n.Message).ToArray());
        string text = failure.ToString();
        StringAssert.StartsWith(text, "Crac.CheckpointException: The checkpoint failed.\n");
        StringAssert.Contains(text, "\tSuppressed: System.InvalidOperationException: outer\n");
        StringAssert.Contains(text, "\tCaused by: System.FormatException: inner\n");
    }

    [TestMethod]
    public void ADeepCauseChainIsCutRatherThanOverflowing()
    {
        Exception deep = new InvalidOperationException("0");
        for (int i = 1; i < 500; i++)
        {
            deep = new InvalidOperationException(i.ToString(), deep);
        }

        ExceptionNode tree = ExceptionNode.FromException(deep);

        Assert.AreEqual(ExceptionNode.MaxDepth + 1, tree.Descendants().Count());
    }

    private static Exception Throw(Action thrower)
    {
        try
        {
            thrower();
        }
        catch (Exception exception)
        {
            return exception;
        }

        throw new AssertFailedException("did not throw");
    }
}
