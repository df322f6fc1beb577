from wsctl.cli.main import main

main()
