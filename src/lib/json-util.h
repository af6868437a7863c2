/* SPDX-License-Identifier: MIT */
/* jansson in the house style: a json_t reference released at the end of its scope. */
#pragma once

#include <jansson.h>

#include "macro.h"

#define _cleanup_json_ _cleanup_(json_decrefp)
