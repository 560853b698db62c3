"""Impressions in the `impressions` table, and the feedback report computed by SQL alone.

The `impressions` table (migration 3) holds one row per served list, the items and their
reason kinds as JSON arrays in position order. `report` joins the event log to it with the
rules of the online join (`attune.feedback`), so both give the same counts for the same data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from attune.ports import ArmCounts, FeedbackCounts, Impression, LoggedEvent, OutcomeRules
from attune.stores.sqlite.database import Database

_DEFINITION_KEY = "feedback_definition"

# Every shown item (one row per list position), and the events joined to one: same list and
# item, same user (or a list whose user was unknown), inside the attribution window.
_JOINED = """
WITH shown AS (
    SELECT i.recommendation_id AS rid, i.user_idx AS user_idx, i.ts AS ts,
           i.model_version AS version, i.experiment AS experiment, i.arm AS arm,
           CAST(j.value AS INTEGER) AS item,
           json_extract(i.reasons, '$[' || j.key || ']') AS reason
    FROM impressions AS i, json_each(i.items) AS j
),
hits AS (
    SELECT e.seq AS seq, s.rid AS rid, s.item AS item, s.version AS version,
           s.reason AS reason, s.experiment AS experiment, s.arm AS arm,
           {click} AS click, {conversion} AS conversion
    FROM events AS e JOIN shown AS s
      ON s.rid = e.recommendation_id AND s.item = e.item_idx
    WHERE e.recommendation_id IS NOT NULL
      AND (s.user_idx IS NULL OR s.user_idx = e.user_idx)
      AND e.ts <= s.ts + :window
)
"""

# Events naming no list on an item their user was shown at most the window before: from the
# lists (fewer than events) to each one's user's events, by the index on (user_idx, seq).
_UNTAGGED = """
SELECT COUNT(DISTINCT e.seq)
FROM impressions AS i, json_each(i.items) AS j
JOIN events AS e ON e.user_idx = i.user_idx AND e.item_idx = CAST(j.value AS INTEGER)
WHERE i.user_idx IS NOT NULL AND e.recommendation_id IS NULL
  AND e.ts >= i.ts AND e.ts <= i.ts + :window
"""


def _predicate(codes: frozenset[int], ratings: frozenset[int]) -> str:
    """SQL truth of `Outcomes.is_click`/`is_conversion` over `e` (codes are integers)."""
    plain = sorted(codes - ratings)
    rated = sorted(codes & ratings)
    terms = ["0"]
    if plain:
        terms.append(f"e.event_type IN ({', '.join(map(str, plain))})")
    if rated:
        terms.append(
            f"(e.event_type IN ({', '.join(map(str, rated))}) "
            "AND (e.value IS NULL OR e.value >= :threshold))"
        )
    return "(" + " OR ".join(terms) + ")"


class SQLiteImpressions:
    """`ImpressionLog` in one `Database`."""

    def __init__(self, database: Database) -> None:
        self._d = database

    def write(self, impressions: Sequence[Impression], adopted: Mapping[str, int]) -> None:
        rows = [
            (
                i.recommendation_id,
                i.user,
                i.ts,
                i.model_version,
                i.source,
                json.dumps(i.items, separators=(",", ":")),
                json.dumps(i.reasons, separators=(",", ":")),
                i.experiment,
                i.arm,
            )
            for i in impressions
        ]
        with self._d.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO impressions (recommendation_id, user_idx, ts, "
                "model_version, source, items, reasons, experiment, arm) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.executemany(
                "UPDATE impressions SET user_idx=? WHERE recommendation_id=? AND user_idx IS NULL",
                [(user, rid) for rid, user in adopted.items()],
            )

    def get(self, recommendation_id: str) -> Impression | None:
        row = self._d.db.execute(
            "SELECT user_idx, ts, model_version, source, items, reasons, experiment, arm "
            "FROM impressions "
            "WHERE recommendation_id=?",
            (recommendation_id,),
        ).fetchone()
        if row is None:
            return None
        user, ts, version, source, items, reasons, experiment, arm = row
        return Impression(
            recommendation_id,
            None if user is None else int(user),
            float(ts),
            int(version),
            str(source),
            tuple(int(i) for i in json.loads(items)),
            tuple(str(r) for r in json.loads(reasons)),
            str(experiment),
            str(arm),
        )

    def events_before(self, recommendation_id: str, seq: int) -> list[LoggedEvent]:
        rows = self._d.db.execute(
            "SELECT seq, user_idx, item_idx, event_type, ts, COALESCE(value, 'NaN') FROM events "
            "WHERE recommendation_id=? AND seq<? ORDER BY seq",
            (recommendation_id, seq),
        ).fetchall()
        return [
            LoggedEvent(int(s), int(u), int(i), int(t), float(ts), float(v), recommendation_id)
            for s, u, i, t, ts, v in rows
        ]

    def count(self, user: int | None = None) -> int:
        """Stored impressions (of one user)."""
        if user is None:
            row = self._d.db.execute("SELECT COUNT(*) FROM impressions").fetchone()
        else:
            row = self._d.db.execute(
                "SELECT COUNT(*) FROM impressions WHERE user_idx=?", (user,)
            ).fetchone()
        return int(row[0])

    def delete_before(self, ts: float) -> int:
        """Delete the lists served before `ts` (seconds since the epoch); returns how many.

        Events that name a deleted list stay in the log and count as unattributed from then
        on, in the report and in a running server's join alike.
        """
        with self._d.transaction() as db:
            return int(db.execute("DELETE FROM impressions WHERE ts < ?", (ts,)).rowcount)

    def erase_user(self, user: int) -> int:
        """Delete a user's lists (inside the caller's transaction when there is one)."""
        return int(self._d.db.execute("DELETE FROM impressions WHERE user_idx=?", (user,)).rowcount)

    def save_definition(self, definition: Mapping[str, Any]) -> None:
        if self.definition() == dict(definition):
            return
        with self._d.transaction():
            self._d.set_meta(_DEFINITION_KEY, json.dumps(dict(definition), sort_keys=True))

    def definition(self) -> dict[str, Any] | None:
        """The definition the engine last used on this database (None: never opened)."""
        raw = self._d.get_meta(_DEFINITION_KEY)
        return None if raw is None else dict(json.loads(raw))

    def report(self, outcomes: OutcomeRules) -> FeedbackCounts:
        """Lists, shown items, clicks and conversions per model version and reason, and the
        unattributed events, by one pass of SQL over the stored impressions and events."""
        db = self._d.db
        params: dict[str, Any] = {
            "window": outcomes.window_s,
            "threshold": outcomes.rating_threshold,
        }
        joined = _JOINED.format(
            click=_predicate(outcomes.clicks, outcomes.ratings),
            conversion=_predicate(outcomes.conversions, outcomes.ratings),
        )
        tally = FeedbackCounts()
        for version, n in db.execute(
            "SELECT model_version, COUNT(*) FROM impressions GROUP BY model_version"
        ):
            tally.lists[int(version)] = int(n)
        for version, reason, items in db.execute(
            joined + "SELECT version, reason, COUNT(*) FROM shown GROUP BY version, reason",
            params,
        ):
            tally.shown[(int(version), str(reason))] = int(items)
        # Each list item counts once however many events it drew.
        for version, reason, clicks, conversions in db.execute(
            joined + "SELECT version, reason, SUM(click), SUM(conversion) FROM ("
            "SELECT version, reason, MAX(click) AS click, MAX(conversion) AS conversion "
            "FROM hits GROUP BY rid, item) GROUP BY version, reason",
            params,
        ):
            tally.reacted[(int(version), str(reason))] = (int(clicks), int(conversions))
        (tally.unattributed,) = db.execute(
            joined + "SELECT COUNT(*) FROM events WHERE recommendation_id IS NOT NULL "
            "AND seq NOT IN (SELECT seq FROM hits)",
            params,
        ).fetchone()
        (tally.untagged,) = db.execute(_UNTAGGED, params).fetchone()
        _count_arms(db, joined, params, tally)
        return tally


def _count_arms(db: Any, joined: str, params: dict[str, Any], tally: FeedbackCounts) -> None:
    """Lists, shown items and reactions per (experiment, arm) of the experiments' lists."""
    for experiment, arm, lists, items in db.execute(
        "SELECT experiment, arm, COUNT(*), SUM(json_array_length(items)) FROM impressions "
        "WHERE experiment != '' GROUP BY experiment, arm"
    ):
        tally.arms[(str(experiment), str(arm))] = ArmCounts(int(lists), int(items or 0))
    for experiment, arm, clicks, conversions in db.execute(
        joined + "SELECT experiment, arm, SUM(click), SUM(conversion) FROM ("
        "SELECT experiment, arm, MAX(click) AS click, MAX(conversion) AS conversion "
        "FROM hits WHERE experiment != '' GROUP BY rid, item) GROUP BY experiment, arm",
        params,
    ):
        counts = tally.arms.setdefault((str(experiment), str(arm)), ArmCounts())
        counts.clicks, counts.conversions = int(clicks), int(conversions)
