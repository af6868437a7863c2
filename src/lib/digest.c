/* SPDX-License-Identifier: MIT */
/* sha256 through OpenSSL's EVP interface (hardware accelerated where the CPU allows). */
#include <openssl/evp.h>
#include <string.h>

#include "digest.h"

struct bl_sha256 {
    EVP_MD_CTX *ctx;
};

struct bl_sha256 *bl_sha256_new(void)
{
    struct bl_sha256 *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ctx = EVP_MD_CTX_new();
    if (!c->ctx || EVP_DigestInit_ex(c->ctx, EVP_sha256(), NULL) != 1) {
        bl_sha256_free(c);
        return NULL;
    }
    return c;
}

void bl_sha256_update(struct bl_sha256 *c, const void *data, size_t len)
{
    (void) EVP_DigestUpdate(c->ctx, data, len);
}

static void to_hex(const unsigned char *md, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < n; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[7 + 2 * i + 1] = hex[md[i] & 15];
    }
    out[7 + 2 * n] = 0;
}

void bl_sha256_final(struct bl_sha256 *c, char out[BL_DIGEST_STR_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    (void) EVP_DigestFinal_ex(c->ctx, md, &n);
    to_hex(md, n, out);
}

void bl_sha256_free(struct bl_sha256 *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->ctx);
    free(c);
}

void bl_sha256_buf(const void *data, size_t len, char out[BL_DIGEST_STR_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    (void) EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_hex(md, n, out);
}

int bl_digest_valid(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != BL_DIGEST_STR_LEN)
        return 0;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}
