from ganeval.cli import main

main()
