/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd, loaded on first use by `boxlite serve` only (as src/lib/image/curl-dl.c loads
 * libcurl): linking it would make every other command bind its symbols and those of GnuTLS &
 * co. at start (~7 ms per run, docs/design/serve-plan.md §1.5). Only microhttpd.h is needed
 * at build time; the process needs libmicrohttpd.so.12 (Debian: libmicrohttpd12).
 */
#pragma once

#include <microhttpd.h>

#include "error.h"

/* The functions of libmicrohttpd the server uses, named without their MHD_ prefix. */
struct bl_mhd {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *daemon);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *daemon,
                                                   enum MHD_DaemonInfoType info_type, ...);
    enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status_code,
                                      struct MHD_Response *response);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    void (*destroy_response)(struct MHD_Response *response);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
                                           const char *content);
    const char *(*lookup_connection_value)(struct MHD_Connection *connection,
                                           enum MHD_ValueKind kind, const char *key);
};

/* The loaded table (borrowed, valid for the life of the process): 0, or -ENOTSUP when the
 * library or one of its functions is missing (the message says which). Thread-safe. */
int bl_mhd_load(const struct bl_mhd **ret, bl_error **err);
