from smokewatch.cli import app

app(prog_name="smokewatch")
