/* SPDX-License-Identifier: MIT */
/*
 * sha256 through OpenSSL's EVP interface (hardware accelerated where the CPU allows), loaded on
 * first use: linking libcrypto made every command pay for its ~2.5 million instructions of
 * symbol binding at start (~0.8 ms, a seventh of an `exec`), and only load and pull hash.
 */
#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

#define LIBCRYPTO "libcrypto.so.3"

static struct {
    EVP_MD_CTX *(*ctx_new)(void);
    void (*ctx_free)(EVP_MD_CTX *);
    const EVP_MD *(*sha256)(void);
    int (*init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
    int (*update)(EVP_MD_CTX *, const void *, size_t);
    int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
    int (*digest)(const void *, size_t, unsigned char *, unsigned int *, const EVP_MD *, ENGINE *);
    bool ok;
} crypto;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void crypto_load(void)
{
    void *h = dlopen(LIBCRYPTO, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return; /* kept loaded for the life of the process, like libcurl */
    *(void **) &crypto.ctx_new = dlsym(h, "EVP_MD_CTX_new");
    *(void **) &crypto.ctx_free = dlsym(h, "EVP_MD_CTX_free");
    *(void **) &crypto.sha256 = dlsym(h, "EVP_sha256");
    *(void **) &crypto.init = dlsym(h, "EVP_DigestInit_ex");
    *(void **) &crypto.update = dlsym(h, "EVP_DigestUpdate");
    *(void **) &crypto.final = dlsym(h, "EVP_DigestFinal_ex");
    *(void **) &crypto.digest = dlsym(h, "EVP_Digest");
    crypto.ok = crypto.ctx_new && crypto.ctx_free && crypto.sha256 && crypto.init &&
                crypto.update && crypto.final && crypto.digest;
}

static bool crypto_ready(void)
{
    (void) pthread_once(&crypto_once, crypto_load);
    if (!crypto.ok)
        errno = ENOSYS;
    return crypto.ok;
}

struct bl_sha256 {
    EVP_MD_CTX *ctx;
};

struct bl_sha256 *bl_sha256_new(void)
{
    if (!crypto_ready())
        return NULL;
    struct bl_sha256 *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ctx = crypto.ctx_new();
    if (!c->ctx || crypto.init(c->ctx, crypto.sha256(), NULL) != 1) {
        bl_sha256_free(c);
        return NULL;
    }
    return c;
}

void bl_sha256_update(struct bl_sha256 *c, const void *data, size_t len)
{
    (void) crypto.update(c->ctx, data, len);
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
    (void) crypto.final(c->ctx, md, &n);
    to_hex(md, n, out);
}

void bl_sha256_free(struct bl_sha256 *c)
{
    if (!c)
        return;
    if (c->ctx)
        crypto.ctx_free(c->ctx);
    free(c);
}

int bl_sha256_buf(const void *data, size_t len, char out[BL_DIGEST_STR_LEN + 1])
{
    if (!crypto_ready())
        return -ENOSYS;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (crypto.digest(data, len, md, &n, crypto.sha256(), NULL) != 1)
        return -EIO;
    to_hex(md, n, out);
    return 0;
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
