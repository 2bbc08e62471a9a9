from fastagentic.cli.main import main

main()
