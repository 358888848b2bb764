"""The dispatcher's shortlist: who is in, in what order, and why everyone else is out."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from dispatch.catalog import Competence, Decision, bundled_catalog_path, load_catalog
from dispatch.recommend import recommend, recommend_batch
from dispatch.teams import (
    Certificate,
    Member,
    Position,
    Team,
    TeamRegistry,
    TeamState,
    bundled_teams,
)
from geo.boundaries import District
from geo.crs import to_metric, to_wgs84
from geo.locate import Locator
from geo.network import RoadNetwork
from geo.traveltime import EstimateTravelTimes, RoadTravelTimes, TravelMatrix, TravelTimes

AT = datetime(2024, 5, 6, 9, 30)  # local time
DAY = AT.date()
TIANMA = (118.512, 28.905)  # county seat, 天马街道
HUIBU = (118.485, 28.995)  # 辉埠镇 seat
HEJIA = (118.40, 28.95)  # in 何家乡, radiated by 辉埠


def officer(mid: str, valid_from: str = "2021-07-01", valid_to: str = "2027-06-30") -> Member:
    return Member(mid, f"执法{mid}", "officer",
                  Certificate(f"N-{mid}", date.fromisoformat(valid_from),
                              date.fromisoformat(valid_to)))


def team(tid: str, kind: str, base: tuple[float, float], *, township: str | None = None,
         serves: tuple[str, ...] = (), department: str | None = None,
         members: tuple[Member, ...] | None = None, duty: str = "on_duty") -> Team:
    if members is None:
        members = (officer(f"{tid}-1"), Member(f"{tid}-2", "辅助", "auxiliary"))
    if kind == "township" and not serves:
        serves = (township,)
    return Team(tid, f"{tid}队", kind, base[0], base[1], members, township=township,
                serves=serves, department=department, duty=duty)


def decision(kind: str, holder: str, acting_for: str | None = None,
             holder_name: str | None = None) -> Decision:
    return Decision(matter="M1", place=acting_for or holder, township=acting_for or holder,
                    kind=kind, holder=holder, holder_name=holder_name or f"{holder}执法队",
                    acting_for=acting_for, case_in_name_of=None, case_in_name_of_name=None,
                    transfer=False, dispute=False, reasons=(), catalogue_version="t",
                    catalogue_date=DAY, acting_for_name=acting_for)


def offset(point: tuple[float, float], east_m: float, north_m: float = 0.0
           ) -> tuple[float, float]:
    x, y = to_metric(np.array([point[0]]), np.array([point[1]]), 32650)
    lon, lat = to_wgs84(x + east_m, y + north_m, 32650)
    return float(lon[0]), float(lat[0])


class Counting(TravelTimes):
    """Wraps a travel-time source and counts the matrix calls and their shapes."""

    def __init__(self, inner: TravelTimes):
        self.inner = inner
        self.eta_source = inner.eta_source
        self.calls: list[tuple[int, int]] = []

    def matrix(self, src_lon, src_lat, dst_lon, dst_lat) -> TravelMatrix:
        m = self.inner.matrix(src_lon, src_lat, dst_lon, dst_lat)
        self.calls.append(m.seconds.shape)
        return m


@pytest.fixture
def estimate(changshan: District) -> EstimateTravelTimes:
    return EstimateTravelTimes(changshan.travel_estimate)


def run(d: Decision, teams, estimate, loads=None, at=AT, where=TIANMA, **kw):
    return recommend(d, where[0], where[1], at, teams, loads or {}, estimate, **kw)


# -- who is in and who is out ---------------------------------------------------------------


def test_off_duty_team_is_excluded_with_reason(estimate):
    teams = [team("A", "township", TIANMA, township="CS01", duty="off_duty"),
             team("B", "township", offset(TIANMA, 3000), township="CS01")]
    rec = run(decision("township", "CS01"), teams, estimate)
    assert [c.team_id for c in rec.shortlist] == ["B"]
    assert rec.excluded_for("A").reason_codes == ("duty.off_duty",)
    assert "不在岗" in rec.excluded_for("A").reasons[0].zh


def test_busy_team_is_excluded_with_reason(estimate):
    teams = [team("A", "township", TIANMA, township="CS01", duty="busy")]
    rec = run(decision("township", "CS01"), teams, estimate)
    assert rec.shortlist == ()
    assert rec.excluded_for("A").reason_codes == ("duty.busy",)
    assert [n.code for n in rec.notes] == ["shortlist.empty"]
    assert rec.eta_source is None  # nobody eligible: no travel time asked for


def test_team_with_only_expired_certificates_is_excluded(estimate):
    expired = (officer("x1", "2018-04-01", "2024-03-31"), officer("x2", "2019-01-01",
                                                                   "2024-05-05"),
               Member("aux", "辅助", "auxiliary"))
    teams = [team("A", "township", TIANMA, township="CS01", members=expired),
             team("B", "township", offset(TIANMA, 9000), township="CS01")]
    rec = run(decision("township", "CS01"), teams, estimate)
    assert [c.team_id for c in rec.shortlist] == ["B"]
    why = rec.excluded_for("A").reasons
    assert [r.code for r in why] == ["certificate.none_valid"]
    assert "N-x1" in why[0].zh and "2024-03-31" in why[0].zh
    assert "N-x2" in why[0].en and "expired on 2024-05-05" in why[0].en


def test_certificate_valid_on_its_last_day_still_counts(estimate):
    teams = [team("A", "township", TIANMA, township="CS01",
                  members=(officer("x1", "2018-04-01", "2024-05-06"),))]
    assert [c.team_id for c in run(decision("township", "CS01"), teams, estimate).shortlist] \
        == ["A"]


def test_certificate_not_yet_valid_excludes_and_says_from_when(estimate):
    teams = [team("A", "township", TIANMA, township="CS01",
                  members=(officer("new", "2024-06-01", "2030-05-31"),))]
    rec = run(decision("township", "CS01"), teams, estimate)
    assert "valid only from 2024-06-01" in rec.excluded_for("A").reasons[0].en


def test_auxiliaries_and_legal_reviewers_do_not_make_a_team_sendable(estimate):
    reviewer = Member("lr", "审核", "legal_reviewer",
                      Certificate("N-lr", date(2021, 1, 1), date(2027, 1, 1)))
    teams = [team("A", "township", TIANMA, township="CS01",
                  members=(reviewer, Member("aux", "辅助", "auxiliary")))]
    rec = run(decision("township", "CS01"), teams, estimate)
    assert rec.excluded_for("A").reason_codes == ("certificate.none_valid",)


def test_off_duty_and_uncertified_are_both_reported(estimate):
    teams = [team("A", "township", TIANMA, township="CS01", duty="off_duty",
                  members=(officer("x1", "2018-04-01", "2024-03-31"),))]
    rec = run(decision("township", "CS01"), teams, estimate)
    assert rec.excluded_for("A").reason_codes == ("duty.off_duty", "certificate.none_valid")


def test_hub_team_serves_radiated_township(estimate):
    teams = [team("hub", "hub", HUIBU, township="CS04", serves=("CS04", "CS10", "CS12")),
             team("street", "township", TIANMA, township="CS01")]
    rec = run(decision("hub_team", "CS04", acting_for="CS10"), teams, estimate, where=HEJIA)
    assert [c.team_id for c in rec.shortlist] == ["hub"]
    assert rec.shortlist[0].reason_codes[0] == "competent.hub_radiated"
    assert rec.holder_key == "hub:CS04:CS10"
    assert rec.excluded_for("street").reason_codes == ("competence.not_competent",)


def test_hub_team_also_serves_its_own_town(estimate):
    teams = [team("hub", "hub", HUIBU, township="CS04", serves=("CS04", "CS10", "CS12"))]
    rec = run(decision("township", "CS04"), teams, estimate, where=HUIBU)
    assert rec.shortlist[0].reason_codes[0] == "competent.township"


def test_hub_team_does_not_serve_another_clusters_township(estimate):
    teams = [team("hub", "hub", HUIBU, township="CS04", serves=("CS04", "CS10", "CS12"))]
    rec = run(decision("hub_team", "CS05", acting_for="CS11"), teams, estimate)
    assert rec.shortlist == ()
    assert rec.excluded_for("hub").reason_codes == ("competence.not_competent",)


def test_department_case_goes_to_its_brigades_and_city_team_is_coordinated(estimate):
    teams = [team("scjg", "department", TIANMA, department="scjg"),
             team("city", "city", offset(TIANMA, 2500), department="scjg"),
             team("jtj", "department", TIANMA, department="jtj"),
             team("street", "township", TIANMA, township="CS01")]
    rec = run(decision("department", "scjg", holder_name="县市场监管局"), teams, estimate)
    assert [c.team_id for c in rec.shortlist] == ["scjg", "city"]
    city = rec.shortlist[1]
    assert city.coordinated and city.level == "city"
    assert city.reason_codes[0] == "competent.coordinated" and "联动" in city.reasons[0].zh
    assert rec.shortlist[0].reason_codes[0] == "competent.department"
    assert {e.team_id for e in rec.excluded} == {"jtj", "street"}


def test_platform_office_referral_sends_no_team(estimate):
    teams = [team("street", "township", TIANMA, township="CS01"),
             team("scjg", "department", TIANMA, department="scjg")]
    rec = run(decision("platform_office", "CS-ZFTC", holder_name="县综合行政执法统筹协调办公室"),
              teams, estimate)
    assert rec.shortlist == ()
    assert all(e.reason_codes == ("competence.platform_office",) for e in rec.excluded)
    assert [n.code for n in rec.notes] == ["competence.platform_office"]


# -- ranking ---------------------------------------------------------------------------------


def test_nearest_team_ranked_first_then_load_breaks_ties(estimate):
    near, far = offset(TIANMA, 1000), offset(TIANMA, 6000)
    teams = [team("far", "township", far, township="CS01"),
             team("near_busy", "township", near, township="CS01"),
             team("near_idle", "township", offset(near, 20), township="CS01")]  # same minute
    loads = {"far": 0, "near_busy": 4, "near_idle": 1}
    rec = run(decision("township", "CS01"), teams, estimate, loads=loads)
    assert [c.team_id for c in rec.shortlist] == ["near_idle", "near_busy", "far"]
    assert [c.rank for c in rec.shortlist] == [1, 2, 3]
    assert rec.shortlist[0].eta_s > rec.shortlist[1].eta_s  # slower by seconds, lighter load
    assert "rank.load_breaks_tie" in rec.shortlist[0].reason_codes
    assert "rank.load_breaks_tie" not in rec.shortlist[2].reason_codes
    assert [c.load for c in rec.shortlist] == [1, 4, 0]
    # Without a tie window, the seconds decide.
    exact = run(decision("township", "CS01"), teams, estimate, loads=loads, tie_window_s=0)
    assert [c.team_id for c in exact.shortlist] == ["near_busy", "near_idle", "far"]


def test_load_does_not_outrank_a_clearly_nearer_team(estimate):
    teams = [team("near", "township", offset(TIANMA, 500), township="CS01"),
             team("far", "township", offset(TIANMA, 8000), township="CS01")]
    rec = run(decision("township", "CS01"), teams, estimate, loads={"near": 9, "far": 0})
    assert [c.team_id for c in rec.shortlist] == ["near", "far"]


def test_shortlist_is_limited_and_the_rest_listed_beyond_limit(estimate):
    teams = [team(f"T{i}", "township", offset(TIANMA, 800 * i), township="CS01")
             for i in range(1, 5)]
    rec = run(decision("township", "CS01"), teams, estimate, limit=2)
    assert [c.team_id for c in rec.shortlist] == ["T1", "T2"]
    assert [e.team_id for e in rec.excluded] == ["T3", "T4"]
    assert rec.excluded[0].reason_codes == ("rank.beyond_limit",)
    assert "ranked 3" in rec.excluded[0].reasons[0].en


def test_every_team_is_either_shortlisted_or_excluded(changshan, estimate):
    reg = TeamRegistry(bundled_teams(changshan), changshan)
    rec = run(decision("department", "scjg"), reg, estimate, limit=1)
    ids = [c.team_id for c in rec.shortlist] + [e.team_id for e in rec.excluded]
    assert sorted(ids) == sorted(t.id for t in reg.teams)


def test_eta_distance_and_minutes_are_reported(changshan, estimate):
    teams = [team("A", "township", offset(TIANMA, 3000), township="CS01")]
    c = run(decision("township", "CS01"), teams, estimate).shortlist[0]
    expected_m = 3000 * changshan.travel_estimate.circuity
    assert c.metres == pytest.approx(expected_m, rel=0.01)
    assert c.eta_s == pytest.approx(expected_m / (changshan.travel_estimate.speed_kmh / 3.6),
                                    rel=0.01)
    assert c.eta_min == pytest.approx(c.eta_s / 60)


# -- where teams start from ------------------------------------------------------------------


def live(t: Team, lon_lat: tuple[float, float], age: timedelta) -> TeamState:
    return TeamState(t, "on_duty", Position(lon_lat[0], lon_lat[1], AT - age))


def test_fresh_live_position_is_used(estimate):
    t = team("A", "township", offset(TIANMA, 9000), township="CS01")
    c = run(decision("township", "CS01"), [live(t, offset(TIANMA, 500), timedelta(minutes=4))],
            estimate).shortlist[0]
    assert c.position_source == "live" and c.position_age_s == 240
    assert c.metres < 1000
    assert "position.live" in c.reason_codes


def test_stale_position_falls_back_to_base(estimate):
    t = team("A", "township", offset(TIANMA, 9000), township="CS01")
    state = live(t, offset(TIANMA, 500), timedelta(minutes=16))
    c = run(decision("township", "CS01"), [state], estimate).shortlist[0]
    assert c.position_source == "base"
    assert (c.position_lon, c.position_lat) == (t.base_lon, t.base_lat)
    assert c.position_age_s == 16 * 60
    assert c.metres > 9000
    stale = next(r for r in c.reasons if r.code == "position.stale")
    assert "16 min old" in stale.en and "limit 15 min" in stale.en
    # A longer staleness limit keeps the same report.
    kept = run(decision("township", "CS01"), [state], estimate,
               staleness=timedelta(minutes=30)).shortlist[0]
    assert kept.position_source == "live"


def test_position_reported_after_the_incident_is_not_used(estimate):
    t = team("A", "township", offset(TIANMA, 9000), township="CS01")
    state = live(t, offset(TIANMA, 500), -timedelta(minutes=5))
    c = run(decision("township", "CS01"), [state], estimate).shortlist[0]
    assert c.position_source == "base" and "position.after_incident" in c.reason_codes


def test_registry_positions_feed_the_recommendation(changshan, estimate):
    reg = TeamRegistry([team("A", "township", offset(TIANMA, 9000), township="CS01")],
                       changshan, clock=lambda: AT)
    reg.update_position("A", *offset(TIANMA, 300), AT - timedelta(minutes=2))
    c = run(decision("township", "CS01"), reg, estimate).shortlist[0]
    assert c.position_source == "live" and c.metres < 500


# -- where the travel times come from --------------------------------------------------------


def test_estimate_source_is_reported(estimate):
    teams = [team("A", "township", offset(TIANMA, 2000), township="CS01")]
    rec = run(decision("township", "CS01"), teams, estimate)
    assert rec.eta_source == "estimate" and rec.shortlist[0].eta_source == "estimate"
    assert "eta.estimate" in rec.shortlist[0].reason_codes


def one_way_road(a: tuple[float, float], b: tuple[float, float]) -> RoadNetwork:
    """A single one-way road from ``a`` to ``b`` (10 m/s)."""
    lon = np.array([a[0], b[0]])
    lat = np.array([a[1], b[1]])
    x, y = to_metric(lon, lat, 32650)
    length = float(np.hypot(x[1] - x[0], y[1] - y[0]))
    return RoadNetwork.from_edges(node_id=np.array([0, 1]), lon=lon, lat=lat,
                                  edge_u=np.array([0]), edge_v=np.array([1]),
                                  length_m=np.array([length]), time_s=np.array([length / 10]),
                                  epsg=32650)


def test_road_source_is_reported_and_unreachable_team_is_excluded():
    a, b = TIANMA, offset(TIANMA, 4000)
    road = RoadTravelTimes(one_way_road(a, b))
    incident = offset(TIANMA, 2000)  # on the road, half way
    teams = [team("upstream", "township", a, township="CS01"),
             team("downstream", "township", offset(TIANMA, 3500), township="CS01")]
    rec = recommend(decision("township", "CS01"), *incident, AT, teams, {}, road)
    assert [c.team_id for c in rec.shortlist] == ["upstream"]
    assert rec.shortlist[0].eta_source == "road" and rec.eta_source == "road"
    assert rec.shortlist[0].eta_s == pytest.approx(200, rel=0.01)
    assert "eta.road" in rec.shortlist[0].reason_codes
    assert rec.excluded_for("downstream").reason_codes[0] == "route.unreachable"


def test_one_matrix_call_covers_every_candidate(changshan, estimate):
    counting = Counting(estimate)
    reg = TeamRegistry(bundled_teams(changshan), changshan)
    rec = recommend(decision("department", "scjg"), *TIANMA, AT, reg, {}, counting)
    assert counting.calls == [(2, 1)]  # 县市场监管局 brigade and the city-level team
    assert len(rec.shortlist) == 2


# -- the answer object -----------------------------------------------------------------------


def test_recommendation_is_immutable_and_serialisable(estimate):
    teams = [team("A", "township", offset(TIANMA, 2000), township="CS01"),
             team("B", "township", TIANMA, township="CS01", duty="off_duty")]
    rec = run(decision("township", "CS01"), teams, estimate, loads={"A": 2})
    with pytest.raises(AttributeError):
        rec.shortlist = ()  # type: ignore[misc]
    doc = json.loads(json.dumps(rec.as_dict(), ensure_ascii=False))
    first = doc["shortlist"][0]
    assert first["team_id"] == "A" and first["load"] == 2
    assert first["eta_min"] == pytest.approx(first["eta_s"] / 60, abs=0.1)
    assert first["position"]["source"] == "base"
    assert {r["code"] for r in first["reasons"]} >= {"competent.township", "certificate.valid",
                                                     "eta.estimate", "load.open_tickets"}
    assert all(r["zh"] and r["en"] for r in first["reasons"])
    assert doc["excluded"][0]["reasons"][0]["code"] == "duty.off_duty"


def test_bad_load_and_bad_incident_point_are_refused(estimate):
    teams = [team("A", "township", TIANMA, township="CS01")]
    with pytest.raises(ValueError, match=r"loads\['A'\]"):
        run(decision("township", "CS01"), teams, estimate, loads={"A": -1})
    with pytest.raises(ValueError, match="incident_lat"):
        run(decision("township", "CS01"), teams, estimate, where=(118.5, 95.0))
    with pytest.raises(ValueError, match="limit"):
        run(decision("township", "CS01"), teams, estimate, limit=0)


# -- with the sample catalogue and teams -----------------------------------------------------


@pytest.fixture(scope="module")
def competence(changshan: District) -> Competence:
    return Competence(load_catalog(bundled_catalog_path(), changshan))


@pytest.fixture(scope="module")
def sample_registry(changshan: District) -> TeamRegistry:
    return TeamRegistry(bundled_teams(changshan), changshan)


def test_sample_incident_in_radiated_township_goes_to_hub_team(competence, sample_registry,
                                                               estimate):
    d = competence.decide("AQ002", "何家乡", AT)
    assert d.kind == "hub_team"
    rec = recommend(d, *HEJIA, AT, sample_registry, {}, estimate)
    assert [c.team_id for c in rec.shortlist] == ["CS04-zfd"]


def test_sample_emergency_case_has_no_certified_officer_after_expiry(competence,
                                                                     sample_registry,
                                                                     estimate):
    d = competence.decide("AQ001", "天马街道", AT)
    assert (d.kind, d.holder) == ("department", "yjj")
    rec = recommend(d, *TIANMA, AT, sample_registry, {}, estimate)
    assert rec.shortlist == ()
    assert rec.excluded_for("dept-yjj").reason_codes == ("certificate.none_valid",)
    before = recommend(d, *TIANMA, datetime(2024, 3, 31, 16, 0), sample_registry, {}, estimate)
    assert [c.team_id for c in before.shortlist] == ["dept-yjj"]


# -- many incidents at once ------------------------------------------------------------------


def random_incidents(district: District, n: int, seed: int) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = district.bounds
    lon = rng.uniform(minx, maxx, n * 3)
    lat = rng.uniform(miny, maxy, n * 3)
    town = Locator(district).township_index(lon, lat)
    keep = np.flatnonzero(town >= 0)[:n]
    return lon[keep], lat[keep], town[keep]


def test_batch_matches_single(changshan, competence, sample_registry, estimate):
    lon, lat, town = random_incidents(changshan, 150, seed=7)
    matters = ["AQ002", "AQ001", "GS002", "GH001", "JT003", "WL001", "SZ008", "HJ002"]
    days = [datetime(2024, 3, 20, 10), AT, datetime(2025, 8, 1, 15)]
    decisions, times = [], []
    for i in range(len(lon)):
        at = days[i % len(days)]
        decisions.append(competence.decide(matters[i % len(matters)],
                                           changshan.townships[town[i]].code, at))
        times.append(at)
    loads = {"CS04-zfd": 3, "dept-scjg": 1}
    counting = Counting(estimate)
    batch = recommend_batch(decisions, lon, lat, times, sample_registry, counting, loads=loads)
    assert len(counting.calls) == 1
    assert counting.calls[0][1] == len(lon)
    picked = 0
    for i, d in enumerate(decisions):
        single = recommend(d, lon[i], lat[i], times[i], sample_registry, loads, estimate)
        best = single.best
        assert batch.best_team(i) == (best.team_id if best else None), i
        if best:
            picked += 1
            assert batch.seconds[i] == pytest.approx(best.eta_s)
            assert batch.metres[i] == pytest.approx(best.metres)
        else:
            assert not np.isfinite(batch.seconds[i])
        assert int(batch.eligible[i].sum()) == len(single.shortlist) + sum(
            e.reason_codes == ("rank.beyond_limit",) for e in single.excluded)
    assert 0 < picked < len(decisions)  # some incidents have nobody (platform office, yjj)


def test_batch_breaks_ties_like_single(estimate):
    near = offset(TIANMA, 1000)
    teams = [team("far", "township", offset(TIANMA, 6000), township="CS01"),
             team("near_busy", "township", near, township="CS01"),
             team("near_idle", "township", offset(near, 20), township="CS01")]
    loads = {"near_busy": 4, "near_idle": 1}
    d = decision("township", "CS01")
    batch = recommend_batch([d, d], [TIANMA[0]] * 2, [TIANMA[1]] * 2, [AT, AT], teams,
                            estimate, loads=loads)
    assert [batch.best_team(0), batch.best_team(1)] == ["near_idle", "near_idle"]
    exact = recommend_batch([d], [TIANMA[0]], [TIANMA[1]], [AT], teams, estimate, loads=loads,
                            tie_window_s=0)
    assert exact.best_team(0) == "near_busy"


def test_batch_replay_can_ignore_todays_duty_status(estimate):
    teams = [team("A", "township", TIANMA, township="CS01", duty="off_duty")]
    d = decision("township", "CS01")
    args = ([d], [TIANMA[0]], [TIANMA[1]], [AT], teams, estimate)
    assert recommend_batch(*args).best_team(0) is None
    assert recommend_batch(*args, use_duty_status=False).best_team(0) == "A"


def test_batch_checks_certificates_on_each_incidents_day(estimate):
    teams = [team("A", "township", TIANMA, township="CS01",
                  members=(officer("x", "2022-01-01", "2024-03-31"),))]
    d = decision("township", "CS01")
    batch = recommend_batch([d, d], [TIANMA[0]] * 2, [TIANMA[1]] * 2,
                            [datetime(2024, 3, 31, 23), datetime(2024, 4, 1, 8)], teams,
                            estimate)
    assert [batch.best_team(0), batch.best_team(1)] == ["A", None]
    assert list(batch.best) == [0, -1]
    rows = batch.as_rows()
    assert rows[1] == {"team_id": None, "eta_s": None, "metres": None,
                       "eta_source": "estimate", "eligible": 0}


def test_batch_refuses_arrays_of_different_lengths(estimate):
    with pytest.raises(ValueError, match="equally long"):
        recommend_batch([decision("township", "CS01")], [1.0, 2.0], [3.0], [AT], [], estimate)
