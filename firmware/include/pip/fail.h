/* pip_fail: print "FAIL: what (code)" and halt with exit code 1 (roots only). */
#ifndef PIP_FAIL_H
#define PIP_FAIL_H

#include <stdint.h>

__attribute__((noreturn)) void pip_fail(const char *what, uint32_t code);

#endif
