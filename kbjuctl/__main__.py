from kbjuctl.main import main

main()
