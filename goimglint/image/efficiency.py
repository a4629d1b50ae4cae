"""dive's wasted-bytes bookkeeping, kept while layers are merged.

dive (wagoodman/dive, ``filetree/efficiency.go`` and ``image.Analyze``) walks the leaves of
each layer's own tree and, per path, counts how many layers carry it and sums their sizes.
A path seen in two or more layers is "inefficient"; the image's wasted bytes are the summed
sizes of all those paths, every copy included (the surviving one too). This module mirrors
that algorithm, quirks included, without keeping per-layer file lists:

- only leaves of a layer's tree are counted (files, symlinks, empty directories, whiteouts);
  a directory that has children in that layer is not;
- opaque markers (any name starting ``.wh..wh..``) are dropped, but the directories on their
  path are still created (``AddPath``), so such a directory can become an empty leaf;
- a whiteout ``.wh.X`` counts under the path X. Its size is 0 when X was not a directory
  in the lower layers, else the summed sizes of X's whole subtree in dive's stacked tree;
- when a whiteout names a path the lower layers do not have, dive's visitor returns an
  error and stops counting the rest of that layer (children-first, names sorted), leaving
  the path in its table with minimum size -1 (which then lowers the efficiency score);
- dive's stacked tree differs from the overlayfs view: opaque markers hide nothing, a
  directory replaced by a file keeps its children, and directories a layer only implies
  (no tar entry of their own) are not directories any more.

Memory stays proportional to the number of distinct paths: per path one int (or a 3-item
list once it repeats), plus dive's stacked tree (path -> size and directory bit) and its
directory index."""

from __future__ import annotations

import heapq
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from goimglint.image.model import EntryKind

if TYPE_CHECKING:
    from goimglint.image.fs import LayerMember

WHITEOUT_PREFIX = ".wh."
DROPPED_PREFIX = ".wh..wh.."  # dive never adds these (the opaque marker among them)
EXAMPLES_PER_LAYER = 5


@dataclass(frozen=True, slots=True)
class WastedPath:
    """A path dive counts as inefficient: in ``count`` layers, ``size`` bytes in all."""

    path: str
    count: int
    size: int


class _Aborted(Exception):
    """dive's efficiency visitor returned an error: the rest of the layer is not counted."""


def _name_key(path: str) -> bytes:
    # Go sorts child names as byte strings.
    return posixpath.basename(path).encode("utf-8", "surrogateescape")


class Efficiency:
    """Per-path counts and sizes across layers, as dive keeps them, fed one layer at a time
    in order (``add_layer``)."""

    def __init__(self) -> None:
        # path -> size (seen in exactly one layer) or [count, cumulative, minimum]
        self._paths: dict[str, int | list[int]] = {}
        # dive's stacked tree of the layers added so far: path -> size * 2 + is_dir
        self._tree: dict[str, int] = {}
        self._kids: dict[str, dict[str, None]] = {"/": {}}
        self.layer_bytes: dict[int, int] = {}  # summed member sizes (dive's layer size)
        self.layer_wasted: dict[int, int] = {}  # wasted bytes attributed to each layer
        self.layer_wasted_paths: dict[int, int] = {}
        self._examples: dict[int, list[tuple[int, str]]] = {}
        self.aborted_layers: list[int] = []  # layers dive stops counting part-way
        self.wasted_bytes = 0
        self._discovered = 0
        self._minimum = 0
        self._layers_seen = 0

    # -- results ----------------------------------------------------------------------------

    @property
    def score(self) -> float:
        """dive's efficiency score: summed minimum sizes over summed sizes (1.0 when empty)."""
        if self._discovered == 0:
            return 1.0
        return self._minimum / self._discovered

    def inefficient_paths(self) -> Iterator[WastedPath]:
        for path, value in self._paths.items():
            if isinstance(value, list) and value[0] >= 2:
                yield WastedPath(path, value[0], value[1])

    def top_paths(self, limit: int) -> list[WastedPath]:
        """The inefficient paths with the most bytes, largest first."""
        return heapq.nlargest(limit, self.inefficient_paths(), key=lambda w: (w.size, w.path))

    def layer_examples(self, index: int) -> list[tuple[str, int]]:
        """Up to EXAMPLES_PER_LAYER (path, bytes attributed to this layer), largest first."""
        return [(p, s) for s, p in sorted(self._examples.get(index, []), reverse=True)]

    # -- bookkeeping --------------------------------------------------------------------------

    def add_layer(self, index: int, members: Iterable[LayerMember]) -> None:
        """Count one layer; ``members`` are its LayerMember entries in tar order."""
        # The layer's own tree as dive builds it: every node (implied parents included) and
        # the set of nodes that have children. Paths are normalised and absolute, so the
        # parent is everything before the last slash (inlined: this loop sees every member).
        nodes: dict[str, int] = {}
        parents: set[str] = set()
        layer_bytes = 0
        whiteouts = False
        for m in members:
            path, size = m.path, m.size
            layer_bytes += size
            explicit = True
            if DROPPED_PREFIX in path:
                parts = path.split("/")
                for i, comp in enumerate(parts):
                    if comp.startswith(DROPPED_PREFIX):
                        path = "/".join(parts[:i]) or "/"
                        explicit = False
                        break
                if path == "/":
                    continue
            cut = path.rfind("/")
            if path.startswith(WHITEOUT_PREFIX, cut + 1):
                whiteouts = True
            if explicit:
                nodes[path] = size * 2 + (1 if m.kind is EntryKind.DIR else 0)
            elif path not in nodes:
                nodes[path] = 0
            parent = path[:cut] or "/"
            while parent not in parents:
                parents.add(parent)
                if parent == "/":
                    break
                if parent not in nodes:
                    nodes[parent] = 0  # an implied directory: dive's empty FileInfo
                    if parent.startswith(WHITEOUT_PREFIX, parent.rfind("/") + 1):
                        whiteouts = True
                parent = parent[:parent.rfind("/")] or "/"
        self.layer_bytes[index] = self.layer_bytes.get(index, 0) + layer_bytes

        first = self._layers_seen == 0
        self._layers_seen += 1
        if first:
            # dive sizes layer 0's whiteouts against layer 0's own tree, taken literally.
            self._tree_add_all(nodes)
        if not whiteouts:
            # No whiteout: order cannot matter, nothing can abort or be removed.
            seen, fresh = self._paths, 0
            for path, code in nodes.items():
                if path not in parents:
                    if path in seen:
                        self._visit(index, path, code >> 1)
                    else:  # the common case, inlined: a path no layer had before
                        seen[path] = code >> 1
                        fresh += code >> 1
            self._discovered += fresh
            self._minimum += fresh
            if not first:
                self._tree_add_all(nodes)
            return

        order = _children_first(nodes)
        sizes: dict[str, int] = {}
        try:
            for path, is_leaf in order:
                if not is_leaf:
                    continue
                name = posixpath.basename(path)
                if name.startswith(WHITEOUT_PREFIX):
                    target = posixpath.join(posixpath.dirname(path), name[len(WHITEOUT_PREFIX):])
                    self._visit_whiteout(index, target, sizes)
                else:
                    self._visit(index, path, nodes[path] >> 1)
        except _Aborted:
            self.aborted_layers.append(index)
        # Stack this layer onto dive's tree, in the same children-first order.
        for path, _is_leaf in order:
            name = posixpath.basename(path)
            if name.startswith(WHITEOUT_PREFIX):
                self._tree_remove(posixpath.join(posixpath.dirname(path),
                                                 name[len(WHITEOUT_PREFIX):]))
            else:
                self._tree_set(path, nodes[path])

    def _visit(self, layer: int, path: str, size: int) -> None:
        self._discovered += size
        value = self._paths.get(path)
        if value is None:
            self._paths[path] = size
            self._minimum += size
            return
        if isinstance(value, int):
            value = [1, value, value]
            self._paths[path] = value
        count, cumulative, minimum = value
        count += 1
        cumulative += size
        if minimum < 0 or size < minimum:
            self._minimum += size - minimum
            minimum = size
        value[0], value[1], value[2] = count, cumulative, minimum
        # Attribute to the layer that repeats the path: on the second sighting the first
        # copy's bytes too, so the per-layer figures add up to dive's total.
        attributed = cumulative if count == 2 else size if count > 2 else 0
        if count >= 2:
            self.wasted_bytes += attributed
            self.layer_wasted[layer] = self.layer_wasted.get(layer, 0) + attributed
            self.layer_wasted_paths[layer] = self.layer_wasted_paths.get(layer, 0) + 1
            heap = self._examples.setdefault(layer, [])
            item = (attributed, path)
            if len(heap) < EXAMPLES_PER_LAYER:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)

    def _visit_whiteout(self, layer: int, target: str, sizes: dict[str, int]) -> None:
        node = _go_clean(target)
        code = 0 if node == "/" else self._tree.get(node)  # the root: an empty FileInfo
        if code is None:
            # dive creates the table entry before GetNode fails, then gives up on the layer.
            if target not in self._paths:
                self._paths[target] = [0, 0, -1]
                self._minimum -= 1
            raise _Aborted
        size = self._subtree_size(node, sizes) if code & 1 else 0
        self._visit(layer, target, size)

    # -- dive's stacked tree -----------------------------------------------------------------

    def _tree_add_all(self, nodes: dict[str, int]) -> None:
        """Set every node of a layer whose implied parents are all among ``nodes`` (so the
        order does not matter and no parent has to be created)."""
        tree, kids = self._tree, self._kids
        for path, code in nodes.items():
            if path not in tree:
                parent = path[:path.rfind("/")] or "/"
                siblings = kids.get(parent)
                if siblings is None:
                    kids[parent] = {path: None}
                else:
                    siblings[path] = None
            tree[path] = code

    def _tree_set(self, path: str, code: int) -> None:
        """dive's AddPath: create missing parents as empty (non-directory) nodes."""
        if path not in self._tree:
            missing: list[str] = []
            parent = posixpath.dirname(path)
            while parent != "/" and parent not in self._tree:
                missing.append(parent)
                parent = posixpath.dirname(parent)
            for p in reversed(missing):
                self._kids.setdefault(posixpath.dirname(p), {})[p] = None
                self._tree[p] = 0
            self._kids.setdefault(posixpath.dirname(path), {})[path] = None
        self._tree[path] = code

    def _tree_remove(self, path: str) -> None:
        path = _go_clean(path)
        if path == "/" or path not in self._tree:
            return
        siblings = self._kids.get(posixpath.dirname(path))
        if siblings is not None:
            siblings.pop(path, None)
        stack = [path]
        while stack:
            p = stack.pop()
            self._tree.pop(p, None)
            stack.extend(self._kids.pop(p, {}))

    def _subtree_size(self, root: str, cache: dict[str, int]) -> int:
        """Bytes of ``root`` and everything under it in dive's tree. ``cache`` keeps the sums
        of the directories already walked while the tree does not change (one layer's
        visit), so nested whiteouts in one layer cost one walk, not one walk each."""
        tree, kids = self._tree, self._kids
        if root in cache:
            return cache[root]
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            path, children_done = stack.pop()
            children = kids.get(path)
            if not children:
                cache[path] = tree.get(path, 0) >> 1
            elif children_done:
                cache[path] = (tree.get(path, 0) >> 1) + sum(
                    cache[c] if kids.get(c) else tree.get(c, 0) >> 1 for c in children)
            elif path not in cache:
                stack.append((path, True))
                stack.extend((c, False) for c in children if kids.get(c) and c not in cache)
        return cache[root]


def _go_clean(path: str) -> str:
    """The node dive's GetNode reaches: empty components (a trailing slash) are skipped."""
    return path.rstrip("/") or "/"


def _children_first(nodes: dict[str, int]) -> list[tuple[str, bool]]:
    """A layer's nodes in dive's VisitDepthChildFirst order (children before their parent,
    siblings sorted by name), each with whether it is a leaf of the layer's tree."""
    kids: dict[str, list[str]] = {}
    for path in nodes:
        kids.setdefault(posixpath.dirname(path), []).append(path)
    for names in kids.values():
        names.sort(key=_name_key)
    out: list[tuple[str, bool]] = []
    stack: list[tuple[str, bool]] = [(p, False) for p in reversed(kids.get("/", []))]
    while stack:
        path, expanded = stack.pop()
        children = kids.get(path)
        if expanded or not children:
            out.append((path, not children))
            continue
        stack.append((path, True))
        stack.extend((c, False) for c in reversed(children))
    return out
