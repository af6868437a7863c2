/* SPDX-License-Identifier: MIT */
/*
 * ns: the box's namespaces are its own. HOST_NS lists "name:inode" pairs of the host's
 * namespaces (of the test, /proc/self/ns/NAME) that the box must not share; as PID 1 the probe must
 * see no process but its own.
 */
#include <dirent.h>

#include "probe.h"

int main(void)
{
    probe_init();
    char *list = strdup(env_or("HOST_NS", ""));
    for (char *tok = strtok(list, " "); tok; tok = strtok(NULL, " ")) {
        char name[32];
        unsigned long long ino;
        if (sscanf(tok, "%31[^:]:%llu", name, &ino) != 2)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
        struct stat st;
        if (stat(path, &st) < 0)
            note("%s: %s", path, strerror(errno));
        else if (st.st_ino == ino)
            escaped("the box shares the host's %s namespace (%llu)", name, ino);
        else
            held("%s namespace is the box's own (%llu, the host's %llu)", name,
                 (unsigned long long) st.st_ino, ino);
    }
    free(list);
    if (getpid() == 1) {
        DIR *d = opendir("/proc");
        int others = 0;
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (atoi(e->d_name) > 1) {
                others++;
                note("another process is visible: /proc/%s", e->d_name);
            }
        if (d)
            closedir(d);
        if (others)
            escaped("%d processes besides PID 1 in the box's /proc", others);
        else
            held("the box's /proc shows only its PID 1");
    }
    const char *host = getenv("HOST_HOSTNAME");
    char hn[256] = "";
    gethostname(hn, sizeof(hn));
    if (host && !strcmp(host, hn))
        escaped("the box's hostname is the host's (%s)", hn);
    return probe_done();
}
