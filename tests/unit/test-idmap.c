/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for idmap.c: finding the user's range in /etc/subuid-style text (by name or id,
 * first match, comments, malformed lines of others ignored, ours refused), the spec the shim
 * reads, and what `info` says for each kind of map.
 */
#include <string.h>

#include "../lib/tap.h"
#include "idmap.h"

TEST(find_by_name_and_id)
{
    uint32_t start = 0, count = 0;
    const char *text = "# ranges\nalice:100000:65536\nbob:165536:65536\n1001:231072:1000\n";
    ASSERT_EQ(bl_subid_find(text, "bob", 1000, &start, &count), 1);
    ASSERT_EQ(start, 165536);
    ASSERT_EQ(count, 65536);
    ASSERT_EQ(bl_subid_find(text, "carol", 1001, &start, &count), 1); /* by uid */
    ASSERT_EQ(start, 231072);
    ASSERT_EQ(count, 1000);
    ASSERT_EQ(bl_subid_find(text, NULL, 1001, &start, &count), 1); /* no name known */
    ASSERT_EQ(bl_subid_find(text, "dave", 1002, &start, &count), 0);
    ASSERT_EQ(bl_subid_find("", "alice", 1, &start, &count), 0);
    /* a prefix of a name is not the name; no trailing newline is fine */
    ASSERT_EQ(bl_subid_find("alic:5:5\nalice:7:9", "alice", 1, &start, &count), 1);
    ASSERT_EQ(start, 7);
    ASSERT_EQ(count, 9);
}

TEST(bad_lines)
{
    uint32_t start = 0, count = 0;
    /* others' junk is not our business; ours is an error */
    ASSERT_EQ(bl_subid_find("junk\nbob:x:y\nalice:10:20\n", "alice", 1, &start, &count), 1);
    ASSERT_EQ(bl_subid_find("alice:10:x\n", "alice", 1, &start, &count), -EINVAL);
    ASSERT_EQ(bl_subid_find("alice:99999999999:1\n", "alice", 1, &start, &count), -EINVAL);
    /* an empty range, or one past the last id, is skipped for the next line */
    ASSERT_EQ(
        bl_subid_find("alice:10:0\nalice:4294967295:2\nalice:50:60\n", "alice", 1, &start, &count),
        1);
    ASSERT_EQ(start, 50);
    ASSERT_EQ(count, 60);
}

TEST(spec_and_describe)
{
    struct bl_idmap m = {.userns = true,
                         .range = true,
                         .uid = 1000,
                         .gid = 1001,
                         .sub_uid = 100000,
                         .n_uid = 65536,
                         .sub_gid = 200000,
                         .n_gid = 65536};
    char *spec = bl_idmap_spec(&m);
    ASSERT_STREQ(spec, "1000:100000:65536:1001:200000:65536");
    free(spec);
    char *d = bl_idmap_describe(&m);
    ASSERT_TRUE(strstr(d, "subordinate range") && strstr(d, "100000-165535") &&
                strstr(d, "200000-265535"));
    free(d);
    m.range = false;
    d = bl_idmap_describe(&m);
    ASSERT_TRUE(strstr(d, "single id, uid 1000 and gid 1001") != NULL);
    free(d);
    m.userns = false;
    d = bl_idmap_describe(&m);
    ASSERT_STREQ(d, "host ids (root)");
    free(d);
}

TAP_MAIN(T(find_by_name_and_id), T(bad_lines), T(spec_and_describe))
