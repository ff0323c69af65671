"""Deterministic container images for the AWS simulator's repositories.

From a compact description ({"tags": [...], "platforms": [...], "format": "docker"|"oci"})
it builds real gzip'd tar layers, image configs, image manifests (Docker v2 schema 2 or
OCI) and, for several platforms, a manifest list / OCI index, all with real sha256 digests
that do not change between runs. It knows nothing of HTTP, policies or ECR's API.
"""

import datetime
import gzip
import hashlib
import io
import json
import tarfile

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

INDEX_TYPES = (MT_DOCKER_LIST, MT_OCI_INDEX)

# Fixed so digests never depend on when the simulator runs.
DEFAULT_CREATED = "2024-05-01T08:00:00Z"
_TAR_MTIME = 1714550400  # 2024-05-01T08:00:00Z


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _filler(seed, size):
    """Incompressible but reproducible bytes, so layers have a realistic size for Range tests."""
    out = bytearray()
    block = seed.encode("utf-8")
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def _tar_gz(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=6) as f:
        f.write(uncompressed)
    return gz.getvalue(), digest_of(uncompressed)


def parse_platform(text):
    parts = text.split("/")
    if len(parts) < 2:
        raise ValueError("platform %r is not os/arch[/variant]" % text)
    plat = {"architecture": parts[1], "os": parts[0]}
    if len(parts) > 2:
        plat["variant"] = parts[2]
    return plat


def _dumps_manifest(obj, fmt):
    # Docker writes schema 2 manifests with three-space indentation; any stable form works
    # because the digest is taken over exactly these bytes.
    return json.dumps(obj, indent=3 if fmt == "docker" else 2).encode("utf-8")


class Blob:
    def __init__(self, data, media_type):
        self.data = data
        self.media_type = media_type
        self.digest = digest_of(data)
        self.size = len(data)


class Manifest:
    """One manifest as stored: exact bytes, media type, the blobs it references, platform."""

    def __init__(self, data, media_type, blobs=(), children=(), platform=None,
                 config_media_type=None):
        self.data = data
        self.media_type = media_type
        self.digest = digest_of(data)
        self.blobs = list(blobs)
        self.children = list(children)
        self.platform = platform
        self.config_media_type = config_media_type

    @property
    def size_in_bytes(self):
        """What DescribeImages reports: the compressed layer sizes (children for an index)."""
        own = sum(b.size for b in self.blobs if b.media_type != self.config_media_type)
        return own + sum(c.size_in_bytes for c in self.children)


def build_platform_image(seed, platform, fmt="docker", created=DEFAULT_CREATED, layers=1):
    plat = parse_platform(platform)
    oci = fmt == "oci"
    layer_mt = MT_OCI_LAYER if oci else MT_DOCKER_LAYER
    config_mt = MT_OCI_CONFIG if oci else MT_DOCKER_CONFIG
    layer_blobs, diff_ids = [], []
    for i in range(max(1, int(layers))):
        body = ("awssim image\nseed=%s\nplatform=%s\nlayer=%d\n" % (seed, platform, i)).encode()
        data, diff_id = _tar_gz([
            ("etc/awssim-release", body),
            ("usr/share/awssim/layer-%d.bin" % i, _filler("%s|%s|%d" % (seed, platform, i), 6000)),
        ])
        layer_blobs.append(Blob(data, layer_mt))
        diff_ids.append(diff_id)
    config = dict(plat)
    config.update({
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "created": created,
        "history": [{"created": created, "created_by": "awssim: generated layer %d" % i}
                    for i in range(len(layer_blobs))],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    config_blob = Blob(json.dumps(config, sort_keys=True, separators=(",", ":")).encode(),
                       config_mt)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST if oci else MT_DOCKER_MANIFEST,
        "config": {"mediaType": config_mt, "size": config_blob.size, "digest": config_blob.digest},
        "layers": [{"mediaType": b.media_type, "size": b.size, "digest": b.digest}
                   for b in layer_blobs],
    }
    return Manifest(_dumps_manifest(manifest, fmt), manifest["mediaType"],
                    [config_blob] + layer_blobs, platform=plat, config_media_type=config_mt)


def build_index(children, fmt="docker"):
    oci = fmt == "oci"
    mt = MT_OCI_INDEX if oci else MT_DOCKER_LIST
    index = {
        "schemaVersion": 2,
        "mediaType": mt,
        "manifests": [{"mediaType": c.media_type, "size": len(c.data), "digest": c.digest,
                       "platform": c.platform} for c in children],
    }
    return Manifest(_dumps_manifest(index, fmt), mt, children=children)


def build_image(spec, seed, default_created=DEFAULT_CREATED):
    """One compact image spec -> the top Manifest (an index when several platforms).

    A spec may instead carry "manifest" (raw text) and "media_type" for hand-made content;
    such an image has no blobs unless the test supplies them elsewhere.
    """
    if "manifest" in spec:
        text = spec["manifest"]
        data = text.encode("utf-8") if isinstance(text, str) else json.dumps(text).encode()
        return Manifest(data, spec.get("media_type", MT_DOCKER_MANIFEST))
    fmt = spec.get("format", "docker")
    if fmt not in ("docker", "oci"):
        raise ValueError("image format must be 'docker' or 'oci', not %r" % fmt)
    created = spec.get("created", default_created)
    seed = spec.get("seed", seed)
    platforms = spec.get("platforms") or ["linux/amd64"]
    images = [build_platform_image(seed, p, fmt, created, spec.get("layers", 1))
              for p in platforms]
    if len(images) == 1 and not spec.get("index", False):
        return images[0]
    return build_index(images, fmt)


def iso_to_epoch(text):
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
