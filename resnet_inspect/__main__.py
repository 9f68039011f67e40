"""``python -m resnet_inspect``: the console script, :func:`resnet_inspect.cli.main`."""

from resnet_inspect.cli import main

main()
