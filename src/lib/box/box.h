/* SPDX-License-Identifier: MIT */
/*
 * The box module's internal API for code outside src/lib/box/ that needs more than the public
 * header (the unit tests and fuzzers of its parsers): the parts' headers it is made of. Code of
 * the library includes the part it uses, not this.
 */
#pragma once

#include "box-internal.h"
#include "box-net.h"
#include "box-records.h"
#include "box-recover.h"
#include "box-volume.h"
#include "helpers.h"
#include "runtime.h"
