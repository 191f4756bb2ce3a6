/* libpip for the pipsim machine: everything. See firmware/README.md. */
#ifndef PIP_PIP_H
#define PIP_PIP_H

#include <stdint.h>
#include "abi.h"
#include "call.h"
#include "api.h"
#include "console.h"
#include "system.h"
#include "mem.h"
#include "alloc.h"
#include "map.h"
#include "context.h"
#include "vidt.h"
#include "image.h"
#include "spawn.h"
#include "fail.h"

/* Linker-script symbols (ld/image.ld). */
extern char __image_start[], __image_end[], __stack_top[];

#endif
