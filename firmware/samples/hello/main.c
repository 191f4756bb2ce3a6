/* hello: Pip's minimal test. The root prints "Hello World" and halts with 0
 * (main's result; libpip's start file halts through the system page). */
#include <pip/pip.h>

int main(void)
{
    pip_puts("Hello World\n");
    return 0;
}
