#!/usr/bin/env python3
"""Makes a polyrepo fleet for bench-polyrepo.sh: one bare git repository per service and
one registry holding each service's `sha-<short>` images in dev, stage and prod.

  polyrepo_fleet.py repos DIR SERVICES COMMITS     writes DIR/svc-NNN.git, one per service
  polyrepo_fleet.py images DIR REGISTRY            tags the services' images in the registry

Each repository is written with `git fast-import` and then laid out as `git gc` leaves a
bare repository on a git server (one pack with reachability bitmaps, a commit-graph):
COMMITS commits on develop by first parents, every 50th a --no-ff merge of a one-commit
feature branch (deleted afterwards), one file changing each time; `main` 200 commits
behind develop; one release branch. DIR/svc-NNN.first-parent lists develop's first-parent
chain, newest first, for the image step.

Images (the registry's shared layout, environments as path prefixes): dev holds an image
for every 10th of develop's newest 300 commits with `latest` on the newest; stage three of
them with `stage` on the newest of those; prod two with `prod`. Each commit's image is its
own manifest (the same two blobs, the commit in an annotation), so every tag has its own
digest as a real build's would, and an image promoted to stage has the digest it has in dev.
"""

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import urllib.request

T0 = 1_600_000_000
MERGE_EVERY = 50


def fast_import_stream(name, commits):
    parts = []

    def data(text):
        b = text.encode()
        parts.append(b"data %d\n" % len(b) + b + b"\n")

    mark = 0
    develop = None
    for i in range(1, commits + 1):
        when = T0 + i * 600
        side = None
        if i % MERGE_EVERY == 0 and develop is not None:
            mark += 1
            side = mark
            parts.append(b"commit refs/heads/feature\nmark :%d\n" % side)
            parts.append(b"author Dev <dev@example.invalid> %d +0000\n" % (when - 60))
            parts.append(b"committer Dev <dev@example.invalid> %d +0000\n" % (when - 60))
            data(f"{name}: feature work for change {i}\n")
            parts.append(b"from :%d\n" % develop)
            parts.append(b"M 644 inline feature.txt\n")
            data(f"{i}\n")
        mark += 1
        parts.append(b"commit refs/heads/develop\nmark :%d\n" % mark)
        parts.append(b"author Dev <dev@example.invalid> %d +0000\n" % when)
        parts.append(b"committer Dev <dev@example.invalid> %d +0000\n" % when)
        data(f"{name}: merge feature {i}\n" if side else f"{name}: change {i}\n")
        if develop is not None:
            parts.append(b"from :%d\n" % develop)
        if side:
            parts.append(b"merge :%d\n" % side)
        parts.append(b"M 644 inline app.txt\n")
        data(f"{i}\n")
        if i == max(1, commits - 200):
            parts.append(b"reset refs/heads/main\nfrom :%d\n" % mark)
        if i == max(1, commits - 100):
            parts.append(b"reset refs/heads/release/v1.0.0\nfrom :%d\n" % mark)
        develop = mark
    parts.append(b"reset refs/heads/feature\nfrom " + b"0" * 40 + b"\n")
    return b"".join(parts)


def make_repo(directory, index, commits):
    name = f"svc-{index:03d}"
    path = os.path.join(directory, name + ".git")
    git = ["git", "-C", path]
    subprocess.run(["git", "init", "-q", "--bare", "-b", "develop", path], check=True)
    subprocess.run(git + ["fast-import", "--quiet"], input=fast_import_stream(name, commits),
                   check=True)
    subprocess.run(git + ["repack", "-adbq"], check=True)
    subprocess.run(git + ["commit-graph", "write", "--reachable"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chain = subprocess.run(git + ["rev-list", "--first-parent", "develop"], check=True,
                           capture_output=True, text=True).stdout
    with open(os.path.join(directory, name + ".first-parent"), "w") as f:
        f.write(chain)
    return name


def repos(directory, services, commits):
    os.makedirs(directory, exist_ok=True)
    workers = max(1, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(lambda i: make_repo(directory, i, commits), range(1, services + 1)))
    print(f"{len(done)} repositories of {commits} develop commits in {directory}", file=sys.stderr)


class Registry:
    def __init__(self, address):
        self.base = f"http://{address}/v2"
        self.address = address

    def request(self, method, url, body=None, headers=None):
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        with urllib.request.urlopen(req) as r:
            return r.headers

    def push_blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        h = self.request("POST", f"{self.base}/{repo}/blobs/uploads/")
        loc = h["Location"]
        loc = loc if loc.startswith("http") else f"http://{self.address}{loc}"
        sep = "&" if "?" in loc else "?"
        self.request("PUT", f"{loc}{sep}digest={digest}", data,
                     {"Content-Type": "application/octet-stream"})
        return {"digest": digest, "size": len(data)}

    def tag(self, repo, tag, manifest):
        self.request("PUT", f"{self.base}/{repo}/manifests/{tag}", manifest,
                     {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})


CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
LAYER = b"polyrepo bench layer\n" * 50


def manifest(config, layer, sha):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}],
        "annotations": {"org.opencontainers.image.revision": sha},
    }, sort_keys=True).encode()


def service_images(registry, directory, name):
    with open(os.path.join(directory, name + ".first-parent")) as f:
        chain = [line.strip() for line in f if line.strip()]
    built = [chain[i] for i in range(0, min(300, len(chain)), 10)]
    placement = {
        "dev": (built, "latest", built[0]),
        "stage": (built[2:9:3], "stage", built[2]),
        "prod": (built[5:9:3], "prod", built[5]),
    }
    for env, (shas, mutable, current) in placement.items():
        repo = f"{env}/{name}"
        config = registry.push_blob(repo, CONFIG)
        layer = registry.push_blob(repo, LAYER)
        for sha in shas:
            registry.tag(repo, "sha-" + sha[:7], manifest(config, layer, sha))
        registry.tag(repo, mutable, manifest(config, layer, current))
    return len(built)


def images(directory, address):
    registry = Registry(address)
    names = sorted(n[:-len(".first-parent")] for n in os.listdir(directory)
                   if n.endswith(".first-parent"))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda n: service_images(registry, directory, n), names))
    print(f"{len(names)} services, {sum(counts)} dev images", file=sys.stderr)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "repos":
        repos(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "images":
        images(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
