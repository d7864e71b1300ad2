"""A program with thousands of resources: the SDK's provider serialisation must not pile up."""

from __future__ import annotations

import pickle

from test_lookup_programs import run_with_mocks

import pulumi_libvirt as libvirt


def test_twelve_hundred_resources_in_one_program() -> None:
    """Each dynamic resource used to wrap pickle's _batch_setitems once more (the SDK never
    undoes it): the 980th resource of a process failed with RecursionError."""
    def program() -> None:
        for index in range(1200):
            libvirt.Pool(f"p{index}", name=f"p{index}", type="dir",
                         target={"path": f"/srv/p{index}"}, uri="test:///default")

    captured = run_with_mocks(program, {})
    assert len(captured.inputs) == 1200
    assert not pickle._Pickler._batch_setitems.__name__.startswith("batch_set_items_sorted")
