#!/bin/sh
# The one way roverbot is installed into an image. The Dockerfile runs it, and so does .ci/run
# (there is no Docker engine in CI), so a broken image build fails CI.
#   sh docker/install.sh PREFIX SOURCE
set -eu
PREFIX=${1:?usage: install.sh PREFIX SOURCE}
SOURCE=${2:-.}
python3 -m venv "$PREFIX"
# with the PostgreSQL driver: one image serves the single container (SQLite) and compose.yaml
"$PREFIX/bin/pip" install --no-cache-dir --quiet "$SOURCE[postgresql]"
# Smoke: the entry point starts and every module imports with only the declared dependencies.
"$PREFIX/bin/roverbot" --help >/dev/null
"$PREFIX/bin/python" -c "import bot.chat.app, bot.posting.schedule, bot.store.postgres, cogs.gallery, cogs.milestones, cogs.subscriptions"
"$PREFIX/bin/roverbot" preview "/now" --at 2021-02-21T12:00:00Z >/dev/null
echo "roverbot installed in $PREFIX"
