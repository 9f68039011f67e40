"""``resnet-inspect archs``: every name ``--arch`` and ``compare`` take, by family, with its source and knobs."""

from __future__ import annotations

import itertools

from resnet_inspect.cli.app import command


@command
def archs() -> None:
    from rich.table import Table

    from resnet_inspect.analysis.estimate import estimate
    from resnet_inspect.model.family import MEMBERS
    from resnet_inspect.output.render import make_console

    console = make_console()
    for family, members in itertools.groupby(MEMBERS.values(), key=lambda m: m.family):
        members = list(members)
        table = Table(title=f"{family}: {members[0].source}", title_justify="left", box=None, pad_edge=False)
        table.add_column("name", no_wrap=True)
        table.add_column("params", justify="right", no_wrap=True)
        table.add_column("what defines it (version, blocks, knobs)")
        for member in members:
            # the recorder's count: Keras count_params(), BN moving statistics included
            table.add_row(member.name, f"{estimate(member.spec).params:,}", member.knobs)
        console.print(table)
        console.print()
    console.print(
        "params: Keras count_params() of the built network (BN moving mean and variance included). "
        "Options given with --arch change the network; its name then ends in -custom."
    )
