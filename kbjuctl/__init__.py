"""kbjuctl: the one command-line tool that operates the KBJU platform."""
