/* SPDX-License-Identifier: MIT */
/* The routes of `boxlite serve` (routes.c). */
#pragma once

#include "http.h"

/* Answer a request under /v1: `segs` are the path's segments after "/v1" (n of them,
 * n >= 1); 404 and 405 when no route has the path or the method. */
enum MHD_Result serve_route(struct http_req *q, const char *method, char **segs, size_t n);
