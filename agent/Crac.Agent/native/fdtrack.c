// libcrac-fdtrack: records where file descriptors are created, for dotnet-crac's fd origins
// (CRAC_COLLECT_FD_STACKTRACES=true). Preloaded (LD_PRELOAD) by `dotnet crac run
// --collect-fd-stacktraces`, it wraps the libc calls that create descriptors. For each new
// descriptor it takes a native backtrace and hands it, with the fd, to a callback the agent
// registers; the agent adds the managed stack and the thread.
//
// Calls made by the runtime itself (libcoreclr, the JIT, the host) are not reported: those fds
// are the runtime's own, and calling managed code while the runtime holds its loader lock could
// deadlock. Nothing is reported until the agent registers, nor while a report is running on the
// same thread (the callback may itself open files).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

enum { KIND_FILE = 0, KIND_SOCKET = 1, KIND_PIPE = 2, KIND_OTHER = 3 };
enum { MAX_FRAMES = 32 };

typedef void (*report_fn)(int fd, int kind, void **frames, int frame_count);

static report_fn volatile reporter;
static __thread int reporting;

// The agent calls this once, with a pointer to an [UnmanagedCallersOnly] method.
void crac_fdtrack_register(report_fn callback) { reporter = callback; }

// Whether the code at this address belongs to the runtime rather than to the application.
static int is_runtime_code(void *address)
{
    Dl_info info;
    if (!dladdr(address, &info) || !info.dli_fname) return 0;
    const char *name = strrchr(info.dli_fname, '/');
    name = name ? name + 1 : info.dli_fname;
    return strncmp(name, "libcoreclr", 10) == 0 || strncmp(name, "libclrjit", 9) == 0
        || strncmp(name, "libhostfxr", 10) == 0 || strncmp(name, "libhostpolicy", 13) == 0
        || strncmp(name, "libcrac-fdtrack", 15) == 0;
}

static void report(int fd, int kind, void *caller)
{
    report_fn callback = reporter;
    if (fd < 0 || !callback || reporting || is_runtime_code(caller)) return;
    reporting = 1;
    void *frames[MAX_FRAMES];
    int count = backtrace(frames, MAX_FRAMES);
    // Drop this library's own frames (report and the wrapper).
    int skip = 0;
    while (skip < count && is_runtime_code(frames[skip])) skip++;
    callback(fd, kind, frames + skip, count - skip);
    reporting = 0;
}

// dlsym is wrapped too (below), so the real one is found by version.
static void *real_dlsym_lookup(void *handle, const char *name)
{
    static void *(*real_dlsym)(void *, const char *);
    if (!real_dlsym)
    {
        real_dlsym = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
        if (!real_dlsym) real_dlsym = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    }
    return real_dlsym(handle, name);
}

// The next definition of a wrapped function: libc's.
#define REAL(name) static __typeof__(&name) real_##name; if (!real_##name) real_##name = (__typeof__(&name))real_dlsym_lookup(RTLD_NEXT, #name)

int open(const char *path, int flags, ...)
{
    REAL(open);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list args; va_start(args, flags); mode = va_arg(args, mode_t); va_end(args); }
    int fd = real_open(path, flags, mode);
    report(fd, KIND_FILE, __builtin_return_address(0));
    return fd;
}

int open64(const char *path, int flags, ...)
{
    REAL(open64);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list args; va_start(args, flags); mode = va_arg(args, mode_t); va_end(args); }
    int fd = real_open64(path, flags, mode);
    report(fd, KIND_FILE, __builtin_return_address(0));
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
    REAL(openat);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list args; va_start(args, flags); mode = va_arg(args, mode_t); va_end(args); }
    int fd = real_openat(dirfd, path, flags, mode);
    report(fd, KIND_FILE, __builtin_return_address(0));
    return fd;
}

int creat(const char *path, mode_t mode)
{
    REAL(creat);
    int fd = real_creat(path, mode);
    report(fd, KIND_FILE, __builtin_return_address(0));
    return fd;
}

int socket(int domain, int type, int protocol)
{
    REAL(socket);
    int fd = real_socket(domain, type, protocol);
    report(fd, KIND_SOCKET, __builtin_return_address(0));
    return fd;
}

int accept(int sockfd, struct sockaddr *address, socklen_t *length)
{
    REAL(accept);
    int fd = real_accept(sockfd, address, length);
    report(fd, KIND_SOCKET, __builtin_return_address(0));
    return fd;
}

int accept4(int sockfd, struct sockaddr *address, socklen_t *length, int flags)
{
    REAL(accept4);
    int fd = real_accept4(sockfd, address, length, flags);
    report(fd, KIND_SOCKET, __builtin_return_address(0));
    return fd;
}

int socketpair(int domain, int type, int protocol, int fds[2])
{
    REAL(socketpair);
    int result = real_socketpair(domain, type, protocol, fds);
    if (result == 0) { report(fds[0], KIND_SOCKET, __builtin_return_address(0)); report(fds[1], KIND_SOCKET, __builtin_return_address(0)); }
    return result;
}

int pipe(int fds[2])
{
    REAL(pipe);
    int result = real_pipe(fds);
    if (result == 0) { report(fds[0], KIND_PIPE, __builtin_return_address(0)); report(fds[1], KIND_PIPE, __builtin_return_address(0)); }
    return result;
}

int pipe2(int fds[2], int flags)
{
    REAL(pipe2);
    int result = real_pipe2(fds, flags);
    if (result == 0) { report(fds[0], KIND_PIPE, __builtin_return_address(0)); report(fds[1], KIND_PIPE, __builtin_return_address(0)); }
    return result;
}

// A P/Invoke to "libc" looks its function up with dlsym on libc's own handle, which bypasses
// LD_PRELOAD: hand out the wrappers for those names, so such opens are seen too.
void *dlsym(void *handle, const char *name)
{
    static const char *const wrapped[] = { "open", "open64", "openat", "creat", "socket", "accept", "accept4", "socketpair", "pipe", "pipe2" };
    if (handle != RTLD_NEXT && handle != RTLD_DEFAULT)
    {
        for (unsigned i = 0; i < sizeof wrapped / sizeof *wrapped; i++)
        {
            if (strcmp(name, wrapped[i]) == 0) return real_dlsym_lookup(RTLD_DEFAULT, name);
        }
    }
    return real_dlsym_lookup(handle, name);
}
