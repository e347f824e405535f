"""scripts/vendor_graphiql.py on tarballs made here (no registry): what it copies, records and
refuses. The real run against the npm registry produced graph/static/graphiql/vendor/."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from scripts.vendor_graphiql import Package, Packed, VendorError, vendor

MIT = b"MIT License\n\nPermission is hereby granted, free of charge, ...\n"


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


class Registry:
    """Stands in for ``npm pack``: serves tarballs made from ``contents``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.contents: dict[str, dict[str, bytes]] = {}
        self.integrity: dict[str, str] = {}

    def publish(self, name: str, version: str, files: dict[str, bytes]) -> None:
        meta = json.dumps({"name": name, "version": version, "license": "MIT"}).encode()
        self.contents[name] = {"package.json": meta, **files}
        self.integrity[name] = f"sha512-{name}-{version}"

    def pack(self, package: Package, into: Path) -> Packed:
        tarball = _tarball(
            into / f"{package.name.replace('/', '-')}.tgz", self.contents[package.name]
        )
        return Packed(tarball, self.integrity[package.name])


PACKAGES = (
    Package("ide", "1.0.0", {"dist/ide.umd.js": "ide.js", "ide.css": "ide.css"}),
    Package("@ide/plugin", "2.0.0", {"dist/index.js": "plugin.js"}, licence_from="ide"),
)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path)
    registry.publish(
        "ide", "1.0.0", {"dist/ide.umd.js": b"ide()", "ide.css": b"a{}", "LICENSE": MIT}
    )
    registry.publish("@ide/plugin", "2.0.0", {"dist/index.js": b"plugin()"})
    return registry


def test_copies_files_and_licences_and_records_them(registry: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "vendor"
    (dest / "licenses").mkdir(parents=True)
    (dest / "old-version.js").write_text("left from a previous version")
    vendor(PACKAGES, dest=dest, pack=registry.pack)

    assert (dest / "ide.js").read_bytes() == b"ide()"
    assert (dest / "plugin.js").read_bytes() == b"plugin()"
    assert (dest / "licenses/ide.txt").read_bytes() == MIT
    assert (dest / "licenses/ide-plugin.txt").read_bytes() == MIT  # the repository's licence
    assert not (dest / "old-version.js").exists()
    manifest = json.loads((dest / "manifest.json").read_text())["packages"]
    assert manifest["ide"]["files"]["ide.js"] == {
        "from": "dist/ide.umd.js",
        "sha256": hashlib.sha256(b"ide()").hexdigest(),
    }
    assert manifest["@ide/plugin"]["integrity"] == "sha512-@ide/plugin-2.0.0"
    assert manifest["@ide/plugin"]["licence_note"] == "the licence file of ide"


def test_refuses_a_pinned_version_that_changed(registry: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "vendor"
    vendor(PACKAGES, dest=dest, pack=registry.pack)
    registry.publish("ide", "1.0.0", {"dist/ide.umd.js": b"evil()", "ide.css": b"", "LICENSE": MIT})
    registry.integrity["ide"] = "sha512-something-else"
    with pytest.raises(VendorError, match="refusing to vendor it"):
        vendor(PACKAGES, dest=dest, pack=registry.pack)
    assert (dest / "ide.js").read_bytes() == b"ide()"  # nothing was overwritten


def test_a_new_version_is_taken(registry: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "vendor"
    vendor(PACKAGES, dest=dest, pack=registry.pack)
    registry.publish("ide", "1.1.0", {"dist/ide.umd.js": b"ide2()", "ide.css": b"", "LICENSE": MIT})
    newer = (Package("ide", "1.1.0", {"dist/ide.umd.js": "ide.js"}),)
    vendor(newer, dest=dest, pack=registry.pack)
    assert (dest / "ide.js").read_bytes() == b"ide2()"
    assert not (dest / "plugin.js").exists()
    assert list(json.loads((dest / "manifest.json").read_text())["packages"]) == ["ide"]


def test_refuses_a_package_without_licence(registry: Registry, tmp_path: Path) -> None:
    unlicensed = (Package("@ide/plugin", "2.0.0", {"dist/index.js": "plugin.js"}),)
    with pytest.raises(VendorError, match="ships no licence file"):
        vendor(unlicensed, dest=tmp_path / "vendor", pack=registry.pack)


def test_refuses_a_missing_file(registry: Registry, tmp_path: Path) -> None:
    wrong = (Package("ide", "1.0.0", {"dist/nope.js": "ide.js"}),)
    with pytest.raises(VendorError, match=r"has no dist/nope\.js"):
        vendor(wrong, dest=tmp_path / "vendor", pack=registry.pack)
