"""The dataset the test endpoint serves: aws CLI JSON files, pre-rendered into EC2 XML pages.

DESIGN: each list the server pages through (all pools, the CIDRs of one pool, the resource
CIDRs of one scope, ...) is a Collection: the items rendered once into one byte blob plus an
offset table, so a page of any MaxResults from any position is one contiguous slice and a
1,000,000-item GetIpamResourceCidrs costs no rendering per request. Big collections are
streamed from the JSON file (never held as one document) and their rendering is cached on
disk next to the data, keyed by the file's size and mtime, so a benchmark pays it once.
Filtered requests match against the parsed items (kept for small collections, re-read on
demand for big ones) and cache the matching index list.
"""

import array
import fnmatch
import json
import mmap
import os
import threading

import aws_model

CACHE_VERSION = "1"
BIG = 20000  # items: above this the parsed dicts are dropped and the rendering cached on disk

# Operation -> (file or folder under inventory/, result key, id request parameter or None)
EC2_LISTS = {
    "DescribeIpams": ("describe-ipams.json", "Ipams", None),
    "DescribeIpamScopes": ("describe-ipam-scopes.json", "IpamScopes", None),
    "DescribeIpamPools": ("describe-ipam-pools.json", "IpamPools", None),
    "DescribeIpamResourceDiscoveries": (
        "describe-ipam-resource-discoveries.json",
        "IpamResourceDiscoveries",
        None,
    ),
    "DescribeIpamResourceDiscoveryAssociations": (
        "describe-ipam-resource-discovery-associations.json",
        "IpamResourceDiscoveryAssociations",
        None,
    ),
    "GetIpamPoolCidrs": ("get-ipam-pool-cidrs", "IpamPoolCidrs", "IpamPoolId"),
    "GetIpamPoolAllocations": ("get-ipam-pool-allocations", "IpamPoolAllocations", "IpamPoolId"),
    "GetIpamResourceCidrs": ("get-ipam-resource-cidrs", "IpamResourceCidrs", "IpamScopeId"),
    "GetIpamDiscoveredAccounts": (
        "get-ipam-discovered-accounts",
        "IpamDiscoveredAccounts",
        "IpamResourceDiscoveryId",
    ),
}

# Request parameters (wire names, list parameters without .N) that select items by a field.
ID_LISTS = {
    "DescribeIpams": ("IpamId", "IpamId"),
    "DescribeIpamScopes": ("IpamScopeId", "IpamScopeId"),
    "DescribeIpamPools": ("IpamPoolId", "IpamPoolId"),
    "DescribeIpamResourceDiscoveries": ("IpamResourceDiscoveryId", "IpamResourceDiscoveryId"),
    "DescribeIpamResourceDiscoveryAssociations": (
        "IpamResourceDiscoveryAssociationId",
        "IpamResourceDiscoveryAssociationId",
    ),
}


def iter_items(path, key):
    """Yield the items of the list under key in a {"key": [...]} JSON file without loading the
    whole document."""
    dec = json.JSONDecoder()
    with open(path, encoding="utf-8") as f:
        buf = f.read(1 << 20)
        head = buf.find('"%s"' % key)
        if head < 0:
            return
        pos = buf.index("[", head) + 1
        while True:
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    pos += 1
                if pos < len(buf):
                    break
                buf = f.read(1 << 20)
                pos = 0
                if not buf:
                    raise ValueError("%s: unterminated list" % path)
            if buf[pos] == "]":
                return
            try:
                obj, end = dec.raw_decode(buf, pos)
            except json.JSONDecodeError:
                more = f.read(1 << 20)
                if not more:
                    raise
                buf = buf[pos:] + more
                pos = 0
                continue
            yield obj
            pos = end


def _kebab_to_pascal(name):
    return "".join(p[:1].upper() + p[1:] for p in name.split("-"))


def _tags(item):
    for k in ("Tags", "ResourceTags"):
        if k in item:
            return item[k] or []
    return []


def filter_value(item, name):
    """The values a filter name sees on item (list of strings), or None if the name is unknown
    for this item type."""
    if name.startswith("tag:"):
        key = name[4:]
        return [t.get("Value", "") for t in _tags(item) if t.get("Key") == key]
    if name == "tag-key":
        return [t.get("Key", "") for t in _tags(item)]
    field = _kebab_to_pascal(name)
    if field in item:
        v = item[field]
    elif field == "IpamScopeId" and "IpamScopeArn" in item:
        v = item["IpamScopeArn"].rsplit("/", 1)[-1]
    elif field == "IpamId" and "IpamArn" in item:
        v = item["IpamArn"].rsplit("/", 1)[-1]
    elif name == "owner-id" and "ResourceOwnerId" in item:
        v = item["ResourceOwnerId"]
    else:
        return None
    if isinstance(v, bool):
        return ["true" if v else "false"]
    if isinstance(v, list):
        out = []
        for e in v:
            out.extend(str(x) for x in (e.values() if isinstance(e, dict) else [e]))
        return out
    if isinstance(v, dict):
        return [str(x) for x in v.values()]
    return [str(v)]


class FilterError(ValueError):
    """A filter name the item type does not have."""


class Collection:
    """One pageable list: rendered items, their offsets and (for filtering) the items."""

    def __init__(self, operation, path, key, cache_dir):
        self.operation = operation
        self.path = path
        self.key = key
        self._lock = threading.Lock()
        self._filtered = {}
        self.items = None
        st = os.stat(path)
        render = aws_model.ec2_item_renderer(operation)
        if st.st_size < 8 << 20:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            items = doc.get(key, [])
            if not isinstance(items, list):
                raise ValueError("%s: %s is not a list" % (path, key))
            parts = [render(it) for it in items]
            offs = array.array("Q", [0])
            total = 0
            for p in parts:
                total += len(p)
                offs.append(total)
            self.blob = b"".join(parts)
            self.offsets = offs
            if len(items) <= BIG:
                self.items = items
        else:
            self.blob, self.offsets = self._load_cached(st, render, cache_dir)
        self.count = len(self.offsets) - 1

    def _load_cached(self, st, render, cache_dir):
        base = os.path.join(
            cache_dir,
            "%s-%s-%d-%d-v%s"
            % (
                self.operation,
                os.path.basename(self.path).replace(".json", ""),
                st.st_size,
                st.st_mtime_ns,
                CACHE_VERSION,
            ),
        )
        blob_path, idx_path = base + ".xml", base + ".idx"
        if not (os.path.exists(blob_path) and os.path.exists(idx_path)):
            os.makedirs(cache_dir, exist_ok=True)
            tmp = "%s.%d.tmp" % (base, os.getpid())
            offs = array.array("Q", [0])
            total = 0
            with open(tmp + ".xml", "wb") as out:
                chunk = []
                for it in iter_items(self.path, self.key):
                    b = render(it)
                    chunk.append(b)
                    total += len(b)
                    offs.append(total)
                    if len(chunk) >= 4096:
                        out.write(b"".join(chunk))
                        chunk = []
                out.write(b"".join(chunk))
            with open(tmp + ".idx", "wb") as out:
                offs.tofile(out)
            os.replace(tmp + ".xml", blob_path)
            os.replace(tmp + ".idx", idx_path)
        offs = array.array("Q")
        with open(idx_path, "rb") as f:
            offs.frombytes(f.read())
        with open(blob_path, "rb") as f:
            if offs[-1] == 0:
                return b"", offs
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), offs

    def all_items(self):
        """The parsed items (loaded again from the file for big collections)."""
        if self.items is not None:
            return self.items
        return list(iter_items(self.path, self.key))

    def select(self, predicate_key, predicate):
        """Indexes of the items for which predicate(item) is true, cached under predicate_key.
        predicate may raise FilterError."""
        with self._lock:
            hit = self._filtered.get(predicate_key)
        if hit is not None:
            return hit
        sel = array.array("Q", (i for i, it in enumerate(self.all_items()) if predicate(it)))
        with self._lock:
            if len(self._filtered) > 64:
                self._filtered.clear()
            self._filtered[predicate_key] = sel
        return sel

    def page(self, start, n, selection=None):
        """Rendered bytes of items [start, start+n) (of selection, if given) as a list of
        buffers to write in order."""
        if selection is None:
            end = min(start + n, self.count)
            if end <= start:
                return []
            return [memoryview(self.blob)[self.offsets[start] : self.offsets[end]]]
        mv = memoryview(self.blob)
        out = []
        for i in selection[start : start + n]:
            out.append(mv[self.offsets[i] : self.offsets[i + 1]])
        return out

    def total(self, selection=None):
        """Number of items (of selection, if given)."""
        return self.count if selection is None else len(selection)


class Dataset:
    """Everything under DIR: inventory collections and CloudTrail events. Thread-safe reads;
    collections are loaded lazily on first use."""

    def __init__(self, root, cache_dir=None):
        self.root = root
        self.inventory = os.path.join(root, "inventory")
        self.cache_dir = cache_dir or os.path.join(root, ".fake-aws-cache")
        self._lock = threading.Lock()
        self._collections = {}
        self._trail = {}
        self.pools = {p["IpamPoolId"]: p for p in self._load_list("describe-ipam-pools.json", "IpamPools")}
        self.scopes = {
            s["IpamScopeId"]: s for s in self._load_list("describe-ipam-scopes.json", "IpamScopes")
        }
        self.ipams = self._load_list("describe-ipams.json", "Ipams")
        self.discoveries = {
            d["IpamResourceDiscoveryId"]: d
            for d in self._load_list("describe-ipam-resource-discoveries.json", "IpamResourceDiscoveries")
        }

    def _load_list(self, name, key):
        path = os.path.join(self.inventory, name)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return json.load(f).get(key, [])

    def collection(self, operation, ident=None):
        """The Collection of operation (for ident, when the operation takes an id), or None
        when the dataset has no such file."""
        fname, key, id_param = EC2_LISTS[operation]
        if id_param is None:
            path = os.path.join(self.inventory, fname)
        else:
            if not ident or "/" in ident or ident.startswith("."):
                return None
            path = os.path.join(self.inventory, fname, ident + ".json")
        ck = (operation, ident)
        with self._lock:
            c = self._collections.get(ck)
        if c is not None:
            return c
        if not os.path.exists(path):
            return None
        c = Collection(operation, path, key, self.cache_dir)
        with self._lock:
            self._collections.setdefault(ck, c)
            return self._collections[ck]

    def preload(self):
        """Load (and render) every collection now, so first requests are fast."""
        for op, (fname, _, id_param) in EC2_LISTS.items():
            if id_param is None:
                self.collection(op)
                continue
            d = os.path.join(self.inventory, fname)
            if os.path.isdir(d):
                for f in sorted(os.listdir(d)):
                    if f.endswith(".json"):
                        self.collection(op, f[:-5])

    def events(self, account, region):
        """CloudTrail events of (account, region), newest first, EventTime as epoch seconds."""
        ck = (account, region)
        with self._lock:
            ev = self._trail.get(ck)
        if ev is not None:
            return ev
        path = os.path.join(self.root, "cloudtrail", account, region + ".json")
        ev = []
        if os.path.exists(path) and "/" not in account + region:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f).get("Events", [])
            for e in raw:
                e = dict(e)
                e["EventTime"] = aws_model.parse_timestamp(e["EventTime"]).timestamp()
                ev.append(e)
            ev.sort(key=lambda e: (-e["EventTime"], e.get("EventId", "")))
        with self._lock:
            return self._trail.setdefault(ck, ev)

    def add_events(self, account, region, items):
        """Make LookupEvents items visible from now on in (account, region), as CloudTrail
        does when it delivers events (possibly late: EventTime may lie in the past)."""
        self.events(account, region)
        with self._lock:
            ev = list(self._trail[(account, region)])
            for e in items:
                e = dict(e)
                e["EventTime"] = aws_model.parse_timestamp(e["EventTime"]).timestamp()
                ev.append(e)
            ev.sort(key=lambda e: (-e["EventTime"], e.get("EventId", "")))
            self._trail[(account, region)] = ev


def match_filters(filters):
    """A predicate from [(name, [values])] (EC2 semantics: values OR-ed, filters AND-ed,
    '*' and '?' wildcards). Raises FilterError from the predicate on an unknown name."""

    def pred(item):
        for name, values in filters:
            have = filter_value(item, name)
            if have is None:
                raise FilterError("The filter '%s' is invalid" % name)
            if not any(fnmatch.fnmatchcase(h, v) for h in have for v in values):
                return False
        return True

    return pred
