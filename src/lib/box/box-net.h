/* SPDX-License-Identifier: MIT */
/* The network settings of a box (spec/cli.md §4.1 PublishFlags, NetworkFlags). */
#pragma once

#include <jansson.h>

#include "error.h"

struct boxlite_box;

struct bl_port {
    char host_ip[16];   /* dotted quad; 127.0.0.1 by default */
    unsigned host_port; /* 0 = chosen at start */
    unsigned box_port;  /* 1-65535 */
};
/* Parse a `-p` spec: BOX, HOST_PORT:BOX, HOST_IP:HOST_PORT:BOX or HOST_IP::BOX, each with an
 * optional /tcp. No allocation; *ret untouched on failure (-EINVAL). */
int bl_port_parse(const char *spec, struct bl_port *ret, bl_error **err);

enum bl_allow_kind {
    BL_ALLOW_CIDR,     /* host = network address, prefix = 0-32 (a bare IP is /32) */
    BL_ALLOW_HOST,     /* host = a name (lowercase), resolved at each start */
    BL_ALLOW_WILDCARD, /* host = DOMAIN of "*.DOMAIN" (lowercase) */
    BL_ALLOW_HOSTLO,   /* "host.boxlite.internal": the host's loopback */
};
struct bl_allow {
    enum bl_allow_kind kind;
    char host[254];
    unsigned prefix;
    unsigned port; /* 0 = any */
};
/* Parse an --allow-net entry. No allocation; *ret untouched on failure (-EINVAL). */
int bl_allow_parse(const char *entry, struct bl_allow *ret, bl_error **err);
/* "enabled"/"disabled" (any case); NULL is "enabled". *ret_enabled untouched on failure. */
int bl_net_mode_parse(const char *mode, int *ret_enabled, bl_error **err);
/* Validate the network options of a create (any may be NULL) and store "network", "ports" and
 * "network_explicit" in cfg. cfg may be half updated on failure. */
int bl_box_net_config(const char *mode, const char *const *allow_net, const char *const *publish,
                      json_t *cfg, bl_error **err);
/* Call put(userdata, key, value) for the network keys of shim.conf (net, slirp, nft, port,
 * allow, allow_host, allow_hostlo, allow_dns), resolving host names now. Nothing is put when
 * it fails (-ENOENT: a helper or a host is missing). */
typedef void (*bl_conf_put_fn)(void *userdata, const char *key, const char *value);
int bl_box_net_shim_conf(json_t *cfg, bl_conf_put_fn put, void *userdata, bl_error **err);
/* The box's published ports: [{"host_ip", "host_port", "box_port"}], as the running shim
 * reports them in BOX_DIR/ports when `running`, else as configured (host_port 0 = any). */
int bl_box_net_ports(struct boxlite_box *b, int running, json_t **ret, bl_error **err);
/* inspect's "NetworkSettings" object (a new reference). */
int bl_box_net_inspect(struct boxlite_box *b, json_t **ret, bl_error **err);
