"""`python -m lotline.application ...` runs the `lotline` command (for environments without the script)."""

from lotline.application.cli import run

# Guarded: the relay's message builder (a spawned process) imports this module again.
if __name__ == "__main__":
    run()
