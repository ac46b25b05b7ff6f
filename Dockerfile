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
ENTRYPOINT ["forlop"]
CMD ["--help"]
