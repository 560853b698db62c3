"""A fine-tuning candidate's starting point: the parent's weights in a model over the store's
items, which are a superset of the parent's.

Items the parent never saw get an embedding row near zero, so their vector starts from their
attributes (the attribute part dominates); new attribute tokens get rows as well.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from attune.data.dataset import AttributeTable
from attune.data.vocab import Vocabulary
from attune.model.encoder import InterestEncoder
from attune.training.checkpoint import LoadedModel


def grow_vocabulary(
    parent: LoadedModel,
    items: Vocabulary,
    item_attributes: AttributeTable,
) -> LoadedModel:
    """The parent's weights in a model whose items are the store's (a superset), with rows for
    new items and new attribute tokens."""
    pcfg = parent.encoder_config
    items = Vocabulary(items.ids)
    tokens = Vocabulary(parent.item_attributes.tokens.ids)
    rows = [item_attributes.tokens_of(i) for i in range(len(items))]
    table = AttributeTable.from_rows(rows, tokens=tokens, fields=item_attributes.fields)
    cfg = dataclasses.replace(
        pcfg,
        n_items=len(items),
        n_item_tokens=len(tokens) if pcfg.n_item_tokens else 0,
    )
    encoder = InterestEncoder(cfg, (table.indptr, table.indices) if cfg.n_item_tokens else None)
    state = parent.encoder.state_dict()
    new_state = encoder.state_dict()
    old_rows = np.array([items.index(x) + 1 for x in parent.items.ids], np.int64)
    with torch.no_grad():
        for name, value in state.items():
            if name == "item_emb.weight":
                grown = new_state[name].clone() * 0.1  # new items: attributes dominate
                grown[0] = 0.0
                grown[torch.from_numpy(old_rows)] = value[1:].to(grown.device)
                new_state[name] = grown
            elif name == "item_token_emb.weight" and cfg.n_item_tokens:
                grown = new_state[name].clone()
                grown[: len(value)] = value.to(grown.device)
                new_state[name] = grown
            else:
                new_state[name] = value
    encoder.load_state_dict(new_state)
    encoder.to(parent.encoder.item_emb.weight.device)
    return LoadedModel(
        encoder,
        cfg,
        parent.train_config,
        items,
        Vocabulary(),  # a fine-tuned version keeps no list of user ids (nothing reads it)
        table,
        parent.user_attributes,
        parent.event_types,
        {},
    )


__all__ = ["grow_vocabulary"]
