/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the image-reference parser. Any input either fails with -EINVAL and an
 * untouched output, or parses to a reference whose formatted and familiar forms both parse back
 * to the same reference, and whose formatted form is a fixed point. Built by `make fuzz`, run by
 * tests/fuzz/run.sh (docs/design/fuzzing.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "image-ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int streq_null(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void check(int ok, const char *what, const char *in)
{
    if (!ok) {
        fprintf(stderr, "fuzz-image-ref: %s for '%s'\n", what, in);
        abort();
    }
}

/* Parses `s`, which a successful parse produced, and checks it gives back `want`. */
static void check_reparse(const char *s, const struct bl_image_ref *want, const char *in)
{
    _cleanup_(bl_image_ref_done) struct bl_image_ref again = BL_IMAGE_REF_NULL;
    _cleanup_(bl_error_freep) bl_error *err = NULL;

    check(bl_image_ref_parse(s, &again, &err) == 0 && !err, "re-parse failed", in);
    check(streq_null(again.registry, want->registry) &&
              streq_null(again.repository, want->repository) && streq_null(again.tag, want->tag) &&
              streq_null(again.digest, want->digest),
          "re-parse differs", in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char sentinel;
    _cleanup_free_ char *in = bl_strndup((const char *) data, size); /* stops at a NUL */
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    struct bl_image_ref ref = {&sentinel, &sentinel, &sentinel, &sentinel};
    int r;

    if (!in)
        return 0;
    r = bl_image_ref_parse(in, &ref, &err);
    if (r < 0) {
        check(r == -EINVAL && err && err->code == -EINVAL, "unexpected error", in);
        check(strncmp(err->msg, "invalid reference format '", 26) == 0, "bad message", in);
        check(ref.registry == &sentinel && ref.repository == &sentinel && ref.tag == &sentinel &&
                  ref.digest == &sentinel,
              "output touched on failure", in);
        return 0;
    }
    check(!err, "error set on success", in);
    check(ref.registry && ref.repository && (ref.tag || ref.digest), "missing field", in);

    _cleanup_(bl_image_ref_done) struct bl_image_ref owned = ref;
    _cleanup_free_ char *formatted = bl_image_ref_format(&owned);
    _cleanup_free_ char *familiar = bl_image_ref_familiar(&owned);
    check(formatted && familiar, "format failed", in);
    check_reparse(formatted, &owned, in);
    check_reparse(familiar, &owned, in);

    /* formatting is a fixed point */
    _cleanup_(bl_image_ref_done) struct bl_image_ref again = BL_IMAGE_REF_NULL;
    _cleanup_free_ char *formatted2 = NULL;
    check(bl_image_ref_parse(formatted, &again, NULL) == 0, "re-parse failed", in);
    formatted2 = bl_image_ref_format(&again);
    check(formatted2 && strcmp(formatted, formatted2) == 0, "format not a fixed point", in);
    return 0;
}
