"""Pure list logic over internal item ids: filters, diversity, exploration, popularity."""

from attune.ranking.candidates import RankedItem, ReasonKind
from attune.ranking.catalogue import ItemCatalogue
from attune.ranking.diversity import DiversityConfig, attribute_groups, diversify
from attune.ranking.exploration import ExplorationConfig, exploration_positions
from attune.ranking.filters import (
    UNKNOWN_FIELD,
    CompiledFilter,
    FilterCache,
    FilterSpec,
    UserItems,
    compile_filter,
    unknown_rule_fields,
)
from attune.ranking.pipeline import RankContext, RankingConfig, rank
from attune.ranking.popularity import DecayedPopularity, PopularityConfig

__all__ = [
    "UNKNOWN_FIELD",
    "CompiledFilter",
    "DecayedPopularity",
    "DiversityConfig",
    "ExplorationConfig",
    "FilterCache",
    "FilterSpec",
    "ItemCatalogue",
    "PopularityConfig",
    "RankContext",
    "RankedItem",
    "RankingConfig",
    "ReasonKind",
    "UserItems",
    "attribute_groups",
    "compile_filter",
    "diversify",
    "exploration_positions",
    "rank",
    "unknown_rule_fields",
]
