/* SPDX-License-Identifier: MIT */
/* Umbrella header of libboxlite. */
#ifndef BOXLITE_BOXLITE_H
#define BOXLITE_BOXLITE_H

#include "box.h"
#include "common.h"
#include "exec.h"
#include "image.h"
#include "runtime.h"
#include "version.h"

#endif
