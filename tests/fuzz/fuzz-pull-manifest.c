/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what a pull reads from a registry before any layer: the manifest or
 * index document with its Content-Type (manifest_type), the choice of a platform's manifest
 * from an index (select_platform, with --platform parsed by parse_platform), and the response
 * header lines of blob transfers (xfer_header). These are static in image-pull.c, so this
 * target compiles that file in; the library archive's copy is then never linked.
 *
 * Input: line 1 is the Content-Type ("" for none), line 2 the --platform ("" for the host's),
 * line 3 one response header line (handed over as curl does: not NUL-terminated, ending in
 * "\n"), the rest the JSON document.
 */
#include "../../src/lib/image/image-pull.c"

#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *line(const uint8_t **d, size_t *n)
{
    const uint8_t *eol = memchr(*d, '\n', *n);
    size_t k = eol ? (size_t) (eol - *d) : *n;
    char *s = bl_strndup((const char *) *d, k);
    FUZZ_CHECK(s, "oom");
    *d += k + (eol != NULL);
    *n -= k + (eol != NULL);
    return s;
}

static void header(const char *text)
{
    size_t len = strlen(text) + 1;
    char *buf = bl_malloc(len); /* exactly the line: ASan sees any read past it */
    FUZZ_CHECK(buf, "oom");
    memcpy(buf, text, len - 1);
    buf[len - 1] = '\n';
    struct xfer x = {.cr_start = -1};
    FUZZ_CHECK(xfer_header(buf, 1, len, &x) == len, "header not consumed");
    free(x.www_auth);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *ct = line(&data, &size);
    _cleanup_free_ char *pl = line(&data, &size);
    _cleanup_free_ char *hdr = line(&data, &size);
    header(hdr);

    struct platform want;
    memset(&want, 0x5a, sizeof(want));
    _cleanup_(bl_error_freep) bl_error *perr = NULL;
    int r = parse_platform(*pl ? pl : NULL, &want, &perr);
    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL && perr, "parse_platform: %d", r);
        return 0;
    }
    FUZZ_CHECK(want.os[0] && want.arch[0] && memchr(want.variant, 0, sizeof(want.variant)),
               "platform '%s'", pl);

    _cleanup_json_ json_t *doc = json_loadb((const char *) data, size, 0, NULL);
    if (!json_is_object(doc))
        return 0;
    struct bl_reg_response resp = {.status = 200, .content_type = *ct ? ct : NULL};
    const char *mt = manifest_type(&resp, doc);
    FUZZ_CHECK(mt, "no media type");
    if (!is_index(mt))
        return 0;
    const char *dg = NULL;
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    r = select_platform(doc, &want, &dg, &err);
    if (r < 0)
        FUZZ_CHECK(err && err->code == r && !dg, "select_platform: %d", r);
    else
        FUZZ_CHECK(!err && bl_digest_valid(dg), "selected '%s'", dg ? dg : "(null)");
    return 0;
}
