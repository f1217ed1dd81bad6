from smokewatch.cli import run

run()
