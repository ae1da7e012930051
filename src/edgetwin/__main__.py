from edgetwin.cli import app

app(prog_name="edgetwin")
