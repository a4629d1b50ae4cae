"""Open what users have on disk as image targets: docker-archive and OCI archive tars, OCI
layout directories, root filesystem directories, single ELF files and standard input.

The kind of input is recognised from its content, never from its name. Opening only reads
the small JSON documents; layers are read when a target is loaded."""

from __future__ import annotations

import gzip
import io
import json
import os
import posixpath
import shutil
import signal
import stat
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from goimglint.errors import InputError, UsageError
from goimglint.image.fs import LayerMember, MergedFS, normalize_member_name
from goimglint.image.layer import (
    BOMB_FLOOR,
    BOMB_RATIO,
    MAX_ENTRIES,
    MAX_NAME_BYTES,
    BlobRef,
    FileWindow,
    WindowStream,
    limit_error,
    scan_layer,
    sniff_compression,
)
from goimglint.image.model import (
    ContentRef,
    EntryKind,
    HistoryEntry,
    ImageConfig,
    LayerInfo,
    Platform,
)
from goimglint.image.tarstream import HARDLINK, SYMLINK, TarFormatError, TarMember, iter_tar

MAX_JSON = 32 * 1024 * 1024  # manifests, indexes and configs are small
MAX_INDEX_DEPTH = 8
MAX_ARCHIVE_ENTRIES = 1_000_000
MAX_LINK_HOPS = 40
OCI_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
REF_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(slots=True)
class Image:
    """A loaded image: config, layers and the merged filesystem."""

    reference: str
    config: ImageConfig
    layers: list[LayerInfo]
    fs: MergedFS
    source_format: str  # docker-archive, oci-archive, oci-layout, rootfs, elf


@dataclass(slots=True)
class _LayerSpec:
    blob: BlobRef
    digest: str
    media_type: str


@dataclass(slots=True)
class ImageTarget:
    """One image (and platform) of an input, ready to be loaded."""

    reference: str
    source_format: str
    platform: Platform | None  # known before loading for OCI index entries
    load_config: Callable[[], dict[str, Any] | None]
    layer_specs: list[_LayerSpec] = field(default_factory=list)
    rootfs_dir: str | None = None
    elf_path: str | None = None

    def load(self, tmpdir: str, progress: ProgressFn | None = None, workers: int = 2) -> Image:
        if self.rootfs_dir is not None:
            fs = MergedFS.from_directory(self.rootfs_dir)
            return Image(self.reference, ImageConfig(has_config=False), [], fs, self.source_format)
        if self.elf_path is not None:
            return _load_single_elf(self.reference, self.elf_path)
        raw = self.load_config()
        config = parse_config(raw) if raw is not None else ImageConfig(has_config=False)
        if self.platform is not None and raw is not None and not raw.get("architecture"):
            config.platform = self.platform
        diff_ids = _diff_ids(raw)
        layers: list[LayerInfo] = []
        fs = MergedFS()
        total = sum(s.blob.size for s in self.layer_specs)
        done = entries = name_bytes = 0
        for index, scan in _scan_all(self.layer_specs, tmpdir, workers):
            spec = self.layer_specs[index]
            # The layers' limits hold for the image too (an upper bound of what it keeps).
            entries, name_bytes = entries + scan.entries, name_bytes + scan.name_bytes
            if entries > MAX_ENTRIES or name_bytes > MAX_NAME_BYTES:
                raise InputError(limit_error(f"{self.reference}: layers 1-{index + 1}",
                                             entries, name_bytes))
            fs.apply_layer(index, scan.members)
            done += spec.blob.size
            if progress is not None:
                progress(done, total)
            layers.append(LayerInfo(
                index=index,
                # legacy <id>/layer.tar archives name layers by their diff_id only
                digest=spec.digest or (diff_ids[index] if index < len(diff_ids) else ""),
                diff_id=diff_ids[index] if index < len(diff_ids) else "",
                size=spec.blob.size,
                compression=scan.compression,
                media_type=spec.media_type,
                files=len(scan.members),
            ))
        _map_history(config.history, layers)
        return Image(self.reference, config, layers, fs, self.source_format)


def _ignore_sigint() -> None:
    # Ctrl-C is the parent's to handle: it stops the workers and removes the temp dir.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _scan_all(specs: list[_LayerSpec], tmpdir: str, workers: int) -> Iterator[tuple[int, Any]]:
    """Scan layers in order, at most ``workers`` ahead of the merge, yielding each as soon as
    it and every lower layer are done.

    Several layers are scanned in worker processes: decompression alone would overlap in
    threads (zlib, ISA-L and zstd release the GIL), but parsing tens of thousands of tar
    headers per layer is Python work that only processes run side by side."""
    if workers <= 1 or len(specs) <= 1:
        for i, spec in enumerate(specs):
            yield i, scan_layer(spec.blob, tmpdir, _label(i, spec))
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
    pending: dict[int, Future[Any]] = {}
    try:
        next_submit = 0
        for i in range(len(specs)):
            while next_submit < len(specs) and next_submit <= i + workers:
                spec = specs[next_submit]
                pending[next_submit] = pool.submit(
                    scan_layer, spec.blob, tmpdir, _label(next_submit, spec))
                next_submit += 1
            yield i, pending.pop(i).result()
    except BrokenProcessPool:
        raise InputError("a layer reader process died (out of memory?)") from None
    finally:
        for fut in pending.values():
            fut.cancel()
        # Stop workers still reading a layer: nothing may outlive the run's temp dir.
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive() and pending:
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _label(index: int, spec: _LayerSpec) -> str:
    short = spec.digest.split(":")[-1][:12] if spec.digest else "?"
    return f"layer {index + 1} ({short})"


def _diff_ids(raw: dict[str, Any] | None) -> list[str]:
    rootfs = (raw or {}).get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return [str(x) for x in ids] if isinstance(ids, list) else []


def _map_history(history: list[HistoryEntry], layers: list[LayerInfo]) -> None:
    """Non-empty history entries map in order onto layers."""
    index = 0
    for entry in history:
        if entry.empty_layer:
            continue
        if index < len(layers):
            entry.layer_index = index
            layers[index].created_by = entry.created_by
        index += 1


def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


def parse_config(raw: dict[str, Any]) -> ImageConfig:
    """The fields of an image config that goimglint reads; odd types are tolerated."""
    cfg = raw.get("config") or raw.get("container_config") or {}
    if not isinstance(cfg, dict):
        cfg = {}
    labels = cfg.get("Labels") or {}
    history = []
    for h in raw.get("history") or []:
        if isinstance(h, dict):
            history.append(HistoryEntry(
                created_by=str(h.get("created_by") or ""),
                created=str(h.get("created") or ""),
                comment=str(h.get("comment") or ""),
                empty_layer=bool(h.get("empty_layer")),
            ))
    return ImageConfig(
        platform=Platform(str(raw.get("os") or "linux"), str(raw.get("architecture") or ""),
                          str(raw.get("variant") or "")),
        env=[str(e) for e in (cfg.get("Env") or []) if isinstance(e, str)],
        user=str(cfg.get("User") or ""),
        entrypoint=_str_list(cfg.get("Entrypoint")),
        cmd=_str_list(cfg.get("Cmd")),
        working_dir=str(cfg.get("WorkingDir") or ""),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        history=history,
    )


# -- container of blobs: a tar archive or a directory --------------------------------------


class _Store:
    """Named files of an archive tar or a layout directory, read as byte ranges."""

    def __init__(self, describe: str) -> None:
        self.describe = describe

    def blob(self, name: str) -> BlobRef | None:
        raise NotImplementedError

    def read_json(self, name: str, what: str) -> Any:
        ref = self.blob(name)
        if ref is None:
            raise InputError(f"{self.describe}: {what} {name} is missing from the archive")
        data = ref.read_all(MAX_JSON, f"{self.describe}: {what} {name}")
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise InputError(f"{self.describe}: {what} {name} is not valid JSON") from None

    def digest_blob(self, digest: str) -> BlobRef | None:
        alg, _, hexpart = digest.partition(":")
        if not alg or not hexpart or "/" in digest or ".." in digest:
            return None
        return self.blob(f"blobs/{alg}/{hexpart}")


class _TarStore(_Store):
    def __init__(self, path: str, describe: str) -> None:
        super().__init__(describe)
        self.path = path
        self.entries: dict[str, TarMember] = {}
        size = os.path.getsize(path)
        try:
            with open(path, "rb") as fh:
                stream = WindowStream(io.BufferedReader(FileWindow(fh, 0, size), 65536), size)
                for member in iter_tar(stream):
                    name = normalize_member_name(member.name)
                    if name is not None:
                        self.entries[name.lstrip("/")] = member
                    if len(self.entries) > MAX_ARCHIVE_ENTRIES:
                        raise InputError(f"{describe}: more than {MAX_ARCHIVE_ENTRIES} entries; "
                                         "not an image archive")
        except TarFormatError as exc:
            raise InputError(f"{describe}: not a readable tar archive ({exc})") from None

    def names(self) -> set[str]:
        return set(self.entries)

    def blob(self, name: str) -> BlobRef | None:
        name = name.lstrip("/")
        for _ in range(MAX_LINK_HOPS):
            member = self.entries.get(name)
            if member is None:
                return None
            if member.is_file():
                return BlobRef(self.path, member.offset, member.size)
            if member.type == SYMLINK:
                target = posixpath.join(posixpath.dirname(name), member.linkname)
            elif member.type == HARDLINK:
                target = member.linkname
            else:
                return None
            norm = normalize_member_name(target)
            if norm is None:
                return None
            name = norm.lstrip("/")
        raise InputError(f"{self.describe}: link loop at {name}")


class _DirStore(_Store):
    def __init__(self, root: str, describe: str) -> None:
        super().__init__(describe)
        self.root = os.path.realpath(root)

    def names(self) -> set[str]:
        return {n for n in ("manifest.json", "index.json", "oci-layout")
                if os.path.isfile(os.path.join(self.root, n))}

    def blob(self, name: str) -> BlobRef | None:
        path = os.path.realpath(os.path.join(self.root, name.lstrip("/")))
        if not path.startswith(self.root + os.sep):
            return None  # a manifest naming a path outside the layout
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return BlobRef(path, 0, st.st_size)


# -- entry point ---------------------------------------------------------------------------


def open_targets(spec: str, tmpdir: str, image: str | None = None,
                 platform: Platform | None = None) -> list[ImageTarget]:
    """Every image target ``spec`` holds, filtered by ``image`` and ``platform``.

    ``spec`` is a path or "-" for standard input (spooled to ``tmpdir``)."""
    display = "<stdin>" if spec == "-" else spec
    if spec == "-":
        path = _spool_stdin(tmpdir)
    else:
        path = spec
        if not os.path.exists(path):
            raise InputError(f"{spec}: no such file or directory")
    if os.path.isdir(path):
        targets = _open_directory(path, display)
    else:
        targets = _open_file(path, display, tmpdir)
    return _select(targets, display, image, platform)


def _select(targets: list[ImageTarget], display: str, image: str | None,
            platform: Platform | None) -> list[ImageTarget]:
    if image is not None:
        wanted = [t for t in targets if t.reference == image or
                  _repository(t.reference) == image]
        if not wanted:
            names = ", ".join(sorted({t.reference for t in targets})) or "none"
            raise UsageError(f"{display}: no image named {image} (has: {names})")
        targets = wanted
    if platform is not None:
        kept = []
        for t in targets:
            if t.platform is None:
                t.platform = _peek_platform(t)
            if t.platform is None or t.platform.matches(platform):
                kept.append(t)
        if not kept:
            have = ", ".join(sorted({str(t.platform) for t in targets if t.platform})) or "none"
            raise UsageError(f"{display}: no image for platform {platform} (has: {have})")
        targets = kept
    return targets


def _peek_platform(target: ImageTarget) -> Platform | None:
    raw = target.load_config()
    if raw is None:
        return None
    cfg = parse_config(raw)
    return cfg.platform


def _spool_stdin(tmpdir: str) -> str:
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("reading the image from standard input, but it is a terminal")
    path = os.path.join(tmpdir, "stdin.tar")
    with open(path, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1024 * 1024)
    if os.path.getsize(path) == 0:
        raise InputError("<stdin>: empty input, expected an image archive")
    return path


def _open_directory(path: str, display: str) -> list[ImageTarget]:
    if os.path.isfile(os.path.join(path, "oci-layout")) and os.path.isfile(
            os.path.join(path, "index.json")):
        store = _DirStore(path, display)
        if os.path.isfile(os.path.join(path, "manifest.json")):
            return _docker_targets(store, display, "docker-archive")
        return _oci_targets(store, display, "oci-layout")
    if os.path.isfile(os.path.join(path, "manifest.json")) and not os.path.isdir(
            os.path.join(path, "etc")):
        return _docker_targets(_DirStore(path, display), display, "docker-archive")
    ref = os.path.basename(os.path.abspath(path))
    return [ImageTarget(ref, "rootfs", None, lambda: None, rootfs_dir=path)]


def _open_file(path: str, display: str, tmpdir: str) -> list[ImageTarget]:
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(b"\x7fELF"):
        ref = os.path.basename(path)
        return [ImageTarget(ref, "elf", None, lambda: None, elf_path=path)]
    compression = sniff_compression(head)
    if compression != "none":
        # `docker save | gzip > app.tar.gz`: inflate once into the temp dir to seek in it.
        path = _inflate_archive(path, compression, display, tmpdir)
        with open(path, "rb") as fh:
            head = fh.read(512)
    if not _looks_like_tar(head):
        raise InputError(f"{display}: not an image archive (neither a tar file, an OCI "
                         "layout, a root filesystem directory nor an ELF file)")
    store = _TarStore(path, display)
    names = store.names()
    if "manifest.json" in names:
        return _docker_targets(store, display, "docker-archive")
    if "index.json" in names:
        return _oci_targets(store, display, "oci-archive")
    raise InputError(f"{display}: tar archive has neither manifest.json (docker-archive) nor "
                     "index.json (OCI); is it a layer or a plain tar?")


def _looks_like_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    try:
        stored = int(head[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return stored == computed


def _inflate_archive(path: str, compression: str, display: str, tmpdir: str) -> str:
    out_path = os.path.join(tmpdir, "archive.tar")
    # The layers' bomb guard: a small file may not fill the temp dir's disk.
    limit = max(BOMB_FLOOR, os.path.getsize(path) * BOMB_RATIO)
    try:
        with open(path, "rb") as src, open(out_path, "wb") as out:
            stream: Any
            if compression == "gzip":
                stream = gzip.GzipFile(fileobj=src)
            else:
                import zstandard

                stream = zstandard.ZstdDecompressor().stream_reader(src, read_across_frames=True)
            written = 0
            while chunk := stream.read(1024 * 1024):
                out.write(chunk)
                written += len(chunk)
                if written > limit:
                    raise InputError(f"{display}: decompresses to over {limit} bytes (ratio "
                                     f"over {BOMB_RATIO}); refusing a decompression bomb")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad input
        raise InputError(f"{display}: corrupt {compression} archive ({exc})") from None
    return out_path


# -- docker-archive ------------------------------------------------------------------------


def _docker_targets(store: _Store, display: str, fmt: str) -> list[ImageTarget]:
    manifest = store.read_json("manifest.json", "manifest")
    if not isinstance(manifest, list) or not manifest:
        raise InputError(f"{display}: manifest.json is not a non-empty list of images")
    targets: list[ImageTarget] = []
    for n, item in enumerate(manifest):
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str):
            raise InputError(f"{display}: manifest.json entry {n + 1} has no Config")
        layer_names = item.get("Layers") or []
        if not isinstance(layer_names, list):
            raise InputError(f"{display}: manifest.json entry {n + 1} has bad Layers")
        specs = []
        for name in layer_names:
            blob = store.blob(str(name))
            if blob is None:
                raise InputError(f"{display}: layer {name} named by manifest.json is missing "
                                 "from the archive")
            digest = ""
            if str(name).startswith("blobs/"):
                parts = str(name).split("/")
                if len(parts) == 3:
                    digest = f"{parts[1]}:{parts[2]}"
            specs.append(_LayerSpec(blob, digest, ""))
        tags = [str(t) for t in (item.get("RepoTags") or []) if isinstance(t, str)]
        config_name = str(item["Config"])
        if not tags:
            ref = f"{os.path.basename(display)}#{n + 1}" if len(manifest) > 1 else \
                os.path.basename(display)
            tags = [ref]
        for tag in tags[:1]:
            targets.append(ImageTarget(tag, fmt, None, _config_loader(store, config_name),
                                       layer_specs=specs))
    return targets


def _config_loader(store: _Store, name: str) -> Callable[[], dict[str, Any] | None]:
    cache: list[dict[str, Any]] = []

    def load() -> dict[str, Any] | None:
        if not cache:
            raw = store.read_json(name, "config")
            if not isinstance(raw, dict):
                raise InputError(f"{store.describe}: config {name} is not a JSON object")
            cache.append(raw)
        return cache[0]

    return load


# -- OCI -----------------------------------------------------------------------------------


def _oci_targets(store: _Store, display: str, fmt: str) -> list[ImageTarget]:
    index = store.read_json("index.json", "index")
    targets: list[ImageTarget] = []
    _walk_index(store, display, fmt, index, None, None, targets, set(), 0)
    if not targets:
        raise InputError(f"{display}: index.json lists no image manifest")
    return targets


def _walk_index(store: _Store, display: str, fmt: str, index: Any, ref: str | None,
                platform: Platform | None, out: list[ImageTarget], seen: set[str],
                depth: int) -> None:
    if depth > MAX_INDEX_DEPTH:
        raise InputError(f"{display}: image indexes nested more than {MAX_INDEX_DEPTH} deep")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InputError(f"{display}: index has no manifests list")
    for desc in index["manifests"]:
        if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
            raise InputError(f"{display}: index entry without a digest")
        raw_annotations = desc.get("annotations")
        annotations: dict[str, Any] = raw_annotations if isinstance(raw_annotations, dict) else {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue  # BuildKit provenance/SBOM, not a runnable image
        desc_ref = ref
        for key in REF_ANNOTATIONS:
            if isinstance(annotations.get(key), str):
                desc_ref = _ref_from_annotation(annotations[key], display, ref)
                break
        desc_platform = platform
        plat = desc.get("platform")
        if isinstance(plat, dict) and plat.get("architecture"):
            desc_platform = Platform(str(plat.get("os") or "linux"), str(plat["architecture"]),
                                     str(plat.get("variant") or ""))
            if desc_platform.architecture == "unknown":
                continue
        digest = desc["digest"]
        if digest in seen:
            raise InputError(f"{display}: image index refers to itself ({digest})")
        doc = _read_digest_json(store, display, digest, "manifest")
        media = desc.get("mediaType") or (doc.get("mediaType") if isinstance(doc, dict) else "")
        if media in OCI_INDEX_TYPES or (isinstance(doc, dict) and "manifests" in doc
                                        and "layers" not in doc):
            _walk_index(store, display, fmt, doc, desc_ref, desc_platform, out,
                        seen | {digest}, depth + 1)
            continue
        out.append(_manifest_target(store, display, fmt, doc, desc_ref or
                                    os.path.basename(display), desc_platform))


def _ref_from_annotation(value: str, display: str, parent: str | None) -> str:
    # org.opencontainers.image.ref.name is often only a tag ("latest").
    if "/" in value or ":" in value or "@" in value:
        return value
    base = parent or os.path.basename(display.rstrip("/"))
    return f"{_repository(base)}:{value}"


def _read_digest_json(store: _Store, display: str, digest: str, what: str) -> Any:
    blob = store.digest_blob(digest)
    if blob is None:
        raise InputError(f"{display}: {what} blob {digest} is missing")
    try:
        return json.loads(blob.read_all(MAX_JSON, f"{display}: {what} blob {digest}"))
    except (ValueError, RecursionError):
        raise InputError(f"{display}: {what} blob {digest} is not valid JSON") from None


def _manifest_target(store: _Store, display: str, fmt: str, manifest: Any, ref: str,
                     platform: Platform | None) -> ImageTarget:
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise InputError(f"{display}: image manifest has no config descriptor")
    config_digest = manifest["config"].get("digest")
    if not isinstance(config_digest, str):
        raise InputError(f"{display}: image manifest config has no digest")
    specs = []
    for layer in manifest.get("layers") or []:
        if not isinstance(layer, dict) or not isinstance(layer.get("digest"), str):
            raise InputError(f"{display}: image manifest has a layer without a digest")
        blob = store.digest_blob(layer["digest"])
        if blob is None:
            raise InputError(f"{display}: layer blob {layer['digest']} is missing")
        specs.append(_LayerSpec(blob, layer["digest"], str(layer.get("mediaType") or "")))

    def load_config() -> dict[str, Any] | None:
        raw = _read_digest_json(store, display, config_digest, "config")
        if not isinstance(raw, dict):
            raise InputError(f"{display}: config {config_digest} is not a JSON object")
        return raw

    return ImageTarget(ref, fmt, platform, load_config, layer_specs=specs)


# -- other inputs --------------------------------------------------------------------------


def _load_single_elf(reference: str, path: str) -> Image:
    st = os.stat(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    fs = MergedFS()
    name = "/" + os.path.basename(path)
    fs.apply_layer(0, [LayerMember(name, EntryKind.FILE, st.st_mode & 0o7777, 0, 0, st.st_size,
                                   content=ContentRef(os.path.abspath(path), 0, st.st_size),
                                   magic=magic)])
    config = ImageConfig(has_config=False, entrypoint=[name])
    return Image(reference, config, [], fs, "elf")


def _repository(reference: str) -> str:
    """Reference without tag or digest.

    registry:5000/team/app:1.2@sha256:.. -> registry:5000/team/app"""
    ref = reference.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref = ref[:colon]
    return ref


repository_of = _repository
