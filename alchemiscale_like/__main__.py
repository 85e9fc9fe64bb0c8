from alchemiscale_like.cli import main

main()
