#!/bin/sh
# Each public header compiles on its own as strict C99 and as C++.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in include/boxlite/*.h; do
    n=$(basename "$h")
    printf '#include <boxlite/%s>\nint main(void) { return 0; }\n' "$n" >"$tmp/t.c"
    gcc -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.c" -o "$tmp/t.o"
    cp "$tmp/t.c" "$tmp/t.cc"
    g++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.cc" -o "$tmp/t.o"
done
echo "check-headers: $(ls include/boxlite/*.h | wc -l) headers compile alone as C99 and C++"
