/* Pip_SpawnChild: a child from an embedded image (spawn.h). */
#include <pip/map.h>
#include <pip/spawn.h>

int Pip_SpawnChild(pip_alloc_t *a, pip_child_t *c, const struct pip_image *img)
{
    c->img = img;
    c->desc = Pip_CreateChild(a);
    if (!c->desc)
        return PIP_SPAWN_FAIL_CREATE;
    if (Pip_LoadImage(a, c->desc, img) != PIP_MAP_OK)
        return PIP_SPAWN_FAIL_LOAD;

    uint32_t vidt = pip_alloc_zeroed(a);
    if (!vidt || Pip_MapPageWrapper(a, vidt, c->desc, PIP_VIDT_VA, PIP_RW) != PIP_MAP_OK)
        return PIP_SPAWN_FAIL_VIDT;
    Pip_VidtInit(&c->vidt, vidt);
    c->ctx_va = Pip_AllocContext(&c->vidt, &c->ctx);
    Pip_RegisterInterrupt(&c->vidt, 0, c->ctx_va);
    Pip_RegisterInterrupt(&c->vidt, PIP_CLI_SAVE_INDEX, c->ctx_va);
    Pip_RegisterInterrupt(&c->vidt, PIP_STI_SAVE_INDEX, c->ctx_va);
    Pip_ChildRestart(c, 0, 0, 0, 0, 1);
    return PIP_SPAWN_OK;
}

void Pip_ChildRestart(pip_child_t *c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                      uint32_t pipflags)
{
    /* sp 0: the image's start file sets its own stack (ld/image.ld). */
    Pip_InitContext(c->ctx, c->img->entry, 0, a0, a1, a2, a3, pipflags);
}

int Pip_ChildExitCode(const pip_child_t *c, uint32_t *code)
{
    if (c->ctx->regs[1] != PIP_CHILD_EXIT_MAGIC)
        return 0;
    *code = c->ctx->regs[0];
    return 1;
}
