"""The private Ray attributes the search still uses (``tune_mnist.tuning.ray_private``) exist in the
installed Ray: an upgrade that removes one fails here, naming it and what breaks without it."""

from __future__ import annotations

from tune_mnist.tuning.ray_private import PRIVATE_USES, missing_private_uses


def test_every_private_ray_use_still_exists():
    missing = missing_private_uses()
    assert not missing, "Ray changed under tune_mnist.tuning.ray_private:\n" + "\n".join(missing)


def test_a_removed_private_use_is_named_with_what_breaks():
    class Upgraded:  # a Ray class without the attribute
        pass

    uses = [(Upgraded, "_generate_dirname", "what breaks")]
    lines = missing_private_uses(uses)
    assert lines == ["Upgraded._generate_dirname is gone from this Ray: what breaks"]
    assert len(PRIVATE_USES) <= 8
