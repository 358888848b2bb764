"""Boundary loading refuses bad data and names the features and sizes involved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from shapely.affinity import translate
from shapely.geometry import mapping, shape

from geo.boundaries import DATA_DIR, BoundaryError, bundled_district, load_district, read_district
from geo.clusters import adjacency, derive_clusters
from geo.validate import validate_district

CHANGSHAN = DATA_DIR / "changshan"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dst = tmp_path / "changshan"
    shutil.copytree(CHANGSHAN, dst)
    return dst


def _edit_townships(folder: Path, fn) -> None:
    path = folder / "townships.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    fn(doc["features"])
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _drop(folder: Path, code: str) -> None:
    """Remove a township and its area memberships."""
    def townships(features):
        features.remove(next(f for f in features if f["properties"]["code"] == code))

    def meta(m):
        for layer in m["layers"].values():
            for area in layer:
                if code in area["members"]:
                    area["members"].remove(code)
    _edit_townships(folder, townships)
    _edit_meta(folder, meta)


def _edit_meta(folder: Path, fn) -> None:
    path = folder / "district.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    fn(meta)
    path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def test_bundled_changshan_has_the_14_townships_and_7_areas():
    d = bundled_district("changshan")
    assert len(d.townships) == 14
    assert {t.kind for t in d.townships} == {"街道", "镇", "乡"}
    assert [t.name for t in d.townships if t.kind == "街道"] == ["天马街道", "紫港街道", "金川街道"]
    assert len(d.zones) == 7
    hubs = {d.township(c.hub).name for c in d.clusters}
    assert hubs == {"辉埠镇", "球川镇", "青石镇", "芳村镇"}
    for c in d.clusters:
        assert 1 <= len(c.members) - 1 <= 2 and c.derived
    assert validate_district(d) == []


def test_every_township_in_exactly_one_area():
    d = bundled_district()
    members = [m for z in d.zones for m in z.members]
    assert sorted(members) == sorted(t.code for t in d.townships)
    cluster_members = [m for c in d.clusters for m in c.members]
    assert len(cluster_members) == len(set(cluster_members)) == 11


def test_stored_clusters_equal_the_derivation():
    """The shipped assignment is data, but it must be what the documented method gives."""
    d = bundled_district()
    spec = d.meta["derivation"]["clusters"]
    hubs = {c.hub: c.name for c in d.clusters}
    result = derive_clusters(d, hubs, set(spec["standalone"]), max_members=spec["max_members"])
    assert {c.hub: c.members for c in result.clusters} == {c.hub: c.members for c in d.clusters}


def test_cluster_members_border_their_hub():
    d = bundled_district()
    adj = adjacency(d)
    for c in d.clusters:
        for m in c.members:
            if m != c.hub:
                assert c.hub in adj[m], (c.name, m)


def test_overlap_is_refused_naming_both_townships(folder: Path):
    def shift(features):
        f = next(f for f in features if f["properties"]["name"] == "白石镇")
        f["geometry"] = mapping(translate(shape(f["geometry"]), xoff=0.01))
    _edit_townships(folder, shift)
    with pytest.raises(BoundaryError) as exc:
        load_district(folder)
    overlaps = [p for p in exc.value.problems if p.kind == "overlap"]
    assert overlaps and all("CS08" in p.features for p in overlaps)
    assert all(p.size > 10_000 for p in overlaps)
    assert "m²" in overlaps[0].message and "白石镇" in overlaps[0].message


def test_missing_inner_township_is_a_gap(folder: Path):
    _drop(folder, "CS11")
    problems = validate_district(read_district(folder))
    gaps = [p for p in problems if p.kind == "gap"]
    assert len(gaps) == 1
    assert 30e6 < gaps[0].size < 45e6  # 同弓乡 is 38.1 km²
    assert set(gaps[0].features) >= {"CS03", "CS05", "CS08", "CS10"}  # its four neighbours


def test_missing_border_township_breaks_outline_coverage(folder: Path):
    _drop(folder, "CS07")
    problems = validate_district(read_district(folder))
    cov = [p for p in problems if p.kind == "coverage"]
    assert cov and cov[0].size > 0.1  # 芳村镇 is 15 % of the county
    assert "uncovered" in cov[0].message


def test_unknown_member_and_double_membership(folder: Path):
    def edit(meta):
        meta["layers"]["cluster"][0]["members"].append("CS99")
        meta["layers"]["cluster"][1]["members"].append("CS12")  # CS12 is already in cluster 0
    _edit_meta(folder, edit)
    kinds = {p.kind: p for p in validate_district(read_district(folder))}
    assert "CS99" in kinds["unknown_reference"].features
    assert "CS12" in kinds["multiple_membership"].features
    assert "two clusters" in kinds["multiple_membership"].message


def test_hub_outside_its_cluster_is_refused(folder: Path):
    _edit_meta(folder, lambda m: m["layers"]["cluster"][0].update(hub="CS01"))
    problems = validate_district(read_district(folder))
    assert any(p.kind == "unknown_reference" and "not a member" in p.message for p in problems)


def test_invalid_geometry_is_refused_not_fixed(folder: Path):
    def bowtie(features):
        features[0]["geometry"] = {"type": "Polygon", "coordinates": [
            [[118.5, 28.9], [118.6, 29.0], [118.6, 28.9], [118.5, 29.0], [118.5, 28.9]]]}
    _edit_townships(folder, bowtie)
    with pytest.raises(BoundaryError) as exc:
        load_district(folder)
    assert exc.value.problems[0].kind == "invalid_geometry"
    assert "CS01" in exc.value.problems[0].features
    assert "Self-intersection" in exc.value.problems[0].message


def test_bad_kind_and_missing_fields_are_named(folder: Path):
    _edit_townships(folder, lambda fs: fs[2]["properties"].update(kind="区"))
    with pytest.raises(BoundaryError, match="CS03: kind '区'"):
        read_district(folder)
    _edit_townships(folder, lambda fs: fs[2]["properties"].pop("class"))
    with pytest.raises(BoundaryError, match="missing property class"):
        read_district(folder)
