/* SPDX-License-Identifier: MIT */
/*
 * A minimal embedder of libboxlite: opens a home, loads an image archive, and lists the images.
 *   cc hello-image.c $(pkg-config --cflags --libs boxlite) -o hello-image
 *   ./hello-image HOME ARCHIVE
 */
#include <stdio.h>

#include <boxlite/boxlite.h>

static void loaded(const char *ref, void *userdata)
{
    (void) userdata;
    printf("loaded %s\n", ref);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOME ARCHIVE\n", argv[0]);
        return 2;
    }
    boxlite_runtime_opts opts;
    boxlite_runtime_opts_init(&opts);
    opts.home = argv[1];
    boxlite_runtime *rt = NULL;
    boxlite_error *err = NULL;
    if (boxlite_runtime_open(&opts, &rt, &err) < 0 ||
        boxlite_image_load(rt, argv[2], -1, loaded, NULL, &err) < 0) {
        fprintf(stderr, "error: %s\n", boxlite_error_message(err));
        boxlite_error_free(err);
        boxlite_runtime_free(rt);
        return 1;
    }
    boxlite_image **list = NULL;
    size_t n = 0;
    if (boxlite_image_list(rt, &list, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            printf("%s %s\n", boxlite_image_reference(list[i]), boxlite_image_id(list[i]));
        boxlite_image_list_free(list, n);
    }
    printf("libboxlite %s\n", boxlite_version());
    boxlite_runtime_free(rt);
    return 0;
}
