"""Every CLI command, through Typer's runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from brightline.cli import app


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"BRIGHTLINE_DATA_DIR": str(tmp_path / "data"), "BRIGHTLINE_DATABASE_URL": database_url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def photos(shared_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """Three known photos, an edited copy of the first, and an unrelated photo."""
    kodak = sorted((shared_dir / "corpus" / "kodak24").iterdir())
    folder = tmp_path / "media"
    folder.mkdir()
    known = folder / "known"
    known.mkdir()
    for p in kodak[:3]:
        shutil.copy(p, known / p.name)
    inbox = folder / "inbox"
    inbox.mkdir()
    with Image.open(kodak[0]) as im:
        im.convert("RGB").resize((300, 300)).save(inbox / "edited.jpg", quality=60)
        ImageOps.mirror(im.convert("RGB")).save(inbox / "mirrored.jpg", quality=90)
    shutil.copy(kodak[10], inbox / "unrelated.png")
    return {"known": known, "inbox": inbox, "edited": inbox / "edited.jpg", "first": sorted(known.iterdir())[0]}


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_hash_json_has_the_fixed_fields(photos: dict[str, Path], cli_env: dict[str, str]) -> None:
    code, out, _ = run("hash", "--json", str(photos["first"]))
    assert code == 0
    (record,) = _json_lines(out)
    assert set(record) == {"file", "pdq", "quality", "md5", "sha256"}
    assert len(str(record["pdq"])) == 64


def test_hash_dihedral_lists_eight_variants_plain_first(photos: dict[str, Path], cli_env: dict[str, str]) -> None:
    code, out, _ = run("hash", "--dihedral", "--exact", "--json", str(photos["first"]))
    (record,) = _json_lines(out)
    variants = record["pdq_dihedral"]
    assert code == 0 and isinstance(variants, list) and len(variants) == 8 and variants[0] == record["pdq"]


def test_hash_reports_per_file_errors_and_exits_nonzero(
    photos: dict[str, Path], cli_env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    code, out, _ = run("hash", "--json", str(bad), str(photos["first"]))
    records = _json_lines(out)
    assert code == 1
    assert records[0]["file"] == str(bad) and "error" in records[0]
    assert "pdq" in records[1]


def test_hash_table_output(photos: dict[str, Path], cli_env: dict[str, str]) -> None:
    code, out, _ = run("hash", str(photos["known"]))
    assert code == 0 and "quality" in out


def test_bank_lifecycle(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run("bank", "create", "known", "--threshold", "20", "--domain", "other")[0] == 0
    assert run("bank", "create", "known")[0] == 2  # duplicate name
    code, out, _ = run("bank", "list", "--json")
    (bank,) = _json_lines(out)
    assert code == 0 and bank["name"] == "known" and bank["threshold"] == 20
    assert run("bank", "rename", "known", "renamed")[0] == 0
    assert "renamed" in run("bank", "list")[1]
    assert run("bank", "delete", "renamed", "--yes")[0] == 0
    assert "no banks" in run("bank", "list")[1]


def test_bank_delete_asks_first(cli_env: dict[str, str]) -> None:
    run("bank", "create", "keep")
    code, _, _ = run("bank", "delete", "keep", input="n\n")
    assert code == 0 and "keep" in run("bank", "list")[1]


def test_import_export_roundtrip_and_match(cli_env: dict[str, str], tmp_path: Path) -> None:
    value = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    source = tmp_path / "list.csv"
    source.write_text(f"signal_type,value,category\npdq,{value},A1\nmd5,{'0' * 32},B2\n")
    run("bank", "create", "imported")
    code, out, _ = run("bank", "import", "imported", str(source))
    assert code == 0 and "imported 2" in out
    assert "imported 0" in run("bank", "import", "imported", str(source))[1]  # idempotent
    exported = tmp_path / "out.jsonl"
    assert run("bank", "export", "imported", str(exported))[0] == 0
    assert len(exported.read_text().splitlines()) == 2
    near = value[:-1] + ("3" if value[-1] == "2" else "2")
    code, out, _ = run("match", "pdq", near, "--json")
    (record,) = _json_lines(out)
    assert code == 1 and record["matches"][0]["distance"] == 1  # type: ignore[index]
    assert run("match", "pdq", "0" * 64)[0] == 0


def test_import_bad_line_imports_nothing(cli_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "bad.txt"
    source.write_text("f" * 64 + "\n" + "xyz\n")
    run("bank", "create", "strict")
    code, _, err = run("bank", "import", "strict", str(source))
    assert code == 2 and "bad.txt:2" in err
    assert '"entry_count": 0' in run("bank", "list", "--json")[1]


def test_add_media_then_scan_finds_edited_copy(photos: dict[str, Path], cli_env: dict[str, str]) -> None:
    run("bank", "create", "known")
    code, out, _ = run("bank", "add", "known", str(photos["known"]))
    assert code == 0 and "added 12" in out  # 3 photos x pdq, pdq_regions, md5, sha256
    code, out, _ = run("scan", "--json", str(photos["inbox"]))
    records = {Path(str(r["file"])).name: r for r in _json_lines(out)}
    assert code == 1
    edited_matches = records["edited.jpg"]["matches"]
    assert isinstance(edited_matches, list) and edited_matches[0]["bank"] == "known"
    assert set(edited_matches[0]) >= {"bank", "entry_id", "signal_type", "distance"}
    assert records["unrelated.png"]["matches"] == []
    assert records["mirrored.jpg"]["matches"] == []  # dihedral matching is off by default


def test_scan_dihedral_finds_mirrored_copy(photos: dict[str, Path], cli_env: dict[str, str]) -> None:
    run("bank", "create", "known")
    run("bank", "add", "known", str(photos["known"]))
    code, out, _ = run("scan", "--json", "--dihedral", str(photos["inbox"] / "mirrored.jpg"))
    (record,) = _json_lines(out)
    assert code == 1 and record["matches"][0]["variant"] == "flipy"  # type: ignore[index]


def test_scan_without_match_exits_zero_and_errors_do_not_stop_it(
    photos: dict[str, Path], cli_env: dict[str, str], tmp_path: Path
) -> None:
    run("bank", "create", "empty")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0garbage")
    code, out, _ = run("scan", "--json", str(broken), str(photos["edited"]))
    records = _json_lines(out)
    assert code == 0
    assert "error" in records[0] and records[1]["matches"] == []


def test_scan_unknown_bank_fails_with_2(photos: dict[str, Path], cli_env: dict[str, str]) -> None:
    code, _, err = run("scan", "--bank", "nope", str(photos["edited"]))
    assert code == 2 and "nope" in err


def test_disable_and_remove_entries_change_matches(photos: dict[str, Path], cli_env: dict[str, str]) -> None:
    run("bank", "create", "known")
    run("bank", "add", "known", str(photos["first"]), "--signals", "pdq")
    assert run("scan", str(photos["edited"]))[0] == 1
    code, out, _ = run("bank", "show", "known", "--json")
    (entry,) = _json_lines(out)
    assert code == 0 and entry["signal_type"] == "pdq" and entry["enabled"] is True
    entry_id = str(entry["id"])
    assert run("bank", "disable", "known", entry_id)[0] == 0
    assert run("scan", str(photos["edited"]))[0] == 0
    assert run("bank", "enable", "known", entry_id)[0] == 0
    assert run("scan", str(photos["edited"]))[0] == 1
    assert run("bank", "remove", "known", entry_id)[0] == 0
    assert run("scan", str(photos["edited"]))[0] == 0


def test_db_upgrade_signals_and_version(cli_env: dict[str, str]) -> None:
    assert run("db", "upgrade")[0] == 0
    assert run("db", "upgrade")[0] == 0  # idempotent
    code, out, _ = run("signals")
    assert code == 0 and "pdq" in out and "md5" in out and "sha256" in out
    assert run("version")[0] == 0


def test_production_refuses_default_secret(monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]) -> None:
    monkeypatch.setenv("BRIGHTLINE_ENVIRONMENT", "production")
    code, _, err = run("bank", "list")
    assert code == 2 and "SECRET_KEY" in err


def test_demo_finds_the_edited_copies_and_no_unrelated_photo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    code, out, _ = run("demo", "--workdir", str(tmp_path / "demo"))
    assert code == 0
    summary = out.strip().splitlines()[-1]
    found, total = (int(x) for x in summary.split()[1].split("/"))
    assert total == 40 and found >= 36
    assert "; 0/12 unrelated photos matched" in summary
    assert (tmp_path / "demo" / "inbox" / "known-1-flipped.jpg").exists()
