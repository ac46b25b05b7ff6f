# forlop: slim Python image, same install as the README, runs as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY adapter ./adapter
COPY profiles ./profiles
COPY mappings ./mappings
COPY fixtures ./fixtures
RUN pip install . \
    && useradd --create-home --uid 10001 forlop \
    && mkdir -p /data && chown forlop /data

USER forlop
WORKDIR /data
# For `forlop serve --host 0.0.0.0 --port 8080`: liveness from inside the container, no proxies.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["forlop"]
CMD ["--help"]
