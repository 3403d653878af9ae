using Crac.Interop;

namespace Crac.Engines;

/// <summary>
/// The image directory holds the whole memory of the process, secrets included: it is created
/// 0700 with 0600 files, only ever written when the current user owns it, and only ever
/// restored from when no other user could have written it.
/// </summary>
internal static class ImageDirectory
{
    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const uint GroupOrOtherWrite = 0b000_010_010;

    /// <summary>Names a previous dotnet-crac image leaves behind, which a new checkpoint replaces.</summary>
    private static readonly string[] OwnFiles = [ImageMetadata.FileName, ImageManifest.FileName, PauseEngine.PidFileName, "dump.log", "restore.log", Criu.CriuLog.DumpStats, "stats-restore"];

    /// <summary>Creates the directory private, or checks that an existing one is ours, and clears an old image out of it.</summary>
    /// <exception cref="InvalidOperationException">The directory cannot safely hold an image; the message says why and what to do.</exception>
    public static void Prepare(string directory)
    {
        uint me = Libc.geteuid();
        if (!Libc.TryGetOwnerAndMode(directory, out uint owner, out uint mode))
        {
            try
            {
                Directory.CreateDirectory(directory, PrivateDirectory);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException(
                    $"Cannot create the image directory {directory}: {exception.Message} Choose a directory you can write to.", exception);
            }

            File.SetUnixFileMode(directory, PrivateDirectory);
            return;
        }

        if ((mode & Libc.S_IFMT) == Libc.S_IFLNK)
        {
            throw new InvalidOperationException(
                $"The image directory {directory} is a symbolic link. A checkpoint image holds the whole memory of the process, so dotnet-crac writes it only to a real directory; pass the link's target instead.");
        }

        if ((mode & Libc.S_IFMT) != Libc.S_IFDIR)
        {
            throw new InvalidOperationException($"The image directory {directory} exists and is not a directory. Pass a new or empty directory.");
        }

        if (owner != me)
        {
            throw new InvalidOperationException(
                $"The image directory {directory} belongs to uid {owner}, not to uid {me} who takes the checkpoint. A checkpoint image holds the whole memory of the process; use a directory you own (or a new path).");
        }

        string[] foreign = Directory.EnumerateFileSystemEntries(directory)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => !IsImageFile(name))
            .ToArray();
        if (foreign.Length > 0)
        {
            throw new InvalidOperationException(
                $"The image directory {directory} is not empty and not a dotnet-crac image (it holds {string.Join(", ", foreign.Take(3))}{(foreign.Length > 3 ? ", ..." : string.Empty)}). Pass a new or empty directory.");
        }

        foreach (string file in Directory.EnumerateFiles(directory))
        {
            File.Delete(file);
        }

        File.SetUnixFileMode(directory, PrivateDirectory);
    }

    /// <summary>Writes a file readable and writable by its owner only.</summary>
    public static void WritePrivateFile(string path, string contents)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = PrivateFile,
        };
        // No byte-order mark: jq, Python's json and the like refuse one.
        using (var writer = new StreamWriter(path, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false), options))
        {
            writer.Write(contents);
        }

        File.SetUnixFileMode(path, PrivateFile);
    }

    /// <summary>Makes every file of a finished image 0600 (CRIU creates some with the umask's mode).</summary>
    public static void MakeFilesPrivate(string directory)
    {
        foreach (string file in Directory.EnumerateFiles(directory))
        {
            File.SetUnixFileMode(file, PrivateFile);
        }
    }

    /// <summary>
    /// Refuses an image that another user could have written: one whose directory or any file is
    /// owned by someone other than the restorer (or root), or is writable by group or others.
    /// </summary>
    /// <returns>Null when the image is safe to restore, else the reason and the fix.</returns>
    public static string? FindUnsafeOwnership(string directory)
    {
        uint me = Libc.geteuid();
        if (!Libc.TryGetOwnerAndMode(directory, out uint owner, out uint mode))
        {
            return $"The image directory {directory} does not exist.";
        }

        if ((mode & Libc.S_IFMT) == Libc.S_IFLNK)
        {
            return $"The image directory {directory} is a symbolic link; pass its target.";
        }

        if ((mode & Libc.S_IFMT) != Libc.S_IFDIR)
        {
            return $"{directory} is not a directory.";
        }

        foreach (string path in Directory.EnumerateFileSystemEntries(directory).Prepend(directory))
        {
            if (!Libc.TryGetOwnerAndMode(path, out owner, out mode))
            {
                continue;
            }

            if (owner != me && owner != 0)
            {
                return $"{path} belongs to uid {owner}, not to you (uid {me}) or root, so another user could have written this image. " +
                       "Restore only images you made; take a new checkpoint.";
            }

            if ((mode & GroupOrOtherWrite) != 0)
            {
                return $"{path} is writable by group or others (mode {Convert.ToString(mode & 0x1FF, 8)}), so another user could have altered this image. " +
                       $"If you trust its content, chmod -R go-w {directory}; otherwise take a new checkpoint.";
            }
        }

        return null;
    }

    private static bool IsImageFile(string name) =>
        OwnFiles.Contains(name) || name.EndsWith(".img", StringComparison.Ordinal) || name.StartsWith("criu-", StringComparison.Ordinal);
}
