#!/bin/sh
# The shared library exports boxlite_* and nothing else.
set -eu
lib=${1:-build/release/libboxlite.so.0}
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^boxlite_' | grep -v '^BOXLITE_0$' || true)
if [ -n "$bad" ]; then
    echo "check-exports: unexpected exported symbols:"; echo "$bad"; exit 1
fi
echo "check-exports: $(nm -D --defined-only "$lib" | grep -c ' boxlite_') boxlite_* symbols, nothing else"
