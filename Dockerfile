# alerter: the cost-anomaly alerting daemon.
#
#   docker build -t alerter .
#   docker run -d --name alerter --stop-timeout 30 \
#     -v /srv/alerter/config:/etc/alerter:ro -v alerter-state:/var/lib/alerter \
#     -e METRONOME_BEARER_TOKEN -e SLACK_BOT_TOKEN -p 127.0.0.1:9108:9108 alerter
#
# /etc/alerter holds config.toml and the rule files it names (read-only is fine);
# the state (SQLite) lives on the /var/lib/alerter volume. See "Running the daemon" in README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /src
COPY pyproject.toml README.md ./
COPY alerter ./alerter
RUN pip install . && rm -rf /src

RUN groupadd --system --gid 10001 alerter \
 && useradd --system --uid 10001 --gid alerter --home-dir /var/lib/alerter --shell /usr/sbin/nologin alerter \
 && mkdir -p /etc/alerter /var/lib/alerter \
 && chown alerter:alerter /var/lib/alerter

# State on the volume whatever the mounted config says; /metrics reachable from outside
# the container (publish the port only where Prometheus can reach it).
ENV ALERTER_ALERTER__STATE=/var/lib/alerter/state.db \
    ALERTER_ALERTER__HTTP__HOST=0.0.0.0 \
    ALERTER_ALERTER__HTTP__PORT=9108

USER alerter
WORKDIR /var/lib/alerter
VOLUME ["/var/lib/alerter"]
EXPOSE 9108

# No curl in slim images: probe /healthz with the standard library (503 -> exit 1).
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ALERTER_ALERTER__HTTP__PORT', '9108'), timeout=8)"]

# SIGTERM: finish the cycle in flight (up to 20 s), deliver what is due, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["alerter"]
CMD ["run", "--config", "/etc/alerter/config.toml"]
