/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for image archives (boxlite_image_load, image-load.c): the OCI layout's
 * oci-layout, index.json, nested indexes, manifests and configs, and docker-archive's
 * manifest.json and configs, all read from an untrusted tarball, then the layers unpacked and
 * the image committed to a store in a scratch home.
 *
 * The input is a list of files, each introduced by a line "==> NAME" (the first may start the
 * input), from which the target writes the tar that it loads. So that the fuzzer can name blobs
 * by digest, as the OCI layout requires:
 *   - NAME "*" is the blob's own name: blobs/sha256/<sha256 of its content>;
 *   - NAME "A -> B" is a symlink A to B;
 *   - in the content of file i, "@N" becomes "sha256:<hex>" of file N, "%N" its bare hex and
 *     "#N" its size in bytes, for a digit N > i (files are finished last to first).
 * Properties: the result and the error agree; a failed load leaves the store's image list
 * empty and its staging directory empty; a successful one lists its images.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boxlite/image.h"
#include "boxlite/runtime.h"
#include "digest.h"
#include "fs-util.h"
#include "fuzz-util.h"

#define MAX_FILES 10

static char home[PATH_MAX];
static boxlite_runtime *rt;

static void open_runtime(void)
{
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    bl_error *err = NULL;
    int r = boxlite_runtime_open(&o, &rt, &err);
    FUZZ_CHECK(r == 0, "runtime: %s", err ? err->msg : "?");
}

static void reset_home(void)
{
    boxlite_runtime_free(rt);
    rt = NULL;
    (void) bl_rm_rf_at(AT_FDCWD, home);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(home, sizeof(home), "%s/bl-fuzz-load.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(home), "mkdtemp: %m");
    (void) atexit(reset_home);
    return 0;
}

struct file {
    char name[128];
    char *link; /* symlink target, or NULL */
    const uint8_t *raw;
    size_t raw_len;
    char *text; /* after substitution */
    size_t len;
    char digest[BL_DIGEST_STR_LEN + 1];
};

/* Split the input at "==> " lines. */
static size_t split(const uint8_t *d, size_t n, struct file *f)
{
    static const char mark[] = "==> ";
    size_t k = 0, pos = 0;
    if (n >= 4 && !memcmp(d, mark, 4))
        pos = 4;
    else
        return 0;
    while (pos < n && k < MAX_FILES) {
        const uint8_t *eol = memchr(d + pos, '\n', n - pos);
        size_t name_len = eol ? (size_t) (eol - (d + pos)) : n - pos;
        struct file *x = &f[k++];
        *x = (struct file){0};
        snprintf(x->name, sizeof(x->name), "%.*s", (int) name_len, (const char *) d + pos);
        char *arrow = strstr(x->name, " -> ");
        if (arrow) {
            *arrow = 0;
            x->link = arrow + 4;
        }
        pos += name_len + (eol != NULL);
        x->raw = d + pos;
        const uint8_t *next = NULL;
        for (size_t i = pos; i + 5 <= n; i++)
            if (d[i] == '\n' && !memcmp(d + i + 1, mark, 4)) {
                next = d + i;
                break;
            }
        x->raw_len = next ? (size_t) (next - x->raw) : n - pos;
        pos = next ? (size_t) (next - d) + 5 : n;
    }
    return k;
}

static void finish(struct file *f, size_t i, size_t n)
{
    size_t cap = f[i].raw_len + 1, len = 0;
    char *out = bl_malloc(cap);
    FUZZ_CHECK(out, "oom");
    for (size_t p = 0; p < f[i].raw_len; p++) {
        uint8_t c = f[i].raw[p];
        char buf[80] = "";
        if ((c == '@' || c == '%' || c == '#') && p + 1 < f[i].raw_len) {
            unsigned t = (unsigned) (f[i].raw[p + 1] - '0');
            if (t < n && t > i) {
                if (c == '@')
                    snprintf(buf, sizeof(buf), "%s", f[t].digest);
                else if (c == '%')
                    snprintf(buf, sizeof(buf), "%s", bl_digest_hex(f[t].digest));
                else
                    snprintf(buf, sizeof(buf), "%zu", f[t].len);
                p++;
            }
        }
        size_t add = buf[0] ? strlen(buf) : 1;
        if (len + add + 1 > cap) {
            cap = (len + add + 1) * 2;
            char *o = realloc(out, cap);
            FUZZ_CHECK(o, "oom");
            out = o;
        }
        if (buf[0])
            memcpy(out + len, buf, add);
        else
            out[len] = (char) c;
        len += add;
    }
    out[len] = 0;
    f[i].text = out;
    f[i].len = len;
    FUZZ_CHECK(bl_sha256_buf(out, len, f[i].digest) == 0, "sha256");
    if (!strcmp(f[i].name, "*"))
        snprintf(f[i].name, sizeof(f[i].name), "blobs/sha256/%s", bl_digest_hex(f[i].digest));
}

static int write_tar(struct file *f, size_t n)
{
    int fd = memfd_create("image", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "memfd: %m");
    struct archive *a = archive_write_new();
    FUZZ_CHECK(a && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
                   archive_write_open_fd(a, fd) == ARCHIVE_OK,
               "archive_write");
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        FUZZ_CHECK(e, "oom");
        archive_entry_set_pathname(e, f[i].name);
        archive_entry_set_perm(e, 0644);
        if (f[i].link) {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, f[i].link);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t) f[i].len);
        }
        if (archive_write_header(a, e) == ARCHIVE_OK && !f[i].link)
            (void) archive_write_data(a, f[i].text, f[i].len);
        archive_entry_free(e);
    }
    FUZZ_CHECK(archive_write_close(a) == ARCHIVE_OK, "archive_write_close");
    archive_write_free(a);
    FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
    return fd;
}

static void loaded(const char *ref, void *userdata)
{
    FUZZ_CHECK(ref && *ref, "empty reference reported");
    ++*(int *) userdata;
}

/* Entries of <home>/tmp: staging directories left behind. */
static size_t staging_left(void)
{
    _cleanup_free_ char *p = bl_asprintf("%s/tmp", home);
    FUZZ_CHECK(p, "oom");
    DIR *d = opendir(p);
    if (!d)
        return 0;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    (void) closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct file f[MAX_FILES];
    size_t n = split(data, size, f);
    if (n == 0)
        return 0;
    for (size_t i = n; i-- > 0;)
        finish(f, i, n);
    int fd = write_tar(f, n);
    for (size_t i = 0; i < n; i++)
        free(f[i].text);

    if (!rt)
        open_runtime();
    bl_error *err = NULL;
    int refs = 0;
    int r = boxlite_image_load(rt, "-", fd, loaded, &refs, &err); /* consumes fd */
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "load: %d %s\n", r, err ? err->msg : "");
    boxlite_image **list = NULL;
    size_t n_images = 0;
    FUZZ_CHECK(boxlite_image_list(rt, &list, &n_images, NULL) == 0, "image list");
    boxlite_image_list_free(list, n_images);
    if (r < 0) {
        FUZZ_CHECK(err && err->code == r && err->msg, "failure %d without its error", r);
        FUZZ_CHECK(refs == 0, "failed load reported %d images", refs);
        FUZZ_CHECK(n_images == 0, "failed load left %zu images: %s", n_images, err->msg);
        FUZZ_CHECK(staging_left() == 0, "failed load left a staging directory: %s", err->msg);
    } else {
        FUZZ_CHECK(r == 0 && !err, "success %d with an error", r);
        FUZZ_CHECK(refs > 0 && n_images > 0, "success with %d refs, %zu images", refs, n_images);
        FUZZ_CHECK(staging_left() == 0, "successful load left a staging directory");
        reset_home(); /* the next input starts from an empty store again */
    }
    bl_error_free(err);
    return 0;
}
