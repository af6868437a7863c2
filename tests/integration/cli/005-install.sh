#!/usr/bin/env bash
# make install honours PREFIX and DESTDIR, and an embedder builds against the installed
# library with pkg-config (shared and static) and uses it for real.
. "$(dirname "$0")/../../lib/tap.sh"

t_install_and_embed() {
    local dest="$T_HOME/dest" prefix=/opt/bl
    make -s -C "$TOP" BUILD="$BUILD" install DESTDIR="$dest" PREFIX="$prefix" >/dev/null 2>&1 || { fail "make install"; return; }
    local f
    for f in bin/boxlite bin/boxlite-shim lib/libboxlite.a lib/libboxlite.so.0 lib/libboxlite.so \
             include/boxlite/boxlite.h include/boxlite/box.h lib/pkgconfig/boxlite.pc; do
        [ -e "$dest$prefix/$f" ] || fail "missing $prefix/$f"
    done
    assert_contains "$(cat "$dest$prefix/lib/pkgconfig/boxlite.pc")" "prefix=$prefix"
    # build the example against the staged install (pkg-config with a sysroot-less path fixup)
    sed "s|^prefix=.*|prefix=$dest$prefix|; s|$prefix/lib|$dest$prefix/lib|; s|$prefix/include|$dest$prefix/include|" \
        "$dest$prefix/lib/pkgconfig/boxlite.pc" >"$T_HOME/boxlite.pc"
    local cflags libs san=""
    # a sanitizer build's library needs its runtime in the program too
    [ "$BUILD" = asan ] && san="-fsanitize=address,undefined"
    cflags=$(PKG_CONFIG_PATH=$T_HOME pkg-config --cflags boxlite)
    libs=$(PKG_CONFIG_PATH=$T_HOME pkg-config --libs boxlite)
    # shellcheck disable=SC2086
    cc -std=c99 -Wall -Werror $san $cflags "$TOP/examples/hello-image.c" -o "$T_HOME/hello" $libs || { fail "build against the shared library"; return; }
    # (a staged install: the library would look for its shim in $prefix, which is not there)
    export BOXLITE_SHIM=$dest$prefix/bin/boxlite-shim
    LD_LIBRARY_PATH=$dest$prefix/lib "$T_HOME/hello" "$T_HOME/h" "$(fixture busybox oci)" >"$T_HOME/out" 2>&1 || fail "example failed: $(cat "$T_HOME/out")"
    assert_contains "$(cat "$T_HOME/out")" "loaded docker.io/library/busybox:latest"
    assert_contains "$(cat "$T_HOME/out")" "libboxlite "
    # libboxlite.a, with the system libraries it needs linked as usual (shared)
    local deps
    deps=$(pkg-config --libs "$(PKG_CONFIG_PATH=$T_HOME pkg-config --print-requires-private boxlite | tr '\n' ' ')")
    # shellcheck disable=SC2086
    cc -std=c99 -Wall -Werror $san $cflags "$TOP/examples/hello-image.c" -o "$T_HOME/hello-static" \
        "$dest$prefix/lib/libboxlite.a" $deps -lpthread || fail "build against the static library"
    "$T_HOME/hello-static" "$T_HOME/h2" "$(fixture busybox docker)" >/dev/null || fail "static example failed"
    unset BOXLITE_SHIM
}

run_tests t_install_and_embed
