/* exit for images linked without a C library: libpip's only definition the C library
 * replaces (its exit runs the atexit handlers and flushes stdio first). Weak and in an
 * archive member of its own, so it is taken only when nothing else defines exit. */
#include <pip/system.h>

__attribute__((weak, noreturn)) void exit(int code)
{
    pip_exit(code);
}
