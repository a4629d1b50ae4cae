from goimglint.cli import main

main()
