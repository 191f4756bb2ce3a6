/* Typed wrappers around pip_call6 (call numbers: abi.h, from pipkernel/abi.py). */
#include <pip/api.h>
#include <pip/call.h>

uint32_t Pip_CreatePartition(uint32_t desc, uint32_t pd, uint32_t sh1, uint32_t sh2,
                             uint32_t ll)
{
    return pip_call6(desc, pd, sh1, sh2, ll, 0, PIP_CALL_CREATEPARTITION);
}

uint32_t Pip_DeletePartition(uint32_t desc)
{
    return pip_call6(desc, 0, 0, 0, 0, 0, PIP_CALL_DELETEPARTITION);
}

uint32_t Pip_AddVAddr(uint32_t va_parent, uint32_t desc, uint32_t va_child, uint32_t r,
                      uint32_t w, uint32_t e)
{
    return pip_call6(va_parent, desc, va_child, r, w, e, PIP_CALL_ADDVADDR);
}

uint32_t Pip_RemoveVAddr(uint32_t desc, uint32_t va_child)
{
    return pip_call6(desc, va_child, 0, 0, 0, 0, PIP_CALL_REMOVEVADDR);
}

uint32_t Pip_Prepare(uint32_t desc, uint32_t va_child, uint32_t fst_va)
{
    return pip_call6(desc, va_child, fst_va, 0, 0, 0, PIP_CALL_PREPARE);
}

uint32_t Pip_Collect(uint32_t desc, uint32_t va)
{
    return pip_call6(desc, va, 0, 0, 0, 0, PIP_CALL_COLLECT);
}

uint32_t Pip_CountToMap(uint32_t desc, uint32_t va_child)
{
    return pip_call6(desc, va_child, 0, 0, 0, 0, PIP_CALL_COUNTTOMAP);
}

uint32_t Pip_MappedInChild(uint32_t va_parent)
{
    return pip_call6(va_parent, 0, 0, 0, 0, 0, PIP_CALL_MAPPEDINCHILD);
}

uint32_t Pip_Yield(uint32_t callee, uint32_t target_int, uint32_t save_index,
                   uint32_t flags_on_yield, uint32_t flags_on_wake)
{
    return pip_call6(callee, target_int, save_index, flags_on_yield, flags_on_wake, 0,
                     PIP_CALL_YIELD);
}

uint32_t Pip_Dispatch(uint32_t desc, uint32_t vint, uint32_t notify, uint32_t data1,
                      uint32_t data2)
{
    return pip_call6(desc, vint, notify, data1, data2, 0, PIP_CALL_DISPATCH);
}

uint32_t Pip_Resume(uint32_t desc, uint32_t pipflags)
{
    return pip_call6(desc, pipflags, 0, 0, 0, 0, PIP_CALL_RESUME);
}

uint32_t Pip_GetIntState(uint32_t desc)
{
    return pip_call6(desc, 0, 0, 0, 0, 0, PIP_CALL_GET_INT_STATE);
}

void Pip_SetIntState(uint32_t state)
{
    (void)pip_call6(state, 0, 0, 0, 0, 0, PIP_CALL_SET_INT_STATE);
}
