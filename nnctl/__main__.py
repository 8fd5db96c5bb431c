from nnctl.cli import main

main()
