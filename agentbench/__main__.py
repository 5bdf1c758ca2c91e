from agentbench.cli import app

app()
