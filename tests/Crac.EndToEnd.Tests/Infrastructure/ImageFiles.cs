namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>Damaging a CRIU image as a bad copy would.</summary>
internal static class ImageFiles
{
    /// <summary>The image's largest memory pages file: the one CRIU copies into the process.</summary>
    public static string LargestPages(string image) =>
        Directory.GetFiles(image, "pages-*.img").OrderByDescending(f => new FileInfo(f).Length).First();

    /// <summary>Inverts the byte in the middle of a file, its size the same (doing it twice undoes it).</summary>
    public static void FlipMiddleByte(string path)
    {
        using var file = new FileStream(path, FileMode.Open);
        file.Position = file.Length / 2;
        int value = file.ReadByte();
        file.Position--;
        file.WriteByte((byte)(value ^ 0xFF));
    }
}
