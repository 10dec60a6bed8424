#!/usr/bin/env python3
"""Writes a multi-platform OCI image layout of incompressible layers for bench-copy.sh.

Each layer is a genuine tar archive (one file of os.urandom bytes) wrapped in genuine gzip
made of uncompressed "stored" deflate blocks (zlib level 0). The gzip wrapper keeps
`diff_ids` truthful and makes copy tools see an already-compressed layer, so nobody
re-compresses it on the way (which would change digests and measure gzip, not copying).

Everything is streamed: random bytes are drawn in 1 MiB chunks and hashed as they are
written, so memory stays flat whatever the layer size.

Prints the digest (sha256:<hex>) of the top-level image index on stdout.
"""

import argparse
import hashlib
import json
import os
import sys
import tarfile
import zlib

CHUNK = 1 << 20
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # CREATED as a Unix time


class Blobs:
    def __init__(self, layout):
        self.dir = os.path.join(layout, "blobs", "sha256")
        os.makedirs(self.dir, exist_ok=True)
        self.tmp_count = 0

    def put_bytes(self, data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.dir, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    def put_layer(self, payload_size, name):
        """Streams one tar+gzip layer; returns (descriptor fields, diff_id)."""
        self.tmp_count += 1
        tmp = os.path.join(self.dir, ".tmp-layer-%d" % self.tmp_count)
        blob_hash = hashlib.sha256()
        tar_hash = hashlib.sha256()
        blob_size = 0
        # wbits=31: gzip container; level 0: stored blocks (no compression work).
        gz = zlib.compressobj(level=0, wbits=31)

        with open(tmp, "wb") as out:

            def emit(tar_bytes):
                nonlocal blob_size
                tar_hash.update(tar_bytes)
                packed = gz.compress(tar_bytes)
                if packed:
                    blob_hash.update(packed)
                    out.write(packed)
                    blob_size += len(packed)

            info = tarfile.TarInfo(name)
            info.size = payload_size
            info.mode = 0o644
            info.mtime = MTIME
            info.uname = info.gname = "root"
            emit(info.tobuf(format=tarfile.PAX_FORMAT))
            left = payload_size
            while left > 0:
                n = min(CHUNK, left)
                emit(os.urandom(n))
                left -= n
            # Pad the member to 512 bytes, then the two zero blocks ending the archive.
            emit(b"\0" * ((-payload_size) % 512) + b"\0" * 1024)
            tail = gz.flush()
            blob_hash.update(tail)
            out.write(tail)
            blob_size += len(tail)

        digest = blob_hash.hexdigest()
        os.replace(tmp, os.path.join(self.dir, digest))
        return {"digest": "sha256:" + digest, "size": blob_size}, "sha256:" + tar_hash.hexdigest()


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("layout", help="directory of the OCI layout (created)")
    ap.add_argument("--tag", required=True, help="ref name in index.json")
    ap.add_argument("--platforms", default="amd64,arm64", help="comma-separated linux architectures")
    ap.add_argument("--layers", type=int, default=4, help="layers per platform")
    ap.add_argument("--layer-mib", type=float, default=25.0, help="payload MiB per layer")
    args = ap.parse_args()

    os.makedirs(args.layout, exist_ok=True)
    blobs = Blobs(args.layout)
    payload = int(args.layer_mib * CHUNK)
    children = []
    for arch in [p.strip() for p in args.platforms.split(",") if p.strip()]:
        layers, diff_ids = [], []
        for i in range(args.layers):
            desc, diff_id = blobs.put_layer(payload, "layer-%s-%d.bin" % (arch, i))
            layers.append({"mediaType": OCI_LAYER_GZIP, **desc})
            diff_ids.append(diff_id)
        config = {
            "architecture": arch,
            "os": "linux",
            "created": CREATED,
            "config": {"Labels": {"dev.gantry.bench": "copy"}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": CREATED, "created_by": "bench_layout.py"} for _ in diff_ids],
        }
        config_desc = {"mediaType": OCI_CONFIG, **blobs.put_bytes(canonical(config))}
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_desc,
            "layers": layers,
        }
        man_desc = blobs.put_bytes(canonical(manifest))
        children.append(
            {"mediaType": OCI_MANIFEST, **man_desc, "platform": {"architecture": arch, "os": "linux"}}
        )

    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    index_desc = blobs.put_bytes(canonical(index))
    top = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_INDEX, **index_desc, "annotations": {REF_NAME: args.tag}}],
    }
    with open(os.path.join(args.layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(args.layout, "index.json"), "wb") as f:
        f.write(canonical(top))
    print(index_desc["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
