namespace Crac.FileDescriptors;

internal enum PolicyType
{
    File,
    Pipe,
    Socket,
    FileDescriptor,
}
