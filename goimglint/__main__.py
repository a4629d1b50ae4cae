from goimglint.main import main

main()
