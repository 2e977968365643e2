"""dcgan.labels: label streams, a user's requests, and the checkpoint record read as untrusted input."""

from __future__ import annotations

import pytest
import torch

from dcgan.errors import CheckpointError, DcganError
from dcgan.labels import Condition

CLASSES = Condition("class", ("T-shirt/top", "Ankle boot", "Bag"), (5, 3, 2), (), "a" * 64)
ATTRS = Condition("attributes", ("Smiling", "Male", "Eyeglasses"), (6, 3, 1), ("++-", "-+-", "+-+"), "b" * 64)


@pytest.mark.parametrize("condition", [CLASSES, ATTRS], ids=["classes", "attributes"])
def test_default_labels_do_not_depend_on_how_the_stream_is_cut(condition: Condition) -> None:
    whole = condition.default_labels(600, seed=4)
    stream = condition.stream(4)
    parts = torch.cat([stream.take(n) for n in (1, 255, 7, 337)])
    assert torch.equal(whole, parts)
    assert not torch.equal(whole, condition.default_labels(600, seed=5)) or condition.kind == "class"


def test_classes_take_turns_and_attributes_follow_the_data() -> None:
    assert CLASSES.default_labels(7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    rows = ATTRS.default_labels(3000, seed=0)
    share = {
        key: float((rows == torch.tensor(ATTRS.row_array()[i])).all(1).float().mean())
        for i, key in enumerate(ATTRS.rows)
    }
    assert share == pytest.approx({"++-": 0.6, "-+-": 0.3, "+-+": 0.1}, abs=0.03)


def test_requests_by_name_index_and_attributes() -> None:
    assert CLASSES.labels_for("ankle BOOT", num=2).tolist() == [1, 1]
    assert CLASSES.labels_for(2, num=1).tolist() == [2]
    with pytest.raises(DcganError, match=r"no such class; choose a name or index: 0 'T-shirt/top', 1 'Ankle boot'"):
        CLASSES.labels_for("boot")
    y = ATTRS.labels_for(attributes="smiling=1", num=200, seed=1)
    assert (y[:, 0] == 1).all()
    # Unspecified attributes come from the rows that agree: only ++- and +-+ have Smiling.
    assert set(map(tuple, y.tolist())) <= {(1.0, 1.0, -1.0), (1.0, -1.0, 1.0)}
    assert (ATTRS.labels_for(attributes={"Eyeglasses": 0, "Male": 1}, num=5)[:, 1:] == torch.tensor([1.0, -1.0])).all()
    with pytest.raises(DcganError, match="unknown attribute 'Smile'; this model has Smiling, Male, Eyeglasses"):
        ATTRS.labels_for(attributes="Smile=1")
    with pytest.raises(DcganError, match="must be 1 .present. or 0"):
        ATTRS.labels_for(attributes="Smiling=maybe")


def test_the_checkpoint_record_round_trips_and_damage_is_one_line() -> None:
    for condition in (CLASSES, ATTRS):
        assert Condition.from_meta(condition.to_meta(), "ck") == condition
    damaged = [
        None,
        [],
        {**CLASSES.to_meta(), "kind": "colour"},
        {**CLASSES.to_meta(), "names": []},
        {**CLASSES.to_meta(), "counts": [1, 2]},
        {**CLASSES.to_meta(), "counts": [1, -2, 3]},
        {**CLASSES.to_meta(), "counts": [0, 0, 0]},
        {**CLASSES.to_meta(), "sha256": 5},
        {**ATTRS.to_meta(), "rows": ["++", "-+-", "+-+"]},
        {**ATTRS.to_meta(), "rows": ["+x-", "-+-", "+-+"]},
    ]
    for meta in damaged:
        with pytest.raises(CheckpointError, match=r"^ck: damaged checkpoint metadata \(extra.labels"):
            Condition.from_meta(meta, "ck")
