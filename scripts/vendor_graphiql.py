"""Vendor GraphiQL's browser files from the npm registry into graph/static/graphiql/vendor/.

``make vendor-graphiql`` (or ``python scripts/vendor_graphiql.py``) downloads each package in
``PACKAGES`` at its pinned version with ``npm pack``, copies the files the GraphiQL page loads
and each package's licence, and writes ``manifest.json`` (versions, the registry's integrity
hashes, each file's SHA-256). The result is committed: neither ``make run`` nor CI needs npm, and
air-gapped clusters load nothing from a CDN.

To upgrade, change a version below, run the command, open /graphql and review the diff. A
package whose version did not change must arrive with the integrity the manifest recorded, or
the command stops: what is committed is what was reviewed.

Standard library only, like scripts/modelserver.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PACKAGES", "VENDOR_DIR", "Package", "VendorError", "npm_pack", "vendor"]

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "graph" / "static" / "graphiql" / "vendor"
MANIFEST = "manifest.json"
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")


@dataclass(frozen=True)
class Package:
    """One npm package: what to copy from its tarball (path under ``package/`` -> file name)."""

    name: str
    version: str
    files: dict[str, str] = field(default_factory=dict)
    # Set when the tarball ships no licence file: the package whose licence covers it.
    licence_from: str | None = None
    why: str = ""


# GraphiQL 4.1 is the last release with a UMD build, which runs from plain <script> tags; 5.x
# ships only ES modules around Monaco and would need a bundler in this repository. React 18
# is the last React with UMD builds (GraphiQL 4 accepts 18 or 19).
PACKAGES: tuple[Package, ...] = (
    Package(
        "react",
        "18.3.1",
        {"umd/react.production.min.js": "react.production.min.js"},
        why="GraphiQL's UI library (global React)",
    ),
    Package(
        "react-dom",
        "18.3.1",
        {"umd/react-dom.production.min.js": "react-dom.production.min.js"},
        why="React's DOM renderer (global ReactDOM)",
    ),
    Package(
        "graphiql",
        "4.1.2",
        {"dist/index.umd.js": "graphiql.min.js", "graphiql.min.css": "graphiql.min.css"},
        why="the IDE, with graphql-js, CodeMirror and graphql-ws bundled (global GraphiQL)",
    ),
    Package(
        "@graphiql/plugin-explorer",
        "4.0.6",
        {"dist/index.umd.js": "plugin-explorer.min.js", "dist/style.css": "plugin-explorer.css"},
        # Published from the graphiql repository under its MIT licence, without a copy.
        licence_from="graphiql",
        why="the explorer sidebar (global GraphiQLPluginExplorer)",
    ),
    Package(
        "graphiql-explorer",
        "0.9.0",
        why="bundled inside @graphiql/plugin-explorer's build: only its licence is copied",
    ),
)


class VendorError(Exception):
    """A download that cannot be trusted or used; the message says what to do."""


@dataclass(frozen=True)
class Packed:
    """What ``npm pack`` produced: the tarball and the registry's integrity string."""

    tarball: Path
    integrity: str


Pack = Callable[[Package, Path], Packed]


def npm_pack(package: Package, into: Path) -> Packed:
    """Download one package's tarball with ``npm pack`` (npm checks it against the registry)."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is not installed: install node and npm (e.g. apt-get install npm)")
    spec = f"{package.name}@{package.version}"
    done = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(into)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise VendorError(f"npm pack {spec} failed: {last}")
    [result] = json.loads(done.stdout)
    return Packed(into / result["filename"], result["integrity"])


def _licence(archive: tarfile.TarFile) -> bytes | None:
    for name in LICENCE_NAMES:
        try:
            member = archive.extractfile(f"package/{name}")
        except KeyError:
            continue
        if member is not None:
            return member.read()
    return None


def _read(archive: tarfile.TarFile, path: str, spec: str) -> bytes:
    try:
        member = archive.extractfile(f"package/{path}")
    except KeyError:
        member = None
    if member is None:
        raise VendorError(f"{spec} has no {path}: check the file names in PACKAGES")
    return member.read()


def _licence_file(package: Package) -> str:
    return f"licenses/{package.name.replace('@', '').replace('/', '-')}.txt"


def vendor(
    packages: tuple[Package, ...] = PACKAGES, *, dest: Path = VENDOR_DIR, pack: Pack = npm_pack
) -> dict[str, object]:
    """Write ``packages``' files, licences and ``manifest.json`` into ``dest``; returns the
    manifest. Files in ``dest`` that no package produced any more are removed."""
    old: dict[str, dict[str, object]] = {}
    if (dest / MANIFEST).exists():
        old = json.loads((dest / MANIFEST).read_text())["packages"]
    written: dict[str, bytes] = {}
    licences: dict[str, bytes] = {}
    entries: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package in packages:
            spec = f"{package.name}@{package.version}"
            packed = pack(package, Path(tmp))
            before = old.get(package.name) or {}
            same_version = before.get("version") == package.version
            if same_version and before.get("integrity") != packed.integrity:
                raise VendorError(
                    f"{spec} arrived with integrity {packed.integrity}, not the "
                    f"{before['integrity']} recorded in {MANIFEST}: refusing to vendor it"
                )
            with tarfile.open(packed.tarball, "r:gz") as archive:
                meta = json.loads(_read(archive, "package.json", spec))
                if meta.get("version") != package.version:
                    raise VendorError(f"npm pack {spec} gave version {meta.get('version')}")
                files = {}
                for path, name in package.files.items():
                    data = _read(archive, path, spec)
                    written[name] = data
                    files[name] = {"from": path, "sha256": hashlib.sha256(data).hexdigest()}
                licence = _licence(archive)
            if licence is not None:
                licences[package.name] = licence
            elif package.licence_from is None:
                raise VendorError(f"{spec} ships no licence file: set licence_from in PACKAGES")
            entries[package.name] = {
                "version": package.version,
                "integrity": packed.integrity,
                "license": meta.get("license"),
                "why": package.why,
                "files": files,
            }
    for package in packages:
        source = package.licence_from or package.name
        if source not in licences:
            raise VendorError(f"the licence of {package.name} comes from {source}: vendor it too")
        name = _licence_file(package)
        entries[package.name]["licence_file"] = name
        if package.licence_from is not None:
            entries[package.name]["licence_note"] = f"the licence file of {source}"
        written[name] = licences[source]

    manifest: dict[str, object] = {
        "generated_by": "scripts/vendor_graphiql.py (make vendor-graphiql)",
        "packages": entries,
    }
    written[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    if dest.exists():
        for stale in sorted(p for p in dest.rglob("*") if p.is_file()):
            if stale.relative_to(dest).as_posix() not in written:
                stale.unlink()
    for name, data in written.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=VENDOR_DIR, help="output folder")
    args = parser.parse_args(argv)
    try:
        manifest = vendor(dest=args.dest)
    except VendorError as exc:
        print(f"vendor_graphiql: {exc}", file=sys.stderr)
        return 1
    packages = manifest["packages"]
    assert isinstance(packages, dict)
    for name, entry in packages.items():
        print(f"{name}@{entry['version']}: {', '.join(entry['files']) or 'licence only'}")
    print(f"written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
