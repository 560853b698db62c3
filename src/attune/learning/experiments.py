"""Online A/B tests of registered versions, and the promotion gate that can require one to
have been won.

An experiment lives beside the registry's current-version pointer (`registry.json`, or the
deployment's pointer on a shared store), so every server follows it the way it follows a
promotion (`attune.server.model_watch`). Promoting or rolling back stops it: its control is
no longer what serves. Its counts stay in the impression log, so a stopped experiment can
still be compared.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from attune.feedback import FeedbackConfig, Outcomes, compare
from attune.learning.registry import ModelRegistry, RegistryError, stop_experiment
from attune.log import get_logger
from attune.ports import ArmCounts, Storage, StorageError
from attune.schemas.experiments import Comparison, Experiment

_log = get_logger(__name__)

PromotionReason = Literal["manual", "erasure"]
"""Why a version is promoted. `erasure`: it was retrained without erased users' data (a
privacy obligation), which no online test may hold back."""


class OnlineGateError(RegistryError):
    """A promotion that requires a significant online win was asked for a version without
    one."""


def current_experiment(registry: ModelRegistry) -> Experiment | None:
    """The registry's latest experiment, running or stopped."""
    try:
        return registry.pointer.experiment()
    except StorageError as err:
        raise RegistryError(str(err)) from err


def start_experiment(registry: ModelRegistry, challenger: int, share: float) -> Experiment:
    """Test `challenger` against the current version on `share` of the users, in place of
    any experiment running; the challenger is checked to load first."""
    if not 0.0 <= share <= 1.0:
        raise RegistryError(f"share must be between 0 and 1, got {share}")
    registry.load_members(challenger)
    with registry._locked():
        current = registry.current()
        if current is None:
            raise RegistryError("the registry has no current version to test against")
        if current == challenger:
            raise RegistryError(f"version {challenger} is the current version already")
        experiment = Experiment(
            id=uuid.uuid4().hex[:12],
            control=current,
            challenger=challenger,
            share=share,
            started=datetime.now(UTC),
        )
        _set(registry, experiment)
    _log.info("experiment started", experiment=experiment.id, control=current, share=share)
    return experiment


def end_experiment(registry: ModelRegistry) -> Experiment | None:
    """Stop the running experiment; the stopped one, or None when none was running."""
    with registry._locked():
        try:
            stopped = stop_experiment(registry.pointer)
        except StorageError as err:
            raise RegistryError(str(err)) from err
    if stopped is not None:
        _log.info("experiment stopped", experiment=stopped.id)
    return stopped


def arm_counts(store: Storage) -> dict[tuple[str, str], ArmCounts]:
    """Per (experiment, arm) counts of a deployment's impression log, joined to its events
    with the click and conversion types its engine last used."""
    definition = FeedbackConfig.model_validate(store.impressions.definition() or {})
    outcomes = Outcomes.resolve(definition, store.event_types())
    return store.impressions.report(outcomes).arms


def comparison(registry: ModelRegistry, store: Storage) -> Comparison:
    """The latest experiment's arms compared from `store`'s impression log."""
    experiment = current_experiment(registry)
    if experiment is None:
        raise RegistryError("no experiment has run on this registry")
    return compare(experiment, arm_counts(store))


def promote_version(
    registry: ModelRegistry,
    version: int,
    *,
    reason: PromotionReason = "manual",
    require_online_win: bool = False,
    store: Storage | None = None,
) -> Comparison | None:
    """Promote `version`; with `require_online_win`, only when the latest experiment tested
    it against the current version and it won on click-through (95%), read from `store`.
    An `erasure` promotion bypasses the requirement. Returns the comparison checked."""
    checked = None
    if require_online_win and reason != "erasure":
        if store is None:
            raise RegistryError("an online win is read from the deployment's store: give it")
        checked = _online_win(registry, version, store)
    elif require_online_win:
        _log.info("online win not required: erasure promotion", version=version)
    registry.promote(version)
    return checked


def _online_win(registry: ModelRegistry, version: int, store: Storage) -> Comparison:
    experiment = current_experiment(registry)
    current = registry.current()
    if experiment is None or experiment.challenger != version or experiment.control != current:
        raise OnlineGateError(
            f"version {version} has no online test against the current version {current}: "
            f"start one with `attune models ab start {version}`"
        )
    result = compare(experiment, arm_counts(store))
    if result.winner != "challenger":
        d = result.ctr
        raise OnlineGateError(
            f"version {version} has no significant online win over version {current}: "
            f"click-through difference {d.value:+.4f} (95% CI {d.low:+.4f} .. {d.high:+.4f}, "
            f"p = {d.p_value:.3g})"
        )
    return result


def _set(registry: ModelRegistry, experiment: Experiment) -> None:
    try:
        registry.pointer.set_experiment(experiment)
    except StorageError as err:
        raise RegistryError(str(err)) from err
