/* The system calls newlib needs (docs/sdk.md), built against newlib's headers: output to
 * the console page (fds 1 and 2, a character device, so stdout is line-buffered), a
 * heap in the image (__heap_start..__heap_end, ld/image.ld), _exit = pip_exit; input is
 * at its end, and what a partition has no use for (files, processes) is refused. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <pip/console.h>
#include <pip/system.h>

extern char __heap_start[], __heap_end[];

static int refuse(int error)
{
    errno = error;
    return -1;
}

static int is_console(int fd)
{
    return fd >= 0 && fd <= 2;
}

int _write(int fd, const void *buf, size_t n)
{
    if (fd != 1 && fd != 2)
        return refuse(EBADF);
    const char *c = buf;
    for (size_t i = 0; i < n; i++)
        pip_putc(c[i]);
    return (int)n;
}

int _read(int fd, void *buf, size_t n)
{
    (void)buf;
    (void)n;
    return fd == 0 ? 0 : refuse(EBADF);
}

int _fstat(int fd, struct stat *st)
{
    if (!is_console(fd))
        return refuse(EBADF);
    *st = (struct stat){.st_mode = S_IFCHR};
    return 0;
}

int _isatty(int fd)
{
    return is_console(fd) ? 1 : refuse(ENOTTY);
}

int _close(int fd)
{
    return refuse(is_console(fd) ? EINVAL : EBADF);
}

off_t _lseek(int fd, off_t offset, int whence)
{
    (void)offset;
    (void)whence;
    return refuse(is_console(fd) ? ESPIPE : EBADF);
}

int _open(const char *path, int flags, ...)
{
    (void)path;
    (void)flags;
    return refuse(ENOSYS);
}

void *_sbrk(ptrdiff_t increment)
{
    static char *brk = __heap_start;
    if (increment < 0 ? increment < __heap_start - brk : increment > __heap_end - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *old = brk;
    brk += increment;
    return old;
}

int _getpid(void)
{
    return 1;
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    return refuse(EINVAL);
}

void _exit(int code)
{
    pip_exit(code);
}
