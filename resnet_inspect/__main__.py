from resnet_inspect.cli import main

main()
