#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/: small valid
# inputs (and a few hostile ones) that start the fuzzer near the interesting code. Deterministic:
# running it again rewrites the same files. Entries the fuzzer found and that were committed
# later (names not starting with "seed-") are left alone.
import gzip
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, kind, payload, extra) with kind f(ile) d(ir) l(symlink) h(ardlink)
    c(har device) p(fifo); payload is the content or the link target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            name, kind, payload = e[0], e[1], e[2]
            extra = e[3] if len(e) > 3 else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.mode = extra.get("mode", 0o755 if kind == "d" else 0o644)
            ti.uid = extra.get("uid", 0)
            ti.gid = extra.get("gid", 0)
            if "pax" in extra:
                ti.pax_headers = extra["pax"]
            data = None
            if kind == "f":
                data = payload.encode() if isinstance(payload, str) else payload
                ti.size = len(data)
            elif kind == "d":
                ti.type = tarfile.DIRTYPE
            elif kind == "l":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
            elif kind == "h":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
            elif kind == "c":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = payload
            elif kind == "p":
                ti.type = tarfile.FIFOTYPE
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


# ---- image references ----
for i, ref in enumerate([
    "busybox", "library/busybox:latest", "docker.io/library/alpine:3.20",
    "localhost:5000/org/app:v1.2", "registry.local/a/b/c@sha256:" + "a" * 64,
    "ghcr.io/owner/repo:tag@sha256:" + "0123456789abcdef" * 4, "[::1]:5000/x:y",
    "UPPER/case", "a//b", "app:", "index.docker.io/x",
]):
    put("fuzz-image-ref", "%02d" % i, ref)

# ---- network options ----
for i, s in enumerate([
    "80", "8080:80", "127.0.0.1:8080:80/tcp", "0.0.0.0::443", "53/udp", "1.2.3.4:0:65535",
    "10.0.0.0/8", "192.168.1.7/24:443", "example.com", "*.example.com:8443",
    "host.boxlite.internal:22", "[::1]:80", "1.2.3", "enabled", "DISABLED",
    "enabled\n10.0.0.0/8\nexample.com:443\np 8080:80\np 127.0.0.1::22",
    "disabled\np 80", "\n*.x.org\np 1:2:3",
]):
    put("fuzz-net", "%02d" % i, s)

# ---- volumes (relative host paths resolve in the target's scratch directory: data/, file) ----
for i, s in enumerate([
    "/data", "/data:ro", "/data:rw", "data:/app", "data:/app:ro", "data/sub:/x:rw,ro",
    "file:/etc/f:ro", "C:\\data:/app:ro", " data : /app : ro , z ", "data:/", "/:/x",
    "data:relative", "a:b:c:d:e", "", ":", "data:/app:RO", "data:/app:readonly",
]):
    put("fuzz-volume", "%02d" % i, s)

# ---- registry.c: first byte picks the parser ----
reg = [
    'aBearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:library/busybox:pull"',
    'aBasic realm="Registry Realm"',
    'aNegotiate abc==, Bearer realm="r\\"q",scope=x',
    "a=x", 'abearer realm="unterminated',
    "bdXNlcjpwYXNz", "bYQ==", "bYWI=", "b!!!!", "bYW=Jj",
    'c{"home_dir":"/tmp/h","image_registries":[{"host":"Registry.Local:5000",'
    '"transport":"http","skip_verify":true,"search":true,"auth":{"type":"basic",'
    '"username":"u","password":"p"}},{"host":"index.docker.io","auth":{"type":"bearer",'
    '"token":"t"}},{"host":"anon.io","auth":{"type":"anonymous"}}]}',
    'c{"image_registries":{}}', 'c{"image_registries":[{"host":"x","transport":"ftp"}]}',
    'd{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}}}',
    'e{"auths":{"http://localhost:5000/v2/":{"username":"u","password":"p"}}}',
    'D{"auths":{"localhost:5000":{"auth":"bm9jb2xvbg=="}}}',
    'r\x93{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
    'r\x01{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
    "r\x05<html>oops</html>",
    "hbusybox\nlocalhost:5000\nregistry.local", "horg/app:1\nquay.io", "hx/y@sha256:" + "b" * 64,
]
for i, s in enumerate(reg):
    put("fuzz-registry", "%02d" % i, s.encode("latin-1"))

# ---- pull: content-type, platform, header line, document ----
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
index = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
         '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":1,'
         '"platform":{"os":"linux","architecture":"amd64"}},'
         '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":1,'
         '"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},'
         '{"digest":"%s","platform":{"os":"unknown","architecture":"unknown"}}]}' % (D1, D2, D1))
pulls = [
    ("application/vnd.oci.image.index.v1+json", "", "HTTP/1.1 200 OK\r", index),
    ("", "linux/arm64/v8", "Content-Range: bytes 100-200/300\r", index),
    ("", "linux/arm64", "WWW-Authenticate: Bearer realm=\"x\"\r", index),
    ("application/vnd.docker.distribution.manifest.list.v2+json", "Linux/X86_64", "HTTP/2 206",
     index.replace('"mediaType":"application/vnd.oci.image.index.v1+json",', "")),
    ("text/plain", "windows/amd64", "Content-Type: x", '{"manifests":[]}'),
    ("", "linux/riscv64", "", '{"manifests":[{"digest":"%s","mediaType":'
     '"application/vnd.oci.image.index.v1+json"}]}' % D1),
    ("", "", "", '{"schemaVersion":2,"config":{"digest":"%s"},"layers":[]}' % D1),
    ("", "bad", "", "{}"),
]
for i, (ct, pl, hd, doc) in enumerate(pulls):
    put("fuzz-pull-manifest", "%02d" % i, "%s\n%s\n%s\n%s" % (ct, pl, hd, doc))

# ---- shim protocol: byte 0 = number of fds, then the datagram ----
for i, (nfd, dg) in enumerate([
    (0, b"exec\0/bin/sh\0-c\0echo hi"), (3, b"spawn\0"), (1, b"attach"), (0, b"resize\x0024\x0080"),
    (9, b"signal\x0015\0"), (0, b"\0\0\0"), (0, b""), (5, b"error\x00125\0cannot run"),
    (0, b"x\0" * 600),
]):
    put("fuzz-shim-proto", "%02d" % i, bytes([nfd]) + dg)

# ---- layers ----
basic = [("etc", "d", None), ("etc/hosts", "f", "127.0.0.1 localhost\n"),
         ("bin", "d", None, {"mode": 0o700}), ("bin/sh", "f", b"\x7fELF", {"mode": 0o4755}),
         ("bin/ash", "h", "bin/sh"), ("usr", "l", "/"), ("home/u/.profile", "f", "x",
                                                         {"uid": 1000, "gid": 1000})]
layers = {
    "basic": tar(basic),
    "basic-gz": gz(tar(basic)),
    "ustar": tar(basic, tarfile.USTAR_FORMAT),
    "gnu-longname": tar([("d/" + "n" * 150, "f", "long"), ("l" * 120, "l", "x" * 130)],
                        tarfile.GNU_FORMAT),
    "dotdot": tar([("../outside/secret", "f", "pwned")]),
    "abs": tar([("/bl-fuzz-escape", "f", "pwned")]),
    "symlink-parent": tar([("esc", "l", "../outside"), ("esc/pwn", "f", "pwned")]),
    "symlink-abs": tar([("abs", "l", "/"), ("abs/bl-fuzz-escape", "f", "pwned")]),
    "symlink-chain": tar([("a", "l", "."), ("b", "l", "a/.."), ("c", "l", "b/b/.."),
                          ("c/bl-fuzz-escape", "f", "pwned")]),
    "hardlink-out": tar([("hl", "h", "../outside/secret")]),
    "hardlink-via-symlink": tar([("o", "l", "../outside"), ("x", "h", "o/secret")]),
    "replace": tar([("d", "d", None), ("d/f", "f", "1"), ("d", "l", "../outside"),
                    ("d/f", "f", "2"), ("d", "f", "3")]),
    "whiteouts": tar([("a", "d", None), ("a/.wh..wh..opq", "f", ""), ("a/.wh.gone", "f", ""),
                      (".wh.top", "f", ""), (".wh..wh.plnk", "f", "")]),
    "nodes": tar([("dev", "d", None), ("dev/null", "c", (1, 3)), ("dev/fifo", "p", None),
                  ("dev/wh", "c", (0, 0))]),
    "pax": tar([("x", "f", "y", {"pax": {"SCHILY.xattr.user.a": "b",
                                          "SCHILY.xattr.trusted.overlay.opaque": "y",
                                          "path": "renamed", "mtime": "1.5"}})]),
    "pax-bad-cap": tar([("x", "f", "y", {"pax": {"SCHILY.xattr.security.capability": "\x01"}})]),
    "modes": tar([("ro", "d", None, {"mode": 0}), ("ro/f", "f", "x", {"mode": 0}),
                  ("ro/sub", "d", None, {"mode": 0o1777})]),
    "dot-entries": tar([(".", "d", None), ("./a", "f", "x"), ("./", "d", None),
                        ("b/../c", "f", "y")]),
    "trailing-zeros": tar(basic) + b"\0" * 10240,
}
for name, data in layers.items():
    put("fuzz-layer-unpack", name, data)

# ---- image archives: "==> NAME" files; "*" = blobs/sha256/<digest>, @N %N #N (see target) ----
layer = tar([("hello", "f", "hello\n"), ("bin", "d", None)])
MT_M = "application/vnd.oci.image.manifest.v1+json"
MT_I = "application/vnd.oci.image.index.v1+json"
MT_L = "application/vnd.oci.image.layer.v1.tar"
cfg = ('{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},'
       '"rootfs":{"type":"layers","diff_ids":["@%d"]}}')


def oci(index_json, files):
    out = b"==> oci-layout\n{\"imageLayoutVersion\":\"1.0.0\"}\n==> index.json\n" + \
        index_json.encode()
    for name, content in files:
        out += b"\n==> " + name.encode() + b"\n" + (content if isinstance(content, bytes)
                                                    else content.encode())
    return out


manifest = ('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":'
            '"application/vnd.oci.image.config.v1+json","digest":"@3","size":#3},"layers":['
            '{"mediaType":"%s","digest":"@4","size":#4}]}' % (MT_M, MT_L))
loads = {
    "oci": oci('{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"@2","size":#2,'
               '"annotations":{"org.opencontainers.image.ref.name":"fuzz/oci:1"}}]}' % MT_M,
               [("*", manifest), ("*", cfg % 4), ("*", layer)]),
    "oci-gzip": oci('{"manifests":[{"mediaType":"%s","digest":"@2","annotations":'
                    '{"io.containerd.image.name":"docker.io/fuzz/gz:latest"}}]}' % MT_M,
                    [("*", manifest.replace(MT_L, MT_L + "+gzip")
                      .replace('"size":#4', '"size":#4')), ("*", cfg % 5), ("*", gz(layer)),
                     ("*", layer)]),
    "oci-nested": oci('{"manifests":[{"mediaType":"%s","digest":"@2","annotations":'
                      '{"org.opencontainers.image.ref.name":"latest"}}]}' % MT_I,
                      [("*", '{"manifests":[{"mediaType":"%s","digest":"@3","platform":'
                        '{"os":"linux","architecture":"arm64"}},{"mediaType":"%s",'
                        '"digest":"@3","platform":{"os":"linux","architecture":"amd64"}}]}'
                        % (MT_M, MT_M)),
                       ("*", manifest.replace("@3", "@4").replace("#3", "#4")
                        .replace("@4\",\"size\":#4}]", "@5\",\"size\":#5}]")),
                       ("*", cfg % 5), ("*", layer)]),
    "oci-symlink": oci('{"manifests":[{"mediaType":"%s","digest":"@2"}]}' % MT_M,
                       [("*", manifest), ("*", cfg % 4), ("*", layer),
                        ("blobs/sha256/alias -> ../../index.json", "")]),
    "oci-bad-digest": oci('{"manifests":[{"mediaType":"%s","digest":"sha256:%s"}]}'
                          % (MT_M, "0" * 64), []),
    "oci-dotdot": oci('{"manifests":[{"mediaType":"%s","digest":"sha256:../../../etc/passwd"}]}'
                      % MT_M, []),
    "docker": ("==> manifest.json\n[{\"Config\":\"config.json\",\"RepoTags\":[\"fuzz/docker:1\","
               "\"<none>:<none>\"],\"Layers\":[\"l/layer.tar\"]}]\n==> config.json\n"
               + cfg % 2 + "\n==> l/layer.tar\n").encode() + layer,
    "docker-links": ("==> manifest.json\n[{\"Config\":\"c\",\"Layers\":[\"a/layer.tar\"]}]\n"
                     "==> c -> config.json\n\n==> a/layer.tar -> ../b/layer.tar\n\n"
                     "==> config.json\n" + cfg % 4 + "\n==> b/layer.tar\n").encode() + layer,
}
for name, data in loads.items():
    put("fuzz-image-load", name, data)
