# roverbot: a small image that runs `roverbot run` as a non-root user, state on a volume.
#   docker build -t roverbot .
#   docker run -d -e DISCORD_TOKEN=... -v roverbot-data:/data roverbot
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY docker/install.sh ./docker/install.sh
# Dependencies come from pyproject.toml, through the same script CI runs.
RUN sh docker/install.sh /opt/roverbot /src

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin roverbot \
    && mkdir -p /data && chown roverbot:roverbot /data
COPY --from=build /opt/roverbot /opt/roverbot
ENV PATH=/opt/roverbot/bin:$PATH \
    PYTHONUNBUFFERED=1
# The database (storage.database defaults to roverbot.sqlite3 in the working directory) and an
# optional config.toml live on the volume.
WORKDIR /data
VOLUME ["/data"]
USER roverbot
# Healthy while the running bot's scheduler has checked in within the last five minutes.
HEALTHCHECK --interval=60s --timeout=10s --start-period=90s --retries=3 CMD ["roverbot", "status", "--check"]
ENTRYPOINT ["roverbot"]
CMD ["run"]
