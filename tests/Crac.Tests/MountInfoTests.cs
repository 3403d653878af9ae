using Crac.Interop;

namespace Crac.Tests;

/// <summary>Which mount a path is on, from /proc/PID/mountinfo's text (Procfs.MountOf).</summary>
[TestClass]
public sealed class MountInfoTests
{
    // The shape of a container's mountinfo: optional fields (shared:, master:) before the " - ".
    private const string MountInfo = """
        22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
        25 22 0:23 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755
        26 25 0:24 / /run/user/0 rw,nosuid master:7 - tmpfs tmpfs rw,size=1024k
        27 22 0:25 / /runtime rw,relatime - xfs /dev/vdb rw
        28 22 0:26 / /data rw - ext4 /dev/vdc rw
        29 22 0:27 / /data rw - overlay overlay rw,lowerdir=/a
        """;

    [TestMethod]
    public void APathIsOnTheDeepestMountOverIt()
    {
        Assert.AreEqual(("/run", "tmpfs"), Procfs.MountOf(MountInfo, "/run"));
        Assert.AreEqual(("/run", "tmpfs"), Procfs.MountOf(MountInfo, "/run/criu.kdat"));
        Assert.AreEqual(("/run/user/0", "tmpfs"), Procfs.MountOf(MountInfo, "/run/user/0/bus"));
        Assert.AreEqual(("/", "ext4"), Procfs.MountOf(MountInfo, "/etc/hostname"));
    }

    [TestMethod]
    public void AMountPointIsNotAPrefixOfAnotherName()
    {
        Assert.AreEqual(("/runtime", "xfs"), Procfs.MountOf(MountInfo, "/runtime/x"));
        Assert.AreEqual(("/", "ext4"), Procfs.MountOf(MountInfo, "/running"));
    }

    [TestMethod]
    public void OfTwoMountsOnOnePointTheLaterHidesTheEarlier()
    {
        Assert.AreEqual(("/data", "overlay"), Procfs.MountOf(MountInfo, "/data/file"));
    }

    [TestMethod]
    public void AnUnreadableTextNamesNoMount()
    {
        Assert.IsNull(Procfs.MountOf("garbage\n\n1 2 3\n", "/run"));
    }
}
