/* bench child: yields straight back to its parent's saved context, for ever. Its own
 * context is saved in its main context (VIDT slot 48), so the parent's next yield to
 * slot 0 continues this loop. */
#include <pip/pip.h>

int main(uint32_t parent_slot)
{
    for (;;)
        Pip_Yield(0, parent_slot, 48, 0, 0);
}
