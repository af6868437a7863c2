/* SPDX-License-Identifier: MIT */
/*
 * Talking to image registries (the OCI distribution API): which registries exist and how to
 * reach them (the runtime's configuration, cli.md §1.5), which candidates an image reference
 * names, how a registry asks for credentials (WWW-Authenticate) and where credentials come from
 * (the configuration, then a docker-style ~/.docker/config.json), and a small HTTP client over
 * libcurl that does the anonymous / basic / bearer-token dance for one repository.
 *
 * Secrets (passwords, tokens) live only in memory: they never reach a log line, an error
 * message or a command line.
 */
#pragma once

#include <curl/curl.h>
#include <stddef.h>

#include "error.h"

enum bl_registry_auth {
    BL_REGISTRY_AUTH_DEFAULT = 0, /* not configured: docker config.json, else anonymous */
    BL_REGISTRY_AUTH_ANONYMOUS,
    BL_REGISTRY_AUTH_BASIC,
    BL_REGISTRY_AUTH_BEARER,
};

/* One entry of "image_registries". */
struct bl_registry {
    char *host;      /* "registry.local:5000", lowercase; "docker.io" for Docker Hub */
    int http;        /* "transport": "http" (default https) */
    int skip_verify; /* TLS without certificate verification */
    int search;      /* tried for unqualified references, in order */
    enum bl_registry_auth auth;
    char *username, *password; /* basic */
    char *token;               /* bearer */
    char *ca;                  /* "ca": a PEM file of certificates to trust for this host */
};

struct bl_registries {
    struct bl_registry *v;
    size_t n;
    char *home_dir; /* the configuration's "home_dir", or NULL */
};

/*
 * Parse the runtime configuration (JSON text, may be NULL) and the extra hosts of --registry
 * (NULL-terminated, may be NULL; each https with search=true, put first, in order). Unknown keys
 * are ignored. -EINVAL with a message naming the key for a value of the wrong type or an
 * unknown transport or auth type. On failure *ret is untouched.
 */
int bl_registries_parse(const char *config_json, const char *const *hosts,
                        struct bl_registries *ret, bl_error **err);
void bl_registries_done(struct bl_registries *r);
/* The configured entry for a host (case-insensitive; docker.io aliases match), or NULL. */
const struct bl_registry *bl_registries_find(const struct bl_registries *r, const char *host);
/* "index.docker.io", "registry-1.docker.io" -> "docker.io"; otherwise the host, lowercased.
 * Caller frees; NULL on OOM. */
char *bl_registry_canonical_host(const char *host);

/*
 * The normalised references to try for an image reference, in order: a reference naming a
 * registry is tried there only; an unqualified one ("busybox", "org/app:1") at every search
 * registry in order ("busybox" at "localhost:5000" is "localhost:5000/busybox:latest"; at
 * docker.io, "docker.io/library/busybox:latest"), or at docker.io when none is configured.
 * *ret is a NULL-terminated list the caller frees with bl_strv_free(). -EINVAL for an invalid
 * reference.
 */
int bl_registry_candidates(const struct bl_registries *r, const char *ref, char ***ret,
                           bl_error **err);

/* A parsed WWW-Authenticate challenge. */
enum bl_challenge_scheme { BL_CHALLENGE_NONE = 0, BL_CHALLENGE_BASIC, BL_CHALLENGE_BEARER };
struct bl_auth_challenge {
    enum bl_challenge_scheme scheme;
    char *realm, *service, *scope; /* NULL when absent */
};
#define BL_AUTH_CHALLENGE_NULL ((struct bl_auth_challenge){0})
/*
 * Parse one WWW-Authenticate value (RFC 7235: scheme, then comma-separated name=value or
 * name="quoted \"value\"" parameters; several challenges in one value are allowed). A Bearer
 * challenge wins over Basic; other schemes are skipped. Returns 1 and fills *ret (release with
 * bl_auth_challenge_done()) if a Basic or Bearer challenge was found, 0 if none, -EINVAL if the
 * value is malformed.
 */
int bl_auth_challenge_parse(const char *value, struct bl_auth_challenge *ret, bl_error **err);
void bl_auth_challenge_done(struct bl_auth_challenge *c);

/*
 * Credentials for `host` from a docker config.json text: the "auths" entry whose key names the
 * host ("host", "https://host", "http://host/v2/", and "https://index.docker.io/v1/" for
 * docker.io), as base64 "user:password" in "auth" or as "username"/"password". Returns 1 and
 * sets *ret_user and *ret_pass (caller frees) when found, 0 when not (or the text is not JSON).
 */
int bl_docker_config_auth(const char *config_json, const char *host, char **ret_user,
                          char **ret_pass, bl_error **err);

/* base64 (standard alphabet, padded). Encode: caller frees; NULL on OOM. Decode: 0 and a
 * NUL-terminated *ret (caller frees), -EINVAL for bad input, -ENOMEM. */
char *bl_base64_encode(const void *data, size_t len);
int bl_base64_decode(const char *s, char **ret, size_t *ret_len);

/* ---- the client: one repository on one registry, for one operation ---- */

struct bl_reg_client;

/*
 * A client for `repository` at `host` (as in a normalised reference). Settings and credentials
 * come from the configured entry for the host, else defaults (https, verified, anonymous unless
 * ~/.docker/config.json has credentials). CA certificates: the entry's "ca", else
 * $CURL_CA_BUNDLE, else $SSL_CERT_FILE, else the system's.
 */
int bl_reg_client_new(const struct bl_registries *regs, const char *host, const char *repository,
                      struct bl_reg_client **ret, bl_error **err);
void bl_reg_client_free(struct bl_reg_client *c);
BL_DEFINE_CLEANUP_FUNC(struct bl_reg_client *, bl_reg_client_free)
/* The host as given to bl_reg_client_new(). Borrowed. */
const char *bl_reg_client_host(const struct bl_reg_client *c);

struct bl_reg_response {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *content_type; /* without parameters; NULL if none */
};
void bl_reg_response_done(struct bl_reg_response *r);

/*
 * GET /v2/<repository>/<what> ("manifests/<tag|digest>", "blobs/<digest>") into memory,
 * following redirects, authenticating on 401 as the registry asks. Any HTTP status is a
 * success here (the caller reads resp->status); a body larger than `max` is -EFBIG. Transport
 * failures: -EHOSTUNREACH (cannot connect, TLS failure), -ETIMEDOUT, -EIO.
 */
int bl_reg_get(struct bl_reg_client *c, const char *what, const char *accept, size_t max,
               struct bl_reg_response *resp, bl_error **err);
/*
 * The error a registry reply means, as "<code>: <message>" from its JSON errors body when it
 * has one ("manifest unknown", "unauthorized: authentication required"), else "HTTP <status>".
 * Returns -ENOENT (404), -EACCES (401, 403) or -EPROTO.
 */
int bl_reg_status_error(const struct bl_reg_response *resp, bl_error **err);
/* The same from a body already read (blob transfers). */
int bl_reg_http_error(long status, const char *body, size_t len, bl_error **err);

/*
 * A new easy handle for GET /v2/<repository>/<what> with the client's TLS settings, current
 * credentials and redirects followed (credentials are never sent to another host). *ret_headers
 * must be freed with curl_slist_free_all() after the handle.
 */
int bl_reg_new_handle(struct bl_reg_client *c, const char *what, CURL **ret,
                      struct curl_slist **ret_headers, bl_error **err);
/* After a 401 (`www_authenticate` as received; may be NULL): obtain credentials as it asks.
 * 0 if a retry may succeed, -EACCES if not. */
int bl_reg_authenticate(struct bl_reg_client *c, const char *www_authenticate, bl_error **err);
/* Map a curl failure of a transfer to -errno and "cannot reach registry '<host>': <why>". */
int bl_reg_curl_error(struct bl_reg_client *c, CURLcode code, const char *errbuf, bl_error **err);
