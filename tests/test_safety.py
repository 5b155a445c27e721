"""Loading never runs an addon's code: crafted archives are refused by member; files stay in the addon."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import TINY_CONFIG, write_addon
from ttsint import AddonError, ArchiveError, ConfigError, Registry, apply_overrides, check_archive, load_addon
from ttsint._safety import check_pickle


class _Payload:
    """Unpickling this creates ``marker``: proof that a loader ran code chosen by the archive."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _touch_code(marker: Path) -> str:
    """Python that creates ``marker``, for the strings torch evaluates (shape expressions, guards)."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch() or True"


def _saved(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _rewrite(archive: bytes, change: Callable[[str, dict[str, bytes]], None]) -> bytes:
    """Copy a .pt2 zip, letting ``change(root, members)`` edit, add or remove members (paths without root)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        names = source.namelist()
        root = names[0].split("/", 1)[0]
        members = {n[len(root) + 1:]: source.read(n) for n in names}
    change(root, members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for name, data in members.items():
            target.writestr(f"{root}/{name}", data)
    return out.getvalue()


def _edit_json(members: dict[str, bytes], name: str, edit: Callable[[Any], None]) -> None:
    document = json.loads(members[name])
    edit(document)
    members[name] = json.dumps(document).encode()


def _first_expr(node: Any) -> dict[str, Any]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("expr_str"), str):
                return item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    raise AssertionError("the exported graph has no symbolic shape expression")


def _sample_inputs(marker: Path) -> Callable[[str, dict[str, bytes]], None]:
    def change(root: str, members: dict[str, bytes]) -> None:
        members["data/sample_inputs/model.pt"] = _saved(((_Payload(marker),), {}))
    return change


def _pickled_weight(marker: Path) -> Callable[[str, dict[str, bytes]], None]:
    def change(root: str, members: dict[str, bytes]) -> None:
        config = "data/weights/model_weights_config.json"
        entry = next(iter(json.loads(members[config])["config"].values()))
        members[f"data/weights/{entry['path_name']}"] = _saved(_Payload(marker))
        _edit_json(members, config,
                   lambda doc: [meta.update(use_pickle=True) for meta in doc["config"].values()])
    return change


def _opaque_constant(marker: Path) -> Callable[[str, dict[str, bytes]], None]:
    def change(root: str, members: dict[str, bytes]) -> None:
        members["data/constants/opaque_obj_0"] = pickle.dumps(_Payload(marker))
        meta = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
        _edit_json(members, "data/constants/model_constants_config.json",
                   lambda doc: doc["config"].update({"planted": meta}))
    return change


def _shape_expression(marker: Path) -> Callable[[str, dict[str, bytes]], None]:
    def change(root: str, members: dict[str, bytes]) -> None:
        _edit_json(members, "models/model.json",
                   lambda doc: _first_expr(doc).update(expr_str=_touch_code(marker)))
    return change


def _guard(marker: Path) -> Callable[[str, dict[str, bytes]], None]:
    def change(root: str, members: dict[str, bytes]) -> None:
        _edit_json(members, "models/model.json", lambda doc: doc.update(guards_code=[_touch_code(marker)]))
    return change


# Each crafted archive: how it is made, and the archive member ttsint must name when refusing it.
CRAFTED = {
    "sample-inputs-pickle": (_sample_inputs, "data/sample_inputs/model.pt/"),
    "pickled-weight": (_pickled_weight, "data/weights/weight_"),
    "opaque-constant": (_opaque_constant, "data/constants/opaque_obj_0"),
    "shape-expression": (_shape_expression, "models/model.json"),
    "guard-code": (_guard, "models/model.json"),
}


def _torch_runs_it(data: bytes, marker: Path) -> bool:
    """Load and call with torch alone (the control): does the payload fire? Later errors do not matter."""
    try:
        torch.export.load(io.BytesIO(data)).module()(torch.ones(1, 3, dtype=torch.int64))
    except Exception:
        pass
    fired = marker.exists()
    if fired:
        marker.unlink()
    return fired


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_pt2_is_refused_before_its_payload_runs(
    tmp_path: Path, tiny_addon: Path, toy_registry: Registry, kind: str
) -> None:
    make, member = CRAFTED[kind]
    marker = tmp_path / "payload-ran"
    data = _rewrite((tiny_addon / "encoder.pt2").read_bytes(), make(marker))
    assert _torch_runs_it(data, marker), "the crafted archive must really exploit torch.export.load"
    directory = write_addon(tmp_path / "addon", TINY_CONFIG, networks_from=tiny_addon)
    (directory / "encoder.pt2").write_bytes(data)
    write_addon(directory, TINY_CONFIG)  # the digests match the crafted file: they are not the defence here
    with pytest.raises(ArchiveError) as info:
        load_addon(directory, registry=toy_registry)
    assert not marker.exists()
    assert member in info.value.member
    where = "addon.json: networks.encoder.file: encoder.pt2: refused"
    assert f"{where}: member '{info.value.member}'" in str(info.value)


def test_pickle_disguised_as_torchscript_is_refused(tmp_path: Path, tiny_addon: Path,
                                                     toy_registry: Registry) -> None:
    marker = tmp_path / "payload-ran"
    data = _saved({"weights": _Payload(marker)})
    torch.load(io.BytesIO(data), weights_only=False)  # the control: plain torch.load runs it
    assert marker.exists()
    marker.unlink()
    directory = tmp_path / "addon"
    directory.mkdir()
    (directory / "trap.pt").write_bytes(data)
    write_addon(directory, apply_overrides(TINY_CONFIG, {"networks.postnet.file": "trap.pt"}),
                networks_from=tiny_addon)
    with pytest.raises(ArchiveError, match=r"trap\.pt: refused: member '[^']+/data\.pkl': pickle refers to"):
        load_addon(directory, registry=toy_registry)
    assert not marker.exists()


def test_bare_pickle_named_pt2_is_refused(tmp_path: Path, tiny_addon: Path, toy_registry: Registry) -> None:
    marker = tmp_path / "payload-ran"
    directory = tmp_path / "addon"
    directory.mkdir()
    (directory / "trap.pt2").write_bytes(pickle.dumps(_Payload(marker)))
    write_addon(directory, apply_overrides(TINY_CONFIG, {"networks.postnet.file": "trap.pt2"}),
                networks_from=tiny_addon)
    with pytest.raises(ArchiveError, match=r"trap\.pt2: refused: not a zip archive"):
        load_addon(directory, registry=toy_registry)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "member", "reason"),
    [
        (lambda root, m: m.update({"data/aotinductor/model/model.so": b"\x7fELF"}),
         "data/aotinductor/model/model.so", "not part of a plain torch.export program"),
        (lambda root, m: m.update({"data/weights/model.pt": _saved({})}),
         "data/weights/model.pt", "not part of a plain torch.export program"),
        (lambda root, m: _edit_json(m, "models/model.json", lambda d: d["graph_module"]["graph"]["nodes"][0]
                                    .update(target="torch.os.system")),
         "models/model.json", "the graph calls 'torch.os.system'"),
        (lambda root, m: _edit_json(m, "models/model.json", lambda d: d["graph_module"]["graph"]["nodes"][0]
                                    .update(target="torch.ops.aten.from_file.default")),
         "models/model.json", "from_file"),
        (lambda root, m: m.pop("models/model.json"), "models/model.json", "missing"),
    ],
    ids=["aot-compiled-library", "legacy-pickled-weights", "graph-calls-python", "graph-reads-files",
         "no-program"],
)
def test_archive_members_outside_a_plain_program_are_refused(
    tiny_addon: Path, change: Callable[[str, dict[str, bytes]], None], member: str, reason: str
) -> None:
    data = _rewrite((tiny_addon / "encoder.pt2").read_bytes(), change)
    with pytest.raises(ArchiveError) as info:
        check_archive(data, ".pt2", "encoder.pt2")
    assert info.value.member.endswith(member) and reason in str(info.value)


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the duplicate is written on purpose
def test_duplicate_and_scattered_members_are_refused(tiny_addon: Path) -> None:
    source = (tiny_addon / "encoder.pt2").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, zin.read(name))
        zout.writestr(zin.namelist()[0], b"shadow")
    with pytest.raises(ArchiveError, match="appears twice"):
        check_archive(out.getvalue(), ".pt2", "x.pt2")
    scattered = io.BytesIO(source)
    with zipfile.ZipFile(scattered, "a") as z:
        z.writestr("elsewhere/version", b"1")
    with pytest.raises(ArchiveError, match="under one folder"):
        check_archive(scattered.getvalue(), ".pt2", "x.pt2")


def test_pickle_walk_allows_tensors_and_refuses_everything_else(tmp_path: Path) -> None:
    tensors = {"w": torch.randn(3, 4), "n": torch.arange(5), "p": torch.nn.Parameter(torch.ones(2))}
    with zipfile.ZipFile(io.BytesIO(_saved(tensors))) as z:
        check_pickle(z.read(next(n for n in z.namelist() if n.endswith("data.pkl"))), "data.pkl")
    refused = {
        "global": pickle.dumps(_Payload(tmp_path / "x"), protocol=2),
        "stack-global": pickle.dumps(_Payload(tmp_path / "x"), protocol=4),
        "builtin": pickle.dumps(print, protocol=2),
        "garbage": b"\x80\x02\xff\xff",
    }
    for name, data in refused.items():
        with pytest.raises(ArchiveError):
            check_pickle(data, name)


def test_the_shipped_networks_pass_inspection() -> None:
    shipped = [p for p in Path(__file__).parents[1].glob("plugins/*/src/**/addon/*.pt2")]
    assert len(shipped) >= 6
    for path in shipped:
        check_archive(path.read_bytes(), ".pt2", path.name)


# -- files confined to the addon folder -----------------------------------------------------------

@pytest.mark.parametrize(
    ("file", "fragment"),
    [
        ("../outside.pt2", "leads outside the addon folder"),
        ("ABSOLUTE", "is an absolute path"),
        ("link.pt2", "leads outside the addon folder"),
        ("folder.pt2", "is not a regular file"),
        ("", "expected a file name inside the addon folder"),
    ],
    ids=["dot-dot", "absolute", "symlink-out", "directory", "empty"],
)
def test_network_files_must_be_regular_files_inside_the_addon(
    tmp_path: Path, tiny_addon: Path, toy_registry: Registry, file: str, fragment: str
) -> None:
    outside = tmp_path / "outside.pt2"
    outside.write_bytes((tiny_addon / "decoder.pt2").read_bytes())
    directory = tmp_path / "addon"
    directory.mkdir()
    (directory / "folder.pt2").mkdir()
    os.symlink(outside, directory / "link.pt2")
    name = str(outside) if file == "ABSOLUTE" else file
    config = apply_overrides(TINY_CONFIG, {"networks.decoder.file": name,
                                           "networks.decoder.sha256": "0" * 64})
    write_addon(directory, config, networks_from=tiny_addon)
    with pytest.raises(ConfigError) as info:
        load_addon(directory, registry=toy_registry)
    assert info.value.path == "networks.decoder.file" and fragment in str(info.value)


def test_symlink_inside_the_addon_folder_is_followed(tmp_path: Path, tiny_addon: Path,
                                                     toy_registry: Registry) -> None:
    directory = tmp_path / "addon"
    (directory / "nets").mkdir(parents=True)
    (directory / "nets" / "dec.pt2").write_bytes((tiny_addon / "decoder.pt2").read_bytes())
    os.symlink(directory / "nets" / "dec.pt2", directory / "decoder.pt2")
    write_addon(directory, TINY_CONFIG, networks_from=tiny_addon)
    decoder = load_addon(directory, registry=toy_registry).networks["decoder"]
    assert decoder.path == directory / "nets" / "dec.pt2"


def test_front_end_files_are_confined_too(tmp_path: Path, tiny_addon: Path, toy_registry: Registry) -> None:
    (tmp_path / "secret.json").write_text('["a"]', encoding="utf-8")
    addon = load_addon(write_addon(tmp_path / "addon", TINY_CONFIG, networks_from=tiny_addon),
                       registry=toy_registry)
    with pytest.raises(ConfigError, match=r"frontend\.symbols_file: '\.\./secret\.json' leads outside"):
        addon.file("../secret.json", "frontend.symbols_file")
    with pytest.raises(ConfigError, match=r"frontend\.symbols_file: 'nope\.json' not found in"):
        addon.file("nope.json", "frontend.symbols_file")
    assert addon.file("addon.json", "frontend.symbols_file") == addon.path / "addon.json"


def test_archive_error_is_an_addon_error() -> None:
    assert issubclass(ArchiveError, AddonError)
