#!/usr/bin/env python3
"""Times a promotion that carries 200 MB of referrers against the image alone (bench-referrers.sh).

Two local `docker-registry` processes (dev, stage: Distribution 2.8, so referrers go
through the `sha256-<hex>` fallback tag). dev holds two images of the same shape (a
two-platform index written by scripts/bench_layout.py, pushed by skopeo):
  - `plain`: the image alone;
  - `attached`: another image of the same size, with REFERRERS artifacts of REF_MIB MiB of
    incompressible bytes each (SBOM-, attestation- and signature-typed) pushed by oras-py
    as OCI 1.1 referrers, one of them a referrer of a referrer.
Each round wipes stage (stopped, storage removed, restarted: untimed), then times
`gantry promote` of one image into it, the two alternating which goes first. From the
medians:
  rate     = image bytes / time of the image alone (the cold-copy rate of this run);
  expected = time of the image alone + referrer bytes / rate;
  ratio    = time with referrers / expected       (target: <= 1.10).
Every run is checked: the image's digest in stage, and every referrer listed in stage's
fallback index under the same digests (read by oras-py, not gantry).
Prints the figures and a markdown table. A measurement, not a test: exit 0 either way.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import oras.provider

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROUNDS = int(os.environ.get("ROUNDS", "5"))
REFERRERS = int(os.environ.get("BENCH_REFERRERS", "8"))
REF_MIB = float(os.environ.get("BENCH_REFERRER_MIB", "25"))
LAYER_MIB = float(os.environ.get("BENCH_LAYER_MIB", "25"))
SERVICE = "bench-svc"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
TYPES = ["application/spdx+json", "application/vnd.cyclonedx+json",
         "application/vnd.dsse.envelope.v1+json", "application/vnd.dev.cosign.artifact.sig.v1+json"]


def say(text):
    print(f"bench-referrers: {text}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, work, name):
        self.dir = os.path.join(work, name)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: \"{self.addr}\"\n")
        log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen(["docker-registry", "serve", os.path.join(self.dir, "config.yml")],
                                     stdout=log, stderr=log)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1)
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit(f"registry {self.addr} did not start")

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait()
            self.proc = None

    def wipe(self):
        self.stop()
        shutil.rmtree(os.path.join(self.dir, "data"), ignore_errors=True)
        self.start()


def seed_image(work, registry, tag):
    layout = os.path.join(work, f"layout-{tag}")
    out = subprocess.run([sys.executable, os.path.join(HERE, "bench_layout.py"), layout, "--tag", tag,
                          "--layer-mib", str(LAYER_MIB)], check=True, capture_output=True, text=True)
    digest = out.stdout.strip().splitlines()[-1]
    subprocess.run(["skopeo", "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false",
                    f"oci:{layout}:{tag}", f"docker://{registry.addr}/{SERVICE}:{tag}"], check=True)
    size = 0
    for name in os.listdir(os.path.join(layout, "blobs", "sha256")):
        size += os.path.getsize(os.path.join(layout, "blobs", "sha256", name))
    return digest, size


def push_referrers(work, registry, subject_digest):
    """REFERRERS artifacts of REF_MIB MiB each on the image (the last on the first one),
    with the fallback index oras-py does not write itself."""
    client = oras.provider.Registry(hostname=registry.addr, insecure=True, tls_verify=False)
    container = client.get_container(f"{registry.addr}/{SERVICE}:x")
    subject = {"mediaType": OCI_INDEX, "digest": subject_digest,
               "size": len(manifest_bytes(registry, subject_digest))}
    empty_path = os.path.join(work, "empty.json")
    with open(empty_path, "wb") as f:
        f.write(b"{}")
    empty = {"mediaType": "application/vnd.oci.empty.v1+json",
             "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}
    client.upload_blob(empty_path, container, empty)
    by_subject, total = {}, 0
    for i in range(REFERRERS):
        artifact_type = TYPES[i % len(TYPES)]
        path = os.path.join(work, f"referrer-{i}")
        with open(path, "wb") as f:
            f.write(os.urandom(int(REF_MIB * 1024 * 1024)))
        layer = {"mediaType": artifact_type, "digest": "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest(),
                 "size": os.path.getsize(path)}
        total += layer["size"]
        response = client.upload_blob(path, container, layer)
        assert response.status_code in (200, 201, 202), response.text
        os.remove(path)
        parent = subject if i < REFERRERS - 1 else by_subject[subject_digest][0]
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                    "config": empty, "layers": [layer],
                    "subject": {k: parent[k] for k in ("mediaType", "digest", "size")}}
        digest = "sha256:" + hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
        response = client.upload_manifest(manifest, client.get_container(f"{registry.addr}/{SERVICE}@{digest}"))
        assert response.status_code in (200, 201), response.text
        descriptor = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(json.dumps(manifest).encode()),
                      "artifactType": artifact_type}
        by_subject.setdefault(parent["digest"], []).append(descriptor)
    for parent, descriptors in by_subject.items():
        tag = parent.replace(":", "-")
        response = client.do_request(f"http://{registry.addr}/v2/{SERVICE}/manifests/{tag}", "PUT",
                                     data=json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                      "manifests": descriptors}).encode(),
                                     headers={"Content-Type": OCI_INDEX})
        assert response.status_code in (200, 201), response.text
    return by_subject, total


def manifest_bytes(registry, reference):
    return urllib.request.urlopen(urllib.request.Request(
        f"http://{registry.addr}/v2/{SERVICE}/manifests/{reference}", headers={"Accept": OCI_INDEX})).read()


def listed(registry, subject):
    request = urllib.request.Request(f"http://{registry.addr}/v2/{SERVICE}/manifests/{subject.replace(':', '-')}",
                                     headers={"Accept": OCI_INDEX})
    try:
        return sorted(m["digest"] for m in json.loads(urllib.request.urlopen(request).read())["manifests"])
    except urllib.error.HTTPError:
        return []


def promote(gantry, config, work, tag):
    started = time.perf_counter()
    out = subprocess.run([gantry, "--config", config, "promote", f"{SERVICE}:{tag}", "--to", "stage"],
                         cwd=work, capture_output=True, text=True,
                         env={**os.environ, "XDG_STATE_HOME": os.path.join(work, "state")})
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"gantry promote {tag} failed: {out.stderr}")
    return elapsed


def main():
    gantry = os.environ["GANTRY"]
    work = tempfile.mkdtemp(prefix="bench-referrers.")
    dev, stage = Registry(work, "dev"), Registry(work, "stage")
    try:
        dev.start()
        stage.start()
        say("seeding two images and the referrers...")
        plain, image_bytes = seed_image(work, dev, "sha-1111111")
        attached, _ = seed_image(work, dev, "sha-2222222")
        by_subject, referrer_bytes = push_referrers(work, dev, attached)
        config = os.path.join(work, "gantry.toml")
        with open(config, "w") as f:
            f.write(f'[[environment]]\nname = "dev"\nregistry = "{dev.addr}"\nplain_http = true\n\n'
                    f'[[environment]]\nname = "stage"\nregistry = "{stage.addr}"\nfrom = "dev"\nplain_http = true\n'
                    f'mutable_tag = "stage"\n\n[[service]]\nname = "{SERVICE}"\n')
        alone, carried = [], []
        for round_ in range(ROUNDS):
            order = [("sha-1111111", alone), ("sha-2222222", carried)]
            if round_ % 2:
                order.reverse()
            for tag, times in order:
                stage.wipe()
                times.append(promote(gantry, config, work, tag))
                want = plain if tag == "sha-1111111" else attached
                if "sha256:" + hashlib.sha256(manifest_bytes(stage, tag)).hexdigest() != want:
                    raise SystemExit(f"{tag} arrived with another digest")
                if tag == "sha-2222222":
                    for subject, descriptors in by_subject.items():
                        want = sorted(d["digest"] for d in descriptors)
                        if listed(stage, subject) != want:
                            raise SystemExit(f"referrers of {subject} did not arrive")
            say(f"round {round_ + 1}: alone {alone[-1] * 1000:.0f} ms, with referrers {carried[-1] * 1000:.0f} ms")
        t_alone, t_carried = statistics.median(alone), statistics.median(carried)
        rate = image_bytes / t_alone
        expected = t_alone + referrer_bytes / rate
        ratio = t_carried / expected
        print(f"image {image_bytes / 1e6:.0f} MB, referrers {referrer_bytes / 1e6:.0f} MB in {REFERRERS} artifacts")
        print(f"image alone: {t_alone * 1000:.0f} ms ({rate / 1e6:.0f} MB/s), with referrers: {t_carried * 1000:.0f} ms")
        print(f"expected (alone + referrers at that rate): {expected * 1000:.0f} ms; ratio {ratio:.2f}x (target <= 1.10x)")
        print()
        print("| case | median | figure | target | result |")
        print("|---|---:|---:|---|---|")
        print(f"| image alone ({image_bytes / 1e6:.0f} MB) | {t_alone * 1000:.0f} ms | {rate / 1e6:.0f} MB/s | - | - |")
        print(f"| image + {REFERRERS} referrers ({referrer_bytes / 1e6:.0f} MB) | {t_carried * 1000:.0f} ms | "
              f"{ratio:.2f}x of {expected * 1000:.0f} ms | <= 1.10x | {'pass' if ratio <= 1.10 else 'FAIL'} |")
    finally:
        dev.stop()
        stage.stop()
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
