/* SPDX-License-Identifier: MIT */
/* The JSON bodies of box requests into the library's options (box-request.c). */
#pragma once

#include "http.h"

/* 400/422 InvalidArgumentError with a formatted message. */
enum MHD_Result serve_bad_arg(struct http_req *q, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Each of these returns 0, or -1 with a reply queued in *reply. Absent and null are "not
 * given" (the output is left alone). */
/* An object whose keys are all in `known` (NULL-terminated); else 422 naming the key. */
int serve_known_keys(struct http_req *q, json_t *o, const char *where, const char *const *known,
                     enum MHD_Result *reply);
/* A number in [min, max]: else 422 (not a number) or 400 (out of range). */
int serve_want_number(struct http_req *q, json_t *v, const char *field, double min, double max,
                      double *ret, enum MHD_Result *reply);

/* What a create request holds beyond the strings it borrows from its body. */
struct create_args {
    char **cmd, **env, **cap_add, **cap_drop, **allow_net;
    int auto_delete; /* remove the box once it stops (a non-detached one) */
};
void serve_create_args_done(struct create_args *a);

/* A CreateBoxRequest (spec §8.3 and the newest OpenAPI) into `bo` (initialised by the caller),
 * its strings borrowed from `body` or owned by `a`. */
int serve_parse_create(struct http_req *q, json_t *body, boxlite_box_opts *bo,
                       struct create_args *a, enum MHD_Result *reply);
