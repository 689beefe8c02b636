from orchestra.cli.main import app

app(prog_name="orchestra")
