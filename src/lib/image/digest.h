/* SPDX-License-Identifier: MIT */
/* sha256 digests in the OCI form "sha256:<64 lowercase hex>". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define BL_DIGEST_HEX_LEN 64
#define BL_DIGEST_STR_LEN (7 + BL_DIGEST_HEX_LEN) /* "sha256:" + hex, without NUL */

struct bl_sha256; /* opaque streaming context */

/* NULL with errno ENOMEM, or ENOSYS when libcrypto (loaded on first use) is missing. */
struct bl_sha256 *bl_sha256_new(void);
void bl_sha256_update(struct bl_sha256 *c, const void *data, size_t len);
/* Writes "sha256:<hex>" plus NUL into out (BL_DIGEST_STR_LEN + 1 bytes). */
void bl_sha256_final(struct bl_sha256 *c, char out[BL_DIGEST_STR_LEN + 1]);
void bl_sha256_free(struct bl_sha256 *c);
BL_DEFINE_CLEANUP_FUNC(struct bl_sha256 *, bl_sha256_free)

/* One-shot digest of a buffer. */
/* 0, or -ENOSYS when libcrypto cannot be loaded. */
int bl_sha256_buf(const void *data, size_t len, char out[BL_DIGEST_STR_LEN + 1]);
/* True when s is "sha256:" followed by exactly 64 lowercase hex digits. */
int bl_digest_valid(const char *s);
/* The hex part of a valid digest. */
static inline const char *bl_digest_hex(const char *digest)
{
    return digest + 7;
}
