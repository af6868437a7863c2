/* SPDX-License-Identifier: MIT */
/*
 * libcurl, loaded when a pull first needs the network (dlopen of libcurl.so.4), not linked: its
 * two dozen dependent libraries (TLS, HTTP/2, IDN, Kerberos, LDAP, ...) would otherwise be
 * loaded and relocated by every boxlite process, `run` included, for ~1 ms each time. The table
 * is filled once per process and never unloaded; it is, with the log sink and the fault
 * counters, the library's only global state.
 */
#pragma once

#include <curl/curl.h>

#include "error.h"

/* The libcurl functions boxlite uses (same signatures as curl_<name>). */
struct bl_curl {
    CURLcode (*global_init)(long flags);
    const char *(*easy_strerror)(CURLcode code);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    CURLcode (*easy_perform)(CURL *h);
    void (*easy_reset)(CURL *h);
    char *(*easy_escape)(CURL *h, const char *s, int len);
    void (*free)(void *p);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    CURLU *(*url)(void);
    CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
    CURLUcode (*url_get)(const CURLU *u, CURLUPart what, char **part, unsigned int flags);
    void (*url_cleanup)(CURLU *u);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_perform)(CURLM *m, int *running);
    CURLMsg *(*multi_info_read)(CURLM *m, int *queued);
    CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd *extra, unsigned int n, int timeout_ms,
                            int *ret);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption option, ...);
    const char *(*multi_strerror)(CURLMcode code);
};

/*
 * Load and initialise libcurl (once per process; thread-safe) and set *ret to its functions,
 * valid for the life of the process. -ENOTSUP ("pulling images needs libcurl …") when
 * libcurl.so.4 (Debian: libcurl4) cannot be loaded or lacks a function, -EIO when its global
 * initialisation fails.
 */
int bl_curl_load(const struct bl_curl **ret, bl_error **err);
